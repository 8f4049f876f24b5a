// Limits on what one SMTP session or one client address may hold: sessions open at once per
// address, refused commands per session, and deadlines for a whole transaction and for its DATA.
// smtp-server's idle timeout restarts with every byte, so a client that dribbles a line a minute
// (or a byte a second inside DATA) would otherwise keep its slot, and its buffered message, for
// ever. State is per session id and dropped when the session closes: memory stays bounded by
// the open sessions.

export interface SessionLimitSettings {
  /** Sessions one client address may have open at once; 0: no limit. */
  maxConnectionsPerAddress: number;
  /** Refused commands (the gateway's and smtp-server's own) after which the session is closed; 0: no limit. */
  maxRefusedCommands: number;
  /** MAIL FROM to the end of DATA; 0: no deadline. */
  transactionTimeoutMs: number;
  /** The DATA command to the final dot; 0: no deadline. */
  dataTimeoutMs: number;
}

export type Deadline = 'transaction' | 'data';

interface SessionState {
  ip: string;
  refused: number;
  timers: Partial<Record<Deadline, NodeJS.Timeout>>;
}

export interface SessionLimits {
  /** A session from `ip` wants to start; false (nothing recorded) when the address is at its cap. */
  open(sessionId: string, ip: string): boolean;
  /** The session closed (also for sessions open() refused or never saw: then it does nothing). */
  close(sessionId: string): void;
  /** Count one refused command; true when this one is past the allowance (close the session). */
  refuse(sessionId: string): boolean;
  /** (Re)start a deadline; `expire` runs once if it is not stopped in time. */
  start(sessionId: string, which: Deadline, expire: () => void): void;
  stop(sessionId: string, which: Deadline): void;
  /** Sessions open from one address (for tests and the log line). */
  openFrom(ip: string): number;
}

export function sessionLimits(settings: SessionLimitSettings): SessionLimits {
  const sessions = new Map<string, SessionState>();
  const perAddress = new Map<string, number>();
  const ms: Record<Deadline, number> = { transaction: settings.transactionTimeoutMs, data: settings.dataTimeoutMs };

  const stop = (s: SessionState, which: Deadline): void => {
    const t = s.timers[which];
    if (t) clearTimeout(t);
    delete s.timers[which];
  };

  return {
    open(sessionId, ip) {
      const n = perAddress.get(ip) ?? 0;
      if (settings.maxConnectionsPerAddress > 0 && n >= settings.maxConnectionsPerAddress) return false;
      perAddress.set(ip, n + 1);
      sessions.set(sessionId, { ip, refused: 0, timers: {} });
      return true;
    },
    close(sessionId) {
      const s = sessions.get(sessionId);
      if (!s) return;
      sessions.delete(sessionId);
      stop(s, 'transaction');
      stop(s, 'data');
      const n = (perAddress.get(s.ip) ?? 1) - 1;
      if (n <= 0) perAddress.delete(s.ip);
      else perAddress.set(s.ip, n);
    },
    refuse(sessionId) {
      const s = sessions.get(sessionId);
      if (!s) return false;
      s.refused++;
      return settings.maxRefusedCommands > 0 && s.refused > settings.maxRefusedCommands;
    },
    start(sessionId, which, expire) {
      const s = sessions.get(sessionId);
      if (!s || ms[which] <= 0) return;
      stop(s, which);
      s.timers[which] = setTimeout(() => {
        delete s.timers[which];
        expire();
      }, ms[which]);
    },
    stop(sessionId, which) {
      const s = sessions.get(sessionId);
      if (s) stop(s, which);
    },
    openFrom: (ip) => perAddress.get(ip) ?? 0,
  };
}
