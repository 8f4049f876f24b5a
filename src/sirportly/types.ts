// Shapes of the Sirportly answers we rely on. Only the fields the gateway reads are checked; the
// API doc is unconfirmed on much of the rest, so unknown extra fields pass through untouched, and
// any field the gateway does not strictly need may be null (or missing) without failing the answer:
// a ticket read that failed on, say, a null author.type would look like "not posted" to nobody but
// would retry the job for ever.
import { z } from 'zod';

export interface SirportlyAuthor {
  /** 'Customer' for contacts, 'User' for staff (per the update examples). */
  type?: string | null;
  id?: number | null;
  [key: string]: unknown;
}

export interface SirportlyAttachment {
  id?: number | null;
  name?: string | null;
  content_type?: string | null;
  file_size?: number | null;
  [key: string]: unknown;
}

export interface SirportlyUpdate {
  /** Null when the answer did not carry it (then the job result has no update id). */
  id: number | null;
  subject: string | null;
  message: string | null;
  /** ISO 8601 with offset or Z, e.g. 2012-02-03T12:13:46+00:00; an update without one is never taken for ours. */
  posted_at: string | null;
  from_name: string | null;
  from_address: string | null;
  author?: SirportlyAuthor | null;
  attachments?: SirportlyAttachment[];
  [key: string]: unknown;
}

export interface SirportlyTicket {
  reference: string;
  subject: string | null;
  message_id?: string | null;
  updates: SirportlyUpdate[];
  [key: string]: unknown;
}

export interface TemporaryAttachment {
  token: string;
  /** As Sirportly sent it; null when the answer did not say. */
  expiresAt: string | null;
}

// Missing and null are the same to us; normalising here keeps consumers free of `undefined` checks.
const text = z
  .string()
  .nullish()
  .transform((v) => v ?? null);

const authorSchema = z.looseObject({ type: z.string().nullish(), id: z.number().nullish() });

const attachmentSchema = z.looseObject({
  id: z.number().nullish(),
  name: z.string().nullish(),
  content_type: z.string().nullish(),
  file_size: z.number().nullish(),
});

const numberOrNull = z
  .number()
  .nullish()
  .transform((v) => v ?? null);

export const updateSchema: z.ZodType<SirportlyUpdate> = z.looseObject({
  id: numberOrNull,
  subject: text,
  message: text,
  posted_at: text,
  from_name: text,
  from_address: text,
  author: authorSchema.nullish(),
  attachments: z
    .array(attachmentSchema)
    .nullish()
    .transform((v) => v ?? undefined),
});

// `updates` is required: a ticket read without it would make the duplicate check after an
// ambiguous failure see "not posted" and post a second time.
export const ticketSchema: z.ZodType<SirportlyTicket> = z.looseObject({
  reference: z.string(),
  subject: text,
  message_id: z.string().nullish(),
  updates: z.array(updateSchema),
});

export const temporaryAttachmentSchema = z
  .looseObject({
    temporary_token: z.string().min(1),
    temporary_token_expires_at: z.string().nullish(),
  })
  .transform((v): TemporaryAttachment => ({
    token: v.temporary_token,
    expiresAt: v.temporary_token_expires_at ?? null,
  }));

/** What tickets/submit created, as far as the gateway needs it. */
export interface SubmittedTicket {
  reference: string;
  /** Numeric ticket id; null when the answer did not carry one. */
  id: number | null;
}

// A 201 without a usable reference is 'bad_body' (ambiguous): the ticket may well exist, and the
// caller finds it again by its tag.
export const submittedTicketSchema = z
  .looseObject({
    reference: z.string().trim().min(1),
    id: z.number().nullish(),
  })
  .transform((v): SubmittedTicket => ({ reference: v.reference, id: v.id ?? null }));

// tickets/spql answers {"fields": [...], "results": [[col1, col2, …], …]}: one array per row, the
// selected columns in order. Only `results` is relied on; a row must carry the reference first.
export const spqlReferenceSchema = z
  .looseObject({
    results: z.array(z.tuple([z.string().trim().min(1)], z.unknown())),
  })
  .transform((v): string | null => v.results[0]?.[0] ?? null);

/** One of the account's meta objects (objects/*): only id and name are relied on. */
export interface SirportlyObject {
  id: number | string | null;
  name: string | null;
  [key: string]: unknown;
}

const objectSchema = z.looseObject({
  id: z
    .union([z.number(), z.string()])
    .nullish()
    .transform((v) => v ?? null),
  name: text,
});

// objects/* answer an array (departments, per the docs); a paginated {records: [...]} is taken too,
// as the other list methods answer that way and the other objects pages were not seen.
export const objectListSchema: z.ZodType<SirportlyObject[]> = z.union([
  z.array(objectSchema),
  z.looseObject({ records: z.array(objectSchema) }).transform((v) => v.records),
]);
