// The fields of tickets/submit for mail that opens a ticket: the route says where it goes, the
// draft says who wrote it, about what and when. Shared by the worker and `inspect`, so what
// inspect shows is what is submitted.
import { GatewayError } from '../../errors.js';
import type { Route } from '../door/route.js';
import type { Draft } from '../types.js';

export interface NewTicketFields {
  subject: string;
  status: string;
  priority: string;
  team: string;
  brand?: string;
  department?: string;
  sla?: string;
  tag_list?: string;
  contact_method_type: 'email';
  contact_method_data: string;
  /** Required by tickets/submit: the author's name, else the address (see authorName). */
  contact_name: string;
  submitted_at: string;
}

/** Sirportly requires a subject; mail without one still deserves a ticket. */
export const NO_SUBJECT = '(no subject)';

/** The tag a new ticket carries so it can be found again: mailgate-<first 16 hex of the key>. */
export function markerTag(idempotencyKey: string): string {
  return `mailgate-${idempotencyKey.slice(0, 16)}`;
}

/**
 * tickets/submit fields. `tag` is the marker tag (null when newTickets.markerTag is off).
 * Throws GatewayError (permanent) when the mail names no sender or the route lacks ticket fields.
 */
export function newTicketFields(d: Draft, route: Route, tag: string | null): NewTicketFields {
  const u = d.update;
  const { status, priority, team, brand, department, sla, tag_list } = route.ticket;
  if (!status || !priority || !team) {
    throw new GatewayError(
      'config',
      `route "${route.name}" has no ticket fields for new tickets (status, priority, team): set routes[].ticket or change its noReference`,
    );
  }
  if (!u.author_email)
    throw new GatewayError('bad_input', 'no sender address (From: or envelope sender) to open a ticket for');
  const tags = [tag_list, tag].filter((t): t is string => typeof t === 'string' && t !== '').join(', ');
  const fields: NewTicketFields = {
    subject: u.subject.trim() === '' ? NO_SUBJECT : u.subject,
    status,
    priority,
    team,
    contact_method_type: 'email',
    contact_method_data: u.author_email,
    contact_name: u.author_name ?? u.author_email,
    submitted_at: u.posted_at,
  };
  if (brand) fields.brand = brand;
  if (department) fields.department = department;
  if (sla) fields.sla = sla;
  if (tags) fields.tag_list = tags;
  return fields;
}
