// Is the From: address genuine? DKIM, SPF and DMARC with mailauth, for Sirportly's
// `authenticated` flag: it is set only when DMARC passes for the very address the update is posted
// as. Any failure to decide (DNS down, timeout, a library error) is "temperror", never an exception:
// authenticity only ever adds the flag, it must not hold a message back.
import type { spf as SpfFunction } from 'mailauth';
import type { Config } from '../../config/schema.js';
import { within } from '../../deadline.js';
import type { Draft, Envelope } from '../types.js';
import type { DnsResolver } from './resolver.js';

export type AuthResult =
  'pass' | 'fail' | 'softfail' | 'neutral' | 'none' | 'temperror' | 'permerror' | 'policy' | 'not_run';

export interface AuthVerdict {
  spf: AuthResult;
  /** Best DKIM result over all signatures (pass when any signature verifies). */
  dkim: AuthResult;
  /** Domains of the DKIM signatures that passed. */
  dkimDomains: string[];
  dmarc: AuthResult;
  /** The single From: address DMARC judged, lower-cased; null when there was not exactly one. */
  from: string | null;
  /** Send authenticated=1: DMARC passed and the From it judged is the update's author. */
  authenticated: boolean;
  /** One line for logs and inspect: why authenticated is what it is. */
  reason: string;
}

export interface AuthOptions {
  resolver: DnsResolver;
  /** Whole check; past it the verdict is temperror. */
  timeoutMs: number;
  /** Name of this receiver in SPF explanations. */
  mta: string;
  /** The address the update will be posted as (author_email). */
  authorEmail: string | undefined;
}

const ORDER: AuthResult[] = [
  'pass',
  'policy',
  'neutral',
  'temperror',
  'permerror',
  'softfail',
  'fail',
  'none',
  'not_run',
];

function asResult(value: string | undefined): AuthResult {
  if (value === 'temperr') return 'temperror';
  return (ORDER as string[]).includes(value ?? '') ? (value as AuthResult) : 'neutral';
}

export function unavailable(reason: string, result: AuthResult = 'not_run'): AuthVerdict {
  return { spf: result, dkim: result, dkimDomains: [], dmarc: result, from: null, authenticated: false, reason };
}

// Loaded on first use: mailauth (with its public-suffix and DNS helpers) adds some 20 MB to every
// V8 isolate that imports it, and replay, inspect of replayed mail and the SMTP door never call it.
let mailauth: Promise<typeof import('mailauth')> | undefined;

async function evaluate(raw: Buffer, envelope: Envelope, opts: AuthOptions): Promise<AuthVerdict> {
  const { resolver, mta } = opts;
  const { dkimVerify, dmarc, spf } = await (mailauth ??= import('mailauth'));
  const mailFrom = envelope.mailFrom.replace(/^<|>$/g, '');
  const dkimResult = await dkimVerify(raw, { resolver, ...(mailFrom ? { sender: mailFrom } : {}) });
  // A pass without a signing domain cannot align with anything (mailauth 7 types it as optional).
  const passed = dkimResult.results.filter(
    (r): r is typeof r & { signingDomain: string } => r.status.result === 'pass' && typeof r.signingDomain === 'string',
  );
  const dkim =
    passed.length > 0
      ? 'pass'
      : dkimResult.results.length === 0
        ? 'none'
        : asResult(dkimResult.results[0]?.status.result);

  // SPF is about the connecting client: without the SMTP session (replay, inspect) there is none.
  let spfResult: Awaited<ReturnType<typeof SpfFunction>> | null = null;
  if (envelope.remoteAddress) {
    spfResult = await spf({
      ip: envelope.remoteAddress,
      resolver,
      mta,
      ...(envelope.helo ? { helo: envelope.helo } : {}),
      // A null sender is checked as postmaster@HELO (RFC 7208 §2.4), which mailauth does itself.
      ...(mailFrom ? { sender: mailFrom } : {}),
    });
  }
  const spfStatus: AuthResult = spfResult ? asResult(spfResult.status.result) : 'not_run';

  const froms = dkimResult.headerFrom ?? [];
  const from = froms.length === 1 ? froms[0]!.toLowerCase() : null;
  let dmarcStatus: AuthResult = 'none';
  if (from) {
    const d = await dmarc({
      headerFrom: froms,
      spfDomains: spfResult && spfResult.status.result === 'pass' && spfResult.domain ? [spfResult.domain] : [],
      dkimDomains: passed.map((r) => ({
        ...(r.id ? { id: r.id } : {}),
        domain: r.signingDomain,
        ...(r.status.aligned !== undefined ? { aligned: r.status.aligned } : {}),
        ...(r.status.underSized !== undefined ? { underSized: r.status.underSized } : {}),
      })),
      resolver,
    });
    dmarcStatus = d ? asResult(d.status.result) : 'none';
  }

  const author = opts.authorEmail?.toLowerCase();
  const authenticated = dmarcStatus === 'pass' && from !== null && from === author;
  let reason: string;
  if (authenticated) reason = `DMARC pass for ${from}`;
  else if (from === null)
    reason = froms.length === 0 ? 'no From address to authenticate' : 'several From addresses: DMARC cannot judge';
  else if (dmarcStatus === 'pass')
    reason = `DMARC passed for ${from}, but the update's author is ${author ?? 'not the From mailbox'}`;
  else reason = `DMARC ${dmarcStatus} for ${from}`;
  return {
    spf: spfStatus,
    dkim,
    dkimDomains: passed.map((r) => r.signingDomain),
    dmarc: dmarcStatus,
    from,
    authenticated,
    reason,
  };
}

/**
 * The address DMARC may vouch for: the author, only when it was taken from From:. An author taken
 * from Sender, Reply-To or the envelope is never authenticated, whatever DMARC says of From:.
 */
export function authorToAuthenticate(d: Pick<Draft, 'update' | 'authorSource'>): string | undefined {
  return d.authorSource === 'from' ? d.update.author_email : undefined;
}

/** Never rejects: errors and the deadline become temperror. */
export function checkAuthenticity(raw: Buffer, envelope: Envelope, opts: AuthOptions): Promise<AuthVerdict> {
  // The evaluation may go on in the background after the deadline; its lookups are each bounded.
  return within(
    evaluate(raw, envelope, opts).catch((err: unknown) =>
      unavailable(`check failed: ${(err as Error).message}`, 'temperror'),
    ),
    opts.timeoutMs,
    () => unavailable(`no verdict within ${opts.timeoutMs} ms`, 'temperror'),
  );
}

/**
 * The check as the worker and inspect run it: only for SMTP mail (and inspect, to show it), with
 * config.auth's bounds. Replayed archives are not judged: no SMTP session, and keys rotate.
 */
export async function authenticityOf(
  raw: Buffer,
  envelope: Envelope,
  config: Pick<Config, 'auth' | 'smtp'>,
  authorEmail: string | undefined,
  resolver: DnsResolver,
): Promise<AuthVerdict> {
  if (!config.auth.enabled) return unavailable('auth.enabled is off');
  if (envelope.source === 'replay') return unavailable('replayed mail is not authenticated');
  return checkAuthenticity(raw, envelope, {
    resolver,
    timeoutMs: config.auth.timeoutMs,
    mta: config.smtp.hostname,
    authorEmail,
  });
}
