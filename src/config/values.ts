// Value schemas and the secret-file reader shared by the configuration modules (schema.ts, load.ts,
// routes.ts), so each rule on a value is written once.
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { GatewayError } from '../errors.js';
import { MIN_SECRET_LENGTH } from '../redact.js';

export const port = z.number().int().min(0).max(65535);
export const positiveInt = z.number().int().positive();
export const nonNegativeInt = z.number().int().min(0);
/** What happens to one class of machine mail (auto-replies, bounces, loops). */
export const machinePolicy = z.enum(['drop', 'post']);

export const regexSource = z.string().refine(
  (s) => {
    try {
      new RegExp(s, 'i');
      return true;
    } catch {
      return false;
    }
  },
  { message: 'is not a valid regular expression' },
);

/** host:port (a Sentinel's address); IPv6 in brackets: [::1]:26379. */
export const hostPort = z.string().regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9_.-]+):\d{1,5}$/, 'must be host:port');

const TOO_SHORT = `must be at least ${MIN_SECRET_LENGTH} characters (a shorter secret is easy to guess, and would match ordinary text where secrets are removed from messages)`;

/** Whether a secret is long enough; empty means not set. */
export function secretLongEnough(value: string): boolean {
  return value === '' || value.length >= MIN_SECRET_LENGTH;
}

/** A token, secret or password: unset (''), or at least MIN_SECRET_LENGTH characters. */
export const secret = z.string().refine(secretLongEnough, { message: TOO_SHORT });

/** The one-line refusal of a secret read from a file, naming the setting. */
export function checkSecretLength(value: string, what: string): string {
  if (!secretLongEnough(value)) throw new GatewayError('config', `${what}: ${TOO_SHORT}`);
  return value;
}

/** The password of a redis:// URL ('' when there is none or the URL does not parse). */
function redisPassword(url: string): string {
  try {
    return decodeURIComponent(new URL(url).password);
  } catch {
    return '';
  }
}

export const redisUrl = z
  .string()
  .refine((s) => /^rediss?:\/\//.test(s), { message: 'must start with redis:// or rediss://' })
  .refine((s) => secretLongEnough(redisPassword(s)), { message: `its password ${TOO_SHORT}` });
export const httpUrl = z.string().refine(
  (s) => {
    try {
      const u = new URL(s);
      return u.protocol === 'http:' || u.protocol === 'https:';
    } catch {
      return false;
    }
  },
  { message: 'must be an http:// or https:// URL' },
);

/** A secret from a file (Docker/Kubernetes secrets), without its trailing newline; `what` names the setting. */
export function readSecretFile(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8').replace(/[\r\n]+$/, '');
  } catch (err) {
    throw new GatewayError(
      'config',
      `${what}=${file}: cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)})`,
    );
  }
}
