// Whether Sirportly currently accepts each account's credentials, checked at start and, while it
// refuses them, again every credentialsRecheckSeconds. A refused account's jobs wait (no attempt
// used) instead of failing one by one: the mail is safe in Redis, and the fix is the operator's.
import type { Logger } from '../log.js';
import type { Route } from '../mail/door/route.js';
import type { Metrics } from '../ops/metrics.js';
import type { SirportlyApi } from './client.js';
import { checkCredentials } from './credentials.js';

export type CredentialState = 'unknown' | 'ok' | 'refused' | 'unreachable';

interface Watched {
  api: Pick<SirportlyApi, 'getTicket'>;
  state: CredentialState;
  detail: string;
  running: Promise<CredentialState> | null;
  timer: NodeJS.Timeout | null;
}

export class CredentialWatch {
  private readonly accounts = new Map<string, Watched>();
  private closed = false;

  constructor(private readonly deps: { log: Logger; metrics: Metrics; recheckMs: number }) {}

  /** Watch one account ("main", or "route <name>" for a route's own account). */
  add(account: string, api: Pick<SirportlyApi, 'getTicket'>): void {
    this.accounts.set(account, { api, state: 'unknown', detail: '', running: null, timer: null });
  }

  /** Check every account now (the start-up check); resolves when all answered. */
  async start(): Promise<void> {
    await Promise.all([...this.accounts.keys()].map((a) => this.recheck(a)));
  }

  /** True while Sirportly refuses the account's credentials. */
  refused(account: string): boolean {
    return this.accounts.get(account)?.state === 'refused';
  }

  get recheckMs(): number {
    return this.deps.recheckMs;
  }

  /** Accounts whose credentials are refused, with why: for /readyz. */
  failing(): Array<{ account: string; detail: string }> {
    return [...this.accounts.entries()]
      .filter(([, w]) => w.state === 'refused')
      .map(([account, w]) => ({ account, detail: w.detail }));
  }

  /** Check the account's credentials now (one check at a time per account). */
  recheck(account: string): Promise<CredentialState> {
    const w = this.accounts.get(account);
    if (!w) return Promise.resolve('unknown');
    w.running ??= this.run(account, w).finally(() => {
      w.running = null;
    });
    return w.running;
  }

  close(): void {
    this.closed = true;
    for (const w of this.accounts.values()) if (w.timer) clearTimeout(w.timer);
  }

  private async run(account: string, w: Watched): Promise<CredentialState> {
    const { log, metrics } = this.deps;
    const result = await checkCredentials(w.api);
    const before = w.state;
    if (result.ok) {
      w.state = 'ok';
      w.detail = '';
      metrics.sirportlyCredentialsOk.set({ account }, 1);
      if (before === 'refused') log.info({ account }, 'Sirportly accepts the credentials again; waiting jobs resume');
    } else if (result.refused) {
      w.state = 'refused';
      w.detail = result.error.message;
      metrics.sirportlyCredentialsOk.set({ account }, 0);
      if (before !== 'refused') {
        log.error(
          { account, status: result.error.status, recheckSeconds: this.deps.recheckMs / 1000 },
          `Sirportly refuses the credentials of account ${account} (${result.error.message}): mail is still accepted and kept; its jobs wait until the token and secret are fixed`,
        );
      }
    } else {
      // Unreachable says nothing about the credentials: keep what was known.
      if (w.state === 'unknown') w.state = 'unreachable';
      log.debug({ account, err: result.error.message }, 'credential check got no answer');
    }
    if (w.state === 'refused' && !this.closed) {
      if (w.timer) clearTimeout(w.timer);
      w.timer = setTimeout(() => void this.recheck(account), this.deps.recheckMs);
      w.timer.unref();
    }
    return w.state;
  }
}

/** The account a route's jobs use: "main", or "route <name>" for a route with its own account. */
export function accountLabel(route: Route | null | undefined): string {
  return route?.account ? `route ${route.name}` : 'main';
}
