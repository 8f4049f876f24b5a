// Which of smtp-server's replies are refusals of its own, and how they are labelled in
// mailgate_smtp_refused_total (the socket-level counts are in session-limits.test.ts).
import { describe, expect, it } from 'vitest';
import { serverRefusal } from '../../src/intake/server-refusals.js';

const DISABLED = ['AUTH', 'STARTTLS'];

describe('serverRefusal', () => {
  it('names what smtp-server refused by itself', () => {
    expect(serverRefusal(500, 'Error: command not recognized', 'XYZZY', DISABLED)).toEqual({
      stage: 'COMMAND',
      reason: 'unrecognized_command',
      allowance: true,
    });
    expect(serverRefusal(500, 'Error: command not recognized', 'STARTTLS', DISABLED)).toEqual({
      stage: 'STARTTLS',
      reason: 'disabled',
      allowance: true,
    });
    expect(serverRefusal(501, 'Error: Bad recipient address syntax', 'MAILBOX_SYNTAX_ERROR', DISABLED)?.reason).toBe(
      'syntax_error',
    );
    expect(serverRefusal(503, 'Error: need RCPT command', undefined, DISABLED)?.reason).toBe('bad_sequence');
    expect(serverRefusal(452, 'Error: too many recipients', 'TOO_MANY_RECIPIENTS', DISABLED)).toEqual({
      stage: 'RCPT',
      reason: 'too_many_recipients',
      allowance: true,
    });
    // MAIL FROM with a SIZE over the limit.
    expect(
      serverRefusal(552, 'Error: message exceeds fixed maximum message size 1000', 'MESSAGE_TOO_BIG', DISABLED),
    ).toEqual({
      stage: 'MAIL',
      reason: 'too_large',
      allowance: true,
    });
    expect(serverRefusal(550, 'Error: Not allowed', 'NOT_AUTHORIZED', DISABLED)?.reason).toBe('reply_550');
  });

  it('sessions ended by smtp-server are SESSION, and do not count towards the allowance', () => {
    expect(serverRefusal(421, 'Timeout - closing connection', undefined, DISABLED)).toEqual({
      stage: 'SESSION',
      reason: 'idle_timeout',
      allowance: false,
    });
    expect(serverRefusal(421, 'Error: too many unrecognized commands', 'FOO', DISABLED)?.reason).toBe(
      'too_many_unrecognized',
    );
    expect(serverRefusal(421, 'Error: Command line too long', undefined, DISABLED)?.reason).toBe('line_too_long');
    expect(serverRefusal(421, 'Server shutting down', 'MAIL', DISABLED)?.reason).toBe('shutting_down');
    expect(serverRefusal(421, 'mx.example You talk too soon', 'EHLO', DISABLED)?.reason).toBe('early_talker');
    expect(serverRefusal(421, 'Error: something new', undefined, DISABLED)?.reason).toBe('closed');
    // A handler of the gateway that threw: its fault, not the client's.
    expect(serverRefusal(451, 'Error: internal server error', undefined, DISABLED)).toEqual({
      stage: 'COMMAND',
      reason: 'internal_error',
      allowance: false,
    });
  });

  it("leaves out successes and the gateway's own replies (counted where decided), the size verdict on a message among them", () => {
    expect(serverRefusal(250, 'Accepted', 'RCPT_TO_OK', DISABLED)).toBeNull();
    expect(serverRefusal(354, 'End data with <CR><LF>.<CR><LF>', undefined, DISABLED)).toBeNull();
    expect(serverRefusal(550, '5.1.1 Recipient not accepted here: <a@b.example>', undefined, DISABLED)).toBeNull();
    expect(serverRefusal(421, '4.7.0 Too many refused commands, closing connection', false, DISABLED)).toBeNull();
    expect(serverRefusal(552, '5.3.4 Message exceeds the size limit', false, DISABLED)).toBeNull();
  });
});
