// One pino logger for the process. Secrets are redacted by path, and no code logs message
// bodies: logs carry ids, verdicts and reasons only.
import { pino, type Logger } from 'pino';
import { REDACTED } from './redact.js';

export type { Logger };

export const REDACT_PATHS = [
  'token',
  'secret',
  '*.token',
  '*.secret',
  'sirportly.token',
  'sirportly.secret',
  'config.sirportly.token',
  'config.sirportly.secret',
  'headers["x-auth-token"]',
  'headers["x-auth-secret"]',
  '*.headers["x-auth-token"]',
  '*.headers["x-auth-secret"]',
];

export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  const opts = {
    level,
    base: { svc: 'mailgate' },
    redact: { paths: REDACT_PATHS, censor: REDACTED },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return destination ? pino(opts, destination as pino.DestinationStream) : pino(opts);
}
