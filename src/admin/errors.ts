// Errors of the queue admin commands, apart from the Redis connection so that loading them
// (and the CLI that reports them) loads neither ioredis nor BullMQ.

/** A problem the operator can act on: unknown id, wrong state, raw bytes gone, Redis away. */
export class AdminError extends Error {
  constructor(
    readonly code: 'not_found' | 'wrong_state' | 'raw_missing' | 'unavailable',
    message: string,
  ) {
    super(message);
    this.name = 'AdminError';
    Object.setPrototypeOf(this, new.target.prototype);
  }
}
