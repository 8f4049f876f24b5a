// The summary (counts, reasons, first examples, exit code), the progress line, and the
// back-pressure gate on its own.
import { describe, expect, it } from 'vitest';
import { ProgressBar, progressLine } from '../../src/replay/progress.js';
import { BackPressure, type QueueProbe } from '../../src/replay/into-redis.js';
import { EXAMPLES_PER_REASON, Summary } from '../../src/replay/summary.js';
import { waitFor } from '../support/wait.js';
import { Capture } from './helpers.js';

const ex = (i: number) => ({ path: 'a.mbox', index: i, message_id: `m${i}@x`, subject: `s${i}`, ticket: null });

describe('Summary', () => {
  it('counts by outcome and reason, keeps the first examples, and decides the exit code', () => {
    const s = new Summary(false);
    expect(s.exitCode()).toBe(0);
    for (let i = 1; i <= 5; i++) s.record('accepted', 'queued', ex(i));
    s.record('duplicate', 'duplicate', ex(6));
    for (let i = 7; i <= 11; i++) s.record('dropped', 'auto_submitted', ex(i));
    s.record('dropped', 'precedence', ex(12));
    s.record('skipped', 'before_since', ex(13));
    expect(s.exitCode()).toBe(0);
    s.record('rejected', 'no_reference', ex(14));
    s.record('rejected', 'too_large', { ...ex(15), detail: '30000000 bytes' });
    expect(s.exitCode()).toBe(1);
    const j = s.toJSON();
    expect(j).toMatchObject({
      messages: 15,
      accepted: 5,
      duplicates: 1,
      dropped: { total: 6 },
      rejected: { total: 2 },
      skipped: { total: 1 },
      exit_code: 1,
    });
    expect(j.dropped.reasons.auto_submitted!.count).toBe(5);
    expect(j.dropped.reasons.auto_submitted!.examples.map((e) => e.index)).toEqual(
      [7, 8, 9].slice(0, EXAMPLES_PER_REASON),
    );
    const text = s.render();
    expect(text).toMatch(/^replay: 15 messages from 0 file\(s\)/);
    expect(text).toMatch(/\n {2}accepted +5\n/);
    expect(text).toMatch(/\n {2}dropped +6 +auto_submitted 5, precedence 1\n/);
    expect(text).toMatch(/\n {2}rejected +2 +no_reference 1, too_large 1\n/);
    expect(text).toMatch(/rejected too_large: a\.mbox #15 <m15@x> "s15" 30000000 bytes/);
  });

  it('file names and values from mail are printed escaped: one line each, no terminal controls', () => {
    const s = new Summary(false);
    const evil = 'in\nbox\u001b[2J\u202egnp.mbox';
    s.record('rejected', 'no_reference', {
      path: evil,
      index: 1,
      message_id: 'x\r\ny@z',
      subject: 'hi',
      ticket: null,
      detail: 'a\u0000b',
    });
    s.formats.push({ path: evil, format: 'mboxrd', why: 'guessed' });
    s.skippedFiles.push({ path: `${evil}.txt`, why: 'not mail' });
    const text = s.render();

    expect(text).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f\u202e]/);
    expect(text).toContain(
      'rejected no_reference: in\\u000abox\\u001b[2J\\u202egnp.mbox #1 <x\\u000d\\u000ay@z> "hi" a\\u0000b',
    );
    expect(text).toContain('  in\\u000abox\\u001b[2J\\u202egnp.mbox: mboxrd (guessed)');
    expect(text).toContain('  in\\u000abox\\u001b[2J\\u202egnp.mbox.txt: not mail');
  });

  it('a stop makes exit 75 (run it again to go on), rejected messages or not, and is said', () => {
    const s = new Summary(false);
    s.record('rejected', 'no_reference', ex(1));
    expect(s.exitCode()).toBe(1);
    s.stopped = 'Redis did not take a message';
    expect(s.exitCode()).toBe(75);
    expect(s.toJSON().exit_code).toBe(75);
    expect(s.render()).toMatch(/stopped: Redis did not take a message/);
  });
});

