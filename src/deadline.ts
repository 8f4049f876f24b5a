// Bounded waits for work that may never end (a lost Redis, a helpdesk or a thread that does not
// answer): the caller goes on after the time given, and the work is left to finish or fail on its
// own. The timer runs on the event loop, so it bounds waiting only: it cannot cut short synchronous
// code on the same thread (only Worker.terminate can stop a thread that does not yield).

/**
 * The work's own outcome when it settles within `ms`; otherwise what `late()` gives: its value,
 * or what it throws as the rejection. `late` runs at most once, and never after the work settled.
 */
export async function within<T>(work: Promise<T>, ms: number, late: () => T): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  // late() runs in a reaction, so what it throws becomes the rejection.
  const deadline = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, Math.max(0, ms));
  }).then(late);
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** Resolves 'done' when `work` settles (fulfilled or rejected) within `ms`, else 'timeout'. */
export function settleWithin(work: Promise<unknown>, ms: number): Promise<'done' | 'timeout'> {
  return within<'done' | 'timeout'>(
    work.then(
      () => 'done',
      () => 'done',
    ),
    ms,
    () => 'timeout',
  );
}
