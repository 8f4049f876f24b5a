// Whether Sirportly takes the gateway's credentials, asked with a call every gateway token needs
// anyway (tickets/ticket, for the read-back) on a reference that cannot exist: 404 means the
// token and secret were accepted and the method is allowed; 401/403 means they are not.
import { GatewayError } from '../errors.js';
import type { SirportlyApi } from './client.js';

/** Not a reference any ticket can have (references are two letters, a hyphen, six digits). */
export const PROBE_REFERENCE = 'MAILGATE-CREDENTIALS-CHECK';

export type CredentialCheck = { ok: true } | { ok: false; refused: boolean; error: GatewayError };

export async function checkCredentials(api: Pick<SirportlyApi, 'getTicket'>): Promise<CredentialCheck> {
  try {
    await api.getTicket(PROBE_REFERENCE);
    return { ok: true };
  } catch (err) {
    if (err instanceof GatewayError && err.kind === 'not_found') return { ok: true };
    const error = err instanceof GatewayError ? err : new GatewayError('network', String(err), { cause: err });
    return { ok: false, refused: error.kind === 'auth', error };
  }
}
