// Sirportly call metrics as a decorator around the client, so the client keeps one concern (HTTP
// and error classification) and tests that pass their own client are measured the same way.
import { GatewayError } from '../errors.js';
import { isSearchableTag, type SirportlyApi } from '../sirportly/client.js';
import type { Metrics } from './metrics.js';

type Method = 'add_attachment' | 'post_update' | 'ticket' | 'submit' | 'spql';

/** The status label of a failed call: the HTTP status when there was one, else the error kind. */
function statusLabel(err: unknown): string {
  if (err instanceof GatewayError) return err.status !== undefined ? String(err.status) : err.kind;
  return 'error';
}

export function instrumentSirportly(client: SirportlyApi, metrics: Metrics): SirportlyApi {
  async function measure<T>(method: Method, call: () => Promise<T>): Promise<T> {
    const end = metrics.sirportlyLatency.startTimer({ method });
    try {
      const result = await call();
      // The client accepts 200 and 201 alike and does not pass the status on; both are success.
      metrics.sirportlyRequests.inc({ method, status: '2xx' });
      return result;
    } catch (err) {
      metrics.sirportlyRequests.inc({ method, status: statusLabel(err) });
      throw err;
    } finally {
      end();
    }
  }
  return {
    addAttachment: (file) => measure('add_attachment', () => client.addAttachment(file)),
    postUpdate: (fields) => measure('post_update', () => client.postUpdate(fields)),
    getTicket: (reference) => measure('ticket', () => client.getTicket(reference)),
    submitTicket: (fields) => measure('submit', () => client.submitTicket(fields)),
    // A tag the client refuses never reaches Sirportly, so it is not counted as a call.
    findTicketByTag: (tag) =>
      isSearchableTag(tag) ? measure('spql', () => client.findTicketByTag(tag)) : client.findTicketByTag(tag),
  };
}
