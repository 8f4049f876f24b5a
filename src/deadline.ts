// Bounded waits for work that may never end (a lost Redis, a helpdesk that does not answer):
// the caller goes on after the time given, and the work is left to finish or fail on its own.

/** Resolves 'done' when `work` settles (fulfilled or rejected) within `ms`, else 'timeout'. */
export async function settleWithin(work: Promise<unknown>, ms: number): Promise<'done' | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), Math.max(0, ms));
  });
  try {
    return await Promise.race([
      work.then(
        () => 'done' as const,
        () => 'done' as const,
      ),
      deadline,
    ]);
  } finally {
    clearTimeout(timer);
  }
}
