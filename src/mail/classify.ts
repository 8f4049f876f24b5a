// Machine mail recognised from the header block alone, so auto-replies and bounces can be dropped
// at the door before they ever reach a ticket (and before an auto-responder loop can start).
import { stripComments, type HeaderBlock } from './headers.js';

export type MachineClass = 'auto_submitted' | 'delivery_report';

/** The leading token of a structured value (before any ';' parameters), lower-cased. */
function mainToken(value: string): string {
  // The token comes first: a megabyte of parameters need not be scanned at the door.
  return stripComments(value.slice(0, 4096)).split(';', 1)[0]!.trim().toLowerCase();
}

/**
 * Every machine class the headers show, most specific first: a bounce often also carries
 * Auto-Submitted, and each class has its own policy.
 */
export function machineClasses(headers: HeaderBlock): MachineClass[] {
  const classes: MachineClass[] = [];
  const contentType = headers.getRaw('content-type');
  if (contentType !== undefined && mainToken(contentType) === 'multipart/report') classes.push('delivery_report');
  // RFC 3834: any value but "no" marks machine mail. An empty value counts as machine mail too:
  // a mail loop costs more than one dropped message with a malformed header.
  const autoSubmitted = headers.getRaw('auto-submitted');
  if (autoSubmitted !== undefined && mainToken(autoSubmitted) !== 'no') classes.push('auto_submitted');
  return classes;
}

/** The most specific machine class, or null for mail written by a person. */
export function classify(headers: HeaderBlock): MachineClass | null {
  return machineClasses(headers)[0] ?? null;
}
