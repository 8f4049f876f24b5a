// Connections per client IP in a fixed window: a flood from one address gets "421" (its server
// retries later) instead of taking every slot of smtp.maxClients.

export interface ConnectionRateLimit {
  /** Count one connection from `ip`; false when it is over the limit. */
  allow(ip: string): boolean;
}

/** Memory stays bounded: entries of a window are dropped when the next window starts. */
export function connectionRateLimit(
  opts: { max: number; windowSeconds: number },
  now: () => number = Date.now,
): ConnectionRateLimit {
  if (opts.max <= 0) return { allow: () => true };
  const windowMs = opts.windowSeconds * 1000;
  let windowStart = now();
  let counts = new Map<string, number>();
  return {
    allow(ip) {
      const t = now();
      if (t - windowStart >= windowMs) {
        windowStart = t;
        counts = new Map();
      }
      const n = (counts.get(ip) ?? 0) + 1;
      counts.set(ip, n);
      return n <= opts.max;
    },
  };
}
