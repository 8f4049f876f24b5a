// src/intake is where a message enters: the SMTP listener and its limits, the ingest shared with
// replay, the door thread and the door's Redis checks. Nothing here parses a body.
//
// The SMTP listener: recipient policy at RCPT, the whole message buffered in DATA (bounded by
// the size limit), then the shared ingest decides the reply. Nothing is answered 250 before
// ingest says the message is stored.
import { readFileSync } from 'node:fs';
import { SMTPServer, type SMTPServerDataStream, type SMTPServerOptions, type SMTPServerSession } from 'smtp-server';
import type { Config } from '../config/schema.js';
import { settleWithin } from '../deadline.js';
import { GatewayError, replyFor } from '../errors.js';
import type { Logger } from '../log.js';
import { clip } from '../mail/clean.js';
import type { Envelope, SmtpReply } from '../mail/types.js';
import type { Metrics } from '../ops/metrics.js';
import { REPLY } from '../smtp-replies.js';
import { record, secondsSince, type IngestDecision } from './ingest.js';
import { connectionRateLimit } from './connection-rate.js';
import { recipientPolicy } from './recipients.js';
import { watchServerRefusals, type SmtpConnection } from './server-refusals.js';
import { sessionLimits, type Deadline } from './session-limits.js';

type ReplyError = Error & { responseCode: number };

/** What follows the basic code: our texts carry their own enhanced code. */
function afterCode(reply: SmtpReply): string {
  return `${reply.enhanced} ${reply.text}`;
}

/** An Error that smtp-server turns into exactly this reply (it prints err.message after the code). */
function replyError(reply: SmtpReply): ReplyError {
  const err = new Error(afterCode(reply)) as ReplyError;
  err.responseCode = reply.code;
  return err;
}

export interface SmtpListener {
  server: SMTPServer;
  port(): number;
  /** Messages whose DATA has ended and whose reply is not yet sent. */
  inFlight(): number;
  listening(): boolean;
  /**
   * Shut down within smtp.closeTimeoutMs: new sessions and transactions get 421 4.3.2 at once,
   * messages in DATA or awaiting their reply are let finish, then the remaining sessions get
   * 421 and the listener closes. A message cut off at the deadline got no 250: the sender retries.
   */
  close(): Promise<void>;
}

function readTls(config: Config): Pick<SMTPServerOptions, 'key' | 'cert'> | null {
  const { keyFile, certFile } = config.smtp.tls;
  if (!keyFile && !certFile) return null;
  if (!keyFile || !certFile) throw new GatewayError('config', 'smtp.tls: keyFile and certFile must be set together');
  try {
    return { key: readFileSync(keyFile), cert: readFileSync(certFile) };
  } catch (err) {
    throw new GatewayError(
      'config',
      `smtp.tls: cannot read key or certificate (${(err as NodeJS.ErrnoException).code ?? String(err)})`,
    );
  }
}

export interface SmtpDeps {
  log: Logger;
  metrics: Metrics;
  /** The door's decision on one message: in this thread, or in the door thread. */
  decide(raw: Buffer, envelope: Envelope): Promise<IngestDecision>;
}

