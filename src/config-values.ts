// Value schemas and the secret-file reader shared by the configuration modules (config.ts and
// config-routes.ts), so each rule on a value is written once.
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { GatewayError } from './errors.js';

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

export const redisUrl = z.string().refine((s) => /^rediss?:\/\//.test(s), { message: 'must start with redis:// or rediss://' });
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
    throw new GatewayError('config', `${what}=${file}: cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
}