describe('ProgressBar', () => {
  it('draws nothing unless the stream is a terminal', () => {
    const out = new Capture();
    const bar = new ProgressBar(out, 1000, 0);
    bar.update(5, 500, true);
    bar.done();
    expect(out.text).toBe('');
  });

  it('shows messages, bytes of the total, rate and ETA, and clears itself', () => {
    const out = Object.assign(new Capture(), { isTTY: true, columns: 200 });
    const bar = new ProgressBar(out, 200e6, 0);
    bar.update(1234, 50e6, true);
    expect(bar.line()).toMatch(/^\[#{8}-{22}\] {2}25% 1,234 msgs 50\.0\/200\.0 MB [\d,]+ msg\/s ETA (\d+:\d\d|--:--)$/);
    bar.setStatus('paused');
    expect(out.text).toMatch(/ paused$/);
    // On an 80-column terminal the line still fits, with a shorter bar.
    out.columns = 80;
    expect(bar.line().length).toBeLessThan(80);
    expect(bar.line()).toMatch(/^\[[#-]{10,29}\] {2}25% .* paused$/);
    bar.log('a line above');
    bar.done();
    expect(out.text.endsWith('\r\x1b[2K')).toBe(true);
    expect(out.text).toMatch(/a line above\n/);
  });
});

describe('progressLine', () => {
  // 1,234,567 messages, 2.5 of 10 GB in 1,000 s: ETA 3,000 s = 50:00.
  const big = { messages: 1_234_567, bytes: 2.5e9, totalBytes: 10e9, elapsedSeconds: 1000, status: '' };
  const cases: Array<[number, string, RegExp]> = [
    [120, '', /^\[#{8}-{22}\] {2}25% 1,234,567 msgs 2500\.0\/10000\.0 MB 1,235 msg\/s ETA 50:00$/],
    [120, 'paused', /^\[#+-+\] {2}25% 1,234,567 msgs 2500\.0\/10000\.0 MB 1,235 msg\/s ETA 50:00 paused$/],
    [80, '', /^\[[#-]{17}\] {2}25% 1,234,567 msgs 2500\.0\/10000\.0 MB 1,235 msg\/s ETA 50:00$/],
    [80, 'paused', /^\[[#-]{10}\] {2}25% 1,234,567 msgs 2500\.0\/10000\.0 MB 1,235 msg\/s ETA 50:00 paused$/],
    [70, 'paused', /^ 25% 1,234,567 msgs 2500\.0\/10000\.0 MB 1,235 msg\/s ETA 50:00 paused$/],
    [40, '', /^ 25% 1,234,567 msgs ETA 50:00$/],
    [40, 'paused', /^ 25% 1,234,567 msgs ETA 50:00 paused$/],
  ];
  for (const [columns, status, shape] of cases) {
    it(`fits ${columns} columns${status ? ` with status "${status}"` : ''}, whole ETA kept`, () => {
      const line = progressLine({ ...big, status }, columns);
      expect(line.length).toBeLessThanOrEqual(columns - 1);
      expect(line).toMatch(/ETA 50:00( |$)/);
      expect(line).toMatch(shape);
    });
  }

  it('keeps hours in the ETA, and shortens a long status before dropping the count', () => {
    const slow = { ...big, elapsedSeconds: 100_000 };
    const long = 'paused: Redis uses 95 % of its maxmemory';
    const at40 = progressLine({ ...slow, status: long }, 40);
    expect(at40.length).toBeLessThanOrEqual(39);
    expect(at40).toMatch(/^ 25% 1,234,567 msgs ETA 83:20:00 pause?d?.*…$/);
    expect(progressLine({ ...slow, status: long }, 80)).toMatch(/ETA 83:20:00 paused: Redis/);
    // Narrower than anything sensible: the ETA alone, from its end.
    expect(progressLine(slow, 20)).toBe(' 25% ETA 83:20:00');
    expect(progressLine(slow, 14)).toBe('ETA 83:20:00');
    expect(progressLine(slow, 10)).toBe('83:20:00');
  });

  it('says --:-- before anything is read', () => {
    expect(progressLine({ messages: 0, bytes: 0, totalBytes: 100, elapsedSeconds: 0, status: '' }, 80)).toMatch(
      /ETA --:--$/,
    );
  });
});

describe('BackPressure', () => {
  it('waits while the queue is over the limit, resumes below 80 % of it, checks every tenth of the limit', async () => {
    let waiting = 0;
    let probes = 0;
    const notes: Array<string | null> = [];
    const gate = new BackPressure(
      async (): Promise<QueueProbe> => {
        probes++;
        return { waiting, memoryPercent: null };
      },
      { maxWaitingJobs: 100, maxRedisMemoryPercent: 80 },
      (why) => notes.push(why),
      10,
    );
    expect(gate.checkEvery).toBe(10);
    await gate.wait();
    expect(probes).toBe(1);
    for (let i = 0; i < 9; i++) await gate.wait();
    expect(probes).toBe(1);
    await gate.wait();
    expect(probes).toBe(2);

    waiting = 150;
    for (let i = 0; i < 9; i++) await gate.wait();
    let released = false;
    const p = gate.wait().then(() => (released = true));
    // Asked again twice while the queue is full: still waiting.
    const probedTwiceMore = (from: number) => waitFor('two more probes', () => probes >= from + 2);
    await probedTwiceMore(probes);
    expect(released).toBe(false);
    waiting = 85; // under the limit but over 80 % of it: still waiting
    await probedTwiceMore(probes);
    expect(released).toBe(false);
    waiting = 79;
    await p;
    expect(notes[0]).toMatch(/^paused: 150 jobs wait for workers \(limit 100/);
    expect(notes.at(-1)).toBeNull();
  });

  it('waits while Redis is near its maxmemory; goes on when Redis cannot be asked', async () => {
    let memoryPercent = 95;
    let fail = false;
    const notes: Array<string | null> = [];
    const gate = new BackPressure(
      async () => {
        if (fail) throw new Error('Connection is closed.');
        return { waiting: 0, memoryPercent };
      },
      { maxWaitingJobs: 10, maxRedisMemoryPercent: 80 },
      (why) => notes.push(why),
      10,
    );
    const p = gate.wait();
    expect(await waitFor('the pause', () => notes[0])).toMatch(/Redis uses 95 % of its maxmemory/);
    memoryPercent = 50;
    await p;
    memoryPercent = 99;
    const q = gate.wait();
    await waitFor('the pause at 99 %', () => notes.some((n) => n?.includes('99 %')));
    fail = true;
    await q;
  });
});
