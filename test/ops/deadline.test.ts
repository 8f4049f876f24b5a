// The one helper for bounded waits: the work's outcome when it comes in time, the fallback (a value
// or a rejection) when it does not, and no timer left behind either way. Time is moved by fake
// timers, so each case is decided by the order of events, not by how loaded the machine is.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { settleWithin, within } from '../../src/deadline.js';

/** A promise settled from outside, when the test says so. */
function pending<T>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: Error) => void } {
  let resolve!: (v: T) => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

beforeEach(() => {
  vi.useFakeTimers();
});

afterEach(() => {
  vi.useRealTimers();
});

describe('within', () => {
  it("gives the work's value when it comes before the deadline, and never calls late()", async () => {
    const work = pending<string>();
    const late = vi.fn(() => 'late');
    const result = within(work.promise, 1000, late);
    await vi.advanceTimersByTimeAsync(999);
    work.resolve('answer');
    await expect(result).resolves.toBe('answer');
    expect(vi.getTimerCount()).toBe(0);
    await vi.advanceTimersByTimeAsync(5000);
    expect(late).not.toHaveBeenCalled();
  });

  it("passes the work's own rejection through when it comes in time", async () => {
    const work = pending<string>();
    const late = vi.fn(() => 'late');
    const result = within(work.promise, 1000, late);
    work.reject(new Error('refused'));
    await expect(result).rejects.toThrow('refused');
    expect(vi.getTimerCount()).toBe(0);
    expect(late).not.toHaveBeenCalled();
  });

  it("gives late()'s value at the deadline; the work answering afterwards changes nothing", async () => {
    const work = pending<string>();
    const late = vi.fn(() => 'late');
    const result = within(work.promise, 1000, late);
    let settled = false;
    void result.then(() => (settled = true));
    await vi.advanceTimersByTimeAsync(999);
    expect(settled).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await expect(result).resolves.toBe('late');
    work.resolve('too late');
    await expect(result).resolves.toBe('late');
    expect(late).toHaveBeenCalledTimes(1);
  });

  it('rejects with what late() throws at the deadline', async () => {
    const work = pending<string>();
    const result = within(work.promise, 50, () => {
      throw new Error('no answer within 50 ms');
    });
    const caught = result.catch((err: unknown) => err);
    await vi.advanceTimersByTimeAsync(50);
    expect(await caught).toEqual(new Error('no answer within 50 ms'));
    // The work failing later is not an unhandled rejection: within() has handled it.
    work.reject(new Error('gone'));
    await vi.advanceTimersByTimeAsync(0);
  });

  it('treats a negative time as no time at all', async () => {
    const result = within(new Promise<string>(() => undefined), -5, () => 'late');
    await vi.advanceTimersByTimeAsync(0);
    await expect(result).resolves.toBe('late');
  });
});

describe('settleWithin', () => {
  it("says 'done' for work that fulfils or rejects in time", async () => {
    const ok = pending<number>();
    const failed = pending<number>();
    const a = settleWithin(ok.promise, 100);
    const b = settleWithin(failed.promise, 100);
    ok.resolve(1);
    failed.reject(new Error('boom'));
    await expect(a).resolves.toBe('done');
    await expect(b).resolves.toBe('done');
    expect(vi.getTimerCount()).toBe(0);
  });

  it("says 'timeout' for work that has not settled by the deadline", async () => {
    const result = settleWithin(new Promise(() => undefined), 100);
    await vi.advanceTimersByTimeAsync(100);
    await expect(result).resolves.toBe('timeout');
  });
});
