// smtp-server answers some commands itself, before any handler of the gateway runs, and emits no
// event for it: unknown or disabled commands (500; AUTH among them, since an inbound MX takes no
// logins), bad syntax (501), commands out of order (503), RCPT past smtp.maxRecipients (452), MAIL
// with a SIZE over the limit (552); and it ends sessions with 421 (a command line too long, ten
// unrecognised commands, the idle timeout). Every reply it writes goes through the connection's
// public send(), so that is where a session's replies are watched.
import type { SMTPServer } from 'smtp-server';

export type SmtpConnection = SMTPServer['connections'] extends Set<infer C> ? C : never;

export interface ServerRefusal {
  /** The command refused (MAIL, RCPT, AUTH, STARTTLS), COMMAND when smtp-server does not say, or SESSION. */
  stage: string;
  reason: string;
  /** Counts towards smtp.limits.maxRefusedCommands: the client's doing, and the session goes on after it. */
  allowance: boolean;
}

/**
 * The gateway's own replies start with their enhanced status code (smtp-server adds none of its
 * own: hideENHANCEDSTATUSCODES), and are counted where they are decided.
 */
const OWN_REPLY = /^\d\.\d{1,3}\.\d{1,3} /;

/** Why smtp-server ended a session, from its own reply texts; `closed` for one not known here. */
function closeReason(text: string): string {
  if (/^Timeout\b/i.test(text)) return 'idle_timeout';
  if (/too many unrecognized commands/i.test(text)) return 'too_many_unrecognized';
  if (/line too long/i.test(text)) return 'line_too_long';
  if (/shutting down/i.test(text)) return 'shutting_down';
  if (/HTTP requests not allowed/i.test(text)) return 'http_request';
  if (/talk too soon/i.test(text)) return 'early_talker';
  return 'closed';
}

/**
 * A reply smtp-server sent on its own that refuses a command or ends the session, or null (a
 * success, or a reply of the gateway's: among them the size verdict on a message's data, counted
 * in mailgate_door_verdicts_total as too_large; smtp-server refuses oversized data itself only
 * with rejectOversized, which the gateway does not set). `context` is send()'s third argument:
 * the command name for an unknown command, a tag such as MESSAGE_TOO_BIG for others.
 */
export function serverRefusal(
  code: number,
  text: string,
  context: string | false | undefined,
  /** smtp-server's disabledCommands: it answers them as unknown; named as the stage (a bounded set). */
  disabled: readonly string[],
): ServerRefusal | null {
  if (code < 400 || OWN_REPLY.test(text)) return null;
  if (code === 421) return { stage: 'SESSION', reason: closeReason(text), allowance: false };
  if (code === 451) return { stage: 'COMMAND', reason: 'internal_error', allowance: false };
  if (code === 452) return { stage: 'RCPT', reason: 'too_many_recipients', allowance: true };
  if (code === 552) return { stage: 'MAIL', reason: 'too_large', allowance: true };
  if (code === 500 && typeof context === 'string' && disabled.includes(context))
    return { stage: context, reason: 'disabled', allowance: true };
  const reason =
    code === 500
      ? 'unrecognized_command'
      : code === 501
        ? 'syntax_error'
        : code === 502 || code === 504
          ? 'not_implemented'
          : code === 503
            ? 'bad_sequence'
            : `reply_${code}`;
  return { stage: 'COMMAND', reason, allowance: code >= 500 };
}

/** Calls `refused` after smtp-server sends one of its own refusals on this connection. */
export function watchServerRefusals(
  conn: SmtpConnection,
  disabled: readonly string[],
  refused: (r: ServerRefusal) => void,
): void {
  const send = conn.send.bind(conn);
  conn.send = (code, data, context) => {
    send(code, data, context);
    const r = serverRefusal(code, Array.isArray(data) ? data.join(' ') : (data ?? ''), context, disabled);
    if (r) refused(r);
  };
}