export async function startSmtp(config: Config, deps: SmtpDeps): Promise<SmtpListener> {
  const { log, metrics } = deps;
  const recipients = recipientPolicy(config);
  if (recipients.acceptsAll) {
    log.warn('recipients.domains and recipients.addresses are both empty: mail for ANY recipient is accepted');
  }
  const tls = readTls(config);
  const rate = connectionRateLimit(config.smtp.connectionRateLimit);
  const limits = sessionLimits(config.smtp.limits);
  // Sessions onConnect saw: one that closes unseen was refused by smtp-server itself (maxClients)
  // or left before its greeting.
  const greeted = new WeakSet<SMTPServerSession>();
  let listener: SMTPServer | undefined;
  const connectionOf = (sessionId: string): SmtpConnection | undefined => {
    for (const c of listener?.connections ?? []) if (c.id === sessionId) return c;
    return undefined;
  };
  /** Tell the client why and close its connection (smtp-server closes on a 421). */
  const disconnect = (sessionId: string, reply: SmtpReply): void => {
    connectionOf(sessionId)?.send(reply.code, afterCode(reply), false);
  };
  const deadline = (session: SMTPServerSession, which: Deadline): void => {
    limits.start(session.id, which, () => {
      metrics.smtpRefusals.inc({ stage: which === 'data' ? 'DATA' : 'SESSION', reason: `${which}_timeout` });
      log.info({ remote: session.remoteAddress, deadline: which }, 'session closed: deadline passed');
      disconnect(session.id, which === 'data' ? REPLY.dataTimeout : REPLY.transactionTimeout);
    });
  };
  /** Counts one refused command; true when it is past the allowance (the session is to be closed). */
  const pastAllowance = (session: SMTPServerSession, stage: string): boolean => {
    if (!limits.refuse(session.id)) return false;
    metrics.smtpRefusals.inc({ stage, reason: 'too_many_refused' });
    log.info(
      { remote: session.remoteAddress, limit: config.smtp.limits.maxRefusedCommands },
      'session closed: too many refused commands',
    );
    return true;
  };
  /** A refused command: its own reply, or the 421 that ends a session past its allowance. */
  const refusal = (session: SMTPServerSession, stage: string, reason: string, reply: SmtpReply): ReplyError => {
    metrics.smtpRefusals.inc({ stage, reason });
    return replyError(pastAllowance(session, stage) ? REPLY.refusedCommands : reply);
  };
  /** A message refused at DATA counts towards the allowance too; past it the session ends after its reply. */
  const refuseData = (session: SMTPServerSession, reply: SmtpReply, callback: (err: Error) => void): void => {
    const over = pastAllowance(session, 'DATA');
    callback(replyError(reply));
    if (over) disconnect(session.id, REPLY.refusedCommands);
  };
  /** What smtp-server refuses by itself in a session is counted like the gateway's own refusals. */
  const watchSession = (session: SMTPServerSession): void => {
    const conn = connectionOf(session.id);
    if (!conn) return;
    watchServerRefusals(conn, disabledCommands, (r) => {
      metrics.smtpRefusals.inc({ stage: r.stage, reason: r.reason });
      if (r.allowance && pastAllowance(session, r.stage)) disconnect(session.id, REPLY.refusedCommands);
    });
  };
  const pending = new Set<Promise<unknown>>();
  // Transactions past DATA whose reply is not yet sent; close() waits for them to reach 0.
  let inData = 0;
  let onIdle: (() => void) | null = null;
  let closing = false;
  let closed: Promise<void> | null = null;
  let isListening = false;

  // An inbound MX takes no logins.
  const disabledCommands = tls ? ['AUTH'] : ['AUTH', 'STARTTLS'];
  const options: SMTPServerOptions = {
    name: config.smtp.hostname,
    banner: 'sirportly-mailgate',
    size: config.smtp.maxMessageBytes,
    maxRecipients: config.smtp.maxRecipients,
    maxClients: config.smtp.maxClients,
    socketTimeout: config.smtp.socketTimeoutMs,
    closeTimeout: config.smtp.closeTimeoutMs,
    disableReverseLookup: !config.smtp.reverseLookup,
    useProxy: config.smtp.trustedProxies.length > 0 ? config.smtp.trustedProxies : false,
    disabledCommands,
    authOptional: true,
    // Our replies carry their own enhanced codes (and so are told apart from smtp-server's own).
    hideENHANCEDSTATUSCODES: true,
    logger: false,
    ...(tls ?? {}),

    onConnect(session: SMTPServerSession, callback: (err?: Error | null) => void) {
      greeted.add(session);
      if (closing) {
        metrics.smtpSessions.inc({ outcome: 'refused_closing' });
        callback(replyError(REPLY.shuttingDown));
        return;
      }
      if (!rate.allow(session.remoteAddress)) {
        metrics.smtpSessions.inc({ outcome: 'rate_limited' });
        log.info({ remote: session.remoteAddress }, 'connection refused: too many from this address');
        callback(replyError(REPLY.connectionRate));
        return;
      }
      if (!limits.open(session.id, session.remoteAddress)) {
        metrics.smtpSessions.inc({ outcome: 'concurrency_limited' });
        log.info(
          { remote: session.remoteAddress, limit: config.smtp.limits.maxConnectionsPerAddress },
          'connection refused: too many open from this address',
        );
        callback(replyError(REPLY.concurrentSessions));
        return;
      }
      metrics.smtpSessions.inc({ outcome: 'accepted' });
      watchSession(session);
      callback();
    },

    onClose(session: SMTPServerSession) {
      if (!greeted.has(session)) metrics.smtpSessions.inc({ outcome: 'closed_before_greeting' });
      limits.close(session.id);
    },

    onMailFrom(_address, session, callback) {
      // Shutting down: a transaction not yet begun goes elsewhere (or comes back after the
      // restart) instead of holding the shutdown up until closeTimeoutMs.
      if (closing) {
        metrics.smtpRefusals.inc({ stage: 'MAIL', reason: 'shutting_down' });
        callback(replyError(REPLY.shuttingDown));
        return;
      }
      // smtp-server has no "STARTTLS required" option of its own; MAIL is the first command
      // that starts a transaction, so refusing it there keeps every message off plain text.
      if (config.smtp.requireTls && !session.secure) {
        callback(refusal(session, 'MAIL', 'tls_required', REPLY.tlsRequired));
        return;
      }
      // From MAIL to the end of DATA; a new MAIL (after RSET or the last message) starts it again.
      deadline(session, 'transaction');
      callback();
    },

    onRcptTo(address, session, callback) {
      if (!recipients.accepts(address.address)) {
        log.info({ rcpt: clip(address.address) }, 'recipient refused');
        callback(refusal(session, 'RCPT', 'recipient', REPLY.recipientRefused(address.address)));
        return;
      }
      callback();
    },

    onData(stream: SMTPServerDataStream, session: SMTPServerSession, reply) {
      inData++;
      let answered = false;
      const callback = (err: Error | null, message?: string): void => {
        if (answered) return;
        answered = true;
        inData--;
        reply(err, message);
        if (inData === 0) onIdle?.();
      };
      const chunks: Buffer[] = [];
      let length = 0;
      deadline(session, 'data');
      // The client has said all it will; what is left (the door's decision) is bounded by ours.
      const received = (): void => {
        limits.stop(session.id, 'data');
        limits.stop(session.id, 'transaction');
      };
      stream.once('end', received);
      stream.once('error', received);
      stream.on('data', (chunk: Buffer) => {
        // Past the limit keep reading (the client must see the reply) but stop storing.
        if (stream.sizeExceeded) return;
        chunks.push(chunk);
        length += chunk.length;
      });
      stream.once('error', (err) => callback(replyError(REPLY.readFailed(err.message))));
      stream.once('end', () => {
        if (stream.sizeExceeded) {
          metrics.doorVerdicts.inc({ verdict: 'too_large', reason: 'too_large' });
          log.info(
            { remote: session.remoteAddress, size: stream.byteLength, limit: config.smtp.maxMessageBytes },
            'door verdict: too large',
          );
          refuseData(session, replyFor('too_large'), callback);
          return;
        }
        const envelope: Envelope = {
          mailFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          rcptTo: session.envelope.rcptTo.map((r) => r.address),
          receivedAt: new Date().toISOString(),
          source: 'smtp',
          remoteAddress: session.remoteAddress,
          // SPF checks the HELO name too; the worker evaluates it later from what is stored here.
          ...(session.hostNameAppearsAs ? { helo: session.hostNameAppearsAs } : {}),
        };
        const started = process.hrtime.bigint();
        // The bytes may be handed to the door thread (and gone from here): size taken first.
        const raw = Buffer.concat(chunks, length);
        // The chunks would otherwise live as long as this stream's listeners, a second copy of
        // the message for as long as the door takes to decide.
        chunks.length = 0;
        const work = deps.decide(raw, envelope).then(
          (decision) => {
            const outcome = record(decision, length, envelope, secondsSince(started), deps);
            // A refusal is counted by reason in mailgate_door_verdicts_total, and towards the allowance.
            if (outcome.reply.code >= 400) refuseData(session, outcome.reply, callback);
            else callback(null, afterCode(outcome.reply));
          },
          (err: unknown) => {
            log.error({ err: (err as Error).message }, 'ingest failed unexpectedly');
            callback(replyError(replyFor('store_unavailable')));
          },
        );
        pending.add(work);
        void work.finally(() => pending.delete(work));
      });
    },
  };

  const server = new SMTPServer(options);
  listener = server;
  server.on('error', (err: Error) => log.warn({ err: err.message }, 'smtp connection error'));

  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error) =>
      reject(
        new GatewayError('config', `smtp: cannot listen on ${config.smtp.host}:${config.smtp.port} (${err.message})`),
      );
    server.server.once('error', onError);
    server.listen(config.smtp.port, config.smtp.host, () => {
      server.server.off('error', onError);
      isListening = true;
      resolve();
    });
  });

  return {
    server,
    port() {
      const addr = server.server.address();
      return typeof addr === 'object' && addr ? addr.port : config.smtp.port;
    },
    inFlight: () => pending.size,
    listening: () => isListening && !closing,
    close() {
      closed ??= (async () => {
        closing = true;
        // The listener stays open meanwhile, so a sender connecting now hears 421 (try later)
        // rather than finding the port closed.
        const idle = inData === 0 ? Promise.resolve() : new Promise<void>((resolve) => (onIdle = resolve));
        // The last part of the time is kept for closing the sessions and, after this, the door thread.
        const reserveMs = Math.min(1000, Math.round(config.smtp.closeTimeoutMs / 4));
        await settleWithin(
          idle.then(() => Promise.allSettled([...pending])),
          config.smtp.closeTimeoutMs - reserveMs,
        );
        isListening = false;
        const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
        for (const conn of server.connections) {
          conn.send(REPLY.shuttingDown.code, afterCode(REPLY.shuttingDown));
          conn.close();
        }
        // A peer that never closes its end must not hold the process.
        await settleWithin(stopped, reserveMs / 2);
      })();
      return closed;
    },
  };
}
