// A month of a made-up developer mailing list, written for the tests: threads of questions and
// replies (In-Reply-To, References), list headers, several Date styles and time zones, bodies with
// lines that start with "From " (quoted in an mbox) and quoted-printable, HTML and multipart mail.
// Deterministic: message i is always the same bytes.

const PEOPLE = [
  'Ada Lovell <ada@example.org>',
  '"Brun, Karl" <karl.brun@example.net>',
  'Chen Wei <chen@example.com>',
  'Dora Ikeda <dora@example.org>',
  'Emil Østby <emil@example.net>',
];
const TOPICS = [
  'release 4.1 vote',
  'flaky integration test on CI',
  'plugin resolution order',
  'moving the site to the new host',
  'parallel build hangs',
  'deprecating the old API',
];

// The first twelve dates, in archive order: three on the morning of 1 Dec 2017 (UTC), seven between
// 12:00 and 24:00 UTC that day (one written as -0500), two on 2 Dec. Later messages follow hourly.
const FIRST_DATES = [
  'Fri, 1 Dec 2017 08:12:40 +0100',
  'Fri, 01 Dec 2017 09:30:05 +0000',
  'Fri,  1 Dec 2017 11:02:17 +0000 (UTC)',
  'Fri,  1 Dec 2017 12:20:00 +0000 (UTC)',
  'Fri,  1 Dec 2017 14:45:31 +0000 (UTC)',
  'Fri, 1 Dec 2017 11:05:09 -0500',
  'Fri,  1 Dec 2017 17:18:44 +0000 (UTC)',
  'Fri,  1 Dec 2017 19:02:13 +0000 (UTC)',
  'Fri,  1 Dec 2017 21:40:00 +0000',
  'Fri,  1 Dec 2017 23:59:30 +0000 (UTC)',
  'Sat,  2 Dec 2017 02:10:00 +0100 (CET)',
  'Sat, 2 Dec 2017 10:15:22 +0000',
];

function dateOf(i: number): string {
  if (i < FIRST_DATES.length) return FIRST_DATES[i]!;
  const d = new Date(Date.UTC(2017, 11, 2, 12) + (i - FIRST_DATES.length) * 3_600_000 * 5);
  return d.toUTCString().replace('GMT', '+0000');
}

export interface ListMessage {
  raw: Buffer;
  messageId: string;
  inReplyTo?: string;
}

/** `count` messages; every third starts a thread, the others answer an earlier one of its thread. */
export function listMonth(count: number): ListMessage[] {
  const out: ListMessage[] = [];
  const threads: string[][] = [];
  for (let i = 0; i < count; i++) {
    const starts = i % 3 === 0;
    const thread = starts ? threads.push([]) - 1 : (i * 7) % threads.length;
    const ids = threads[thread]!;
    const topic = TOPICS[thread % TOPICS.length]!;
    const messageId = `<list.${i}.${thread}@lists.example.org>`;
    const parent = starts ? undefined : ids[(i * 5) % ids.length];
    const head = [
      `From: ${PEOPLE[i % PEOPLE.length]}`,
      'To: dev@lists.example.org',
      `Subject: ${parent ? 'Re: ' : ''}${topic}${thread >= TOPICS.length ? ` (part ${Math.floor(thread / TOPICS.length) + 1})` : ''}`,
      `Date: ${dateOf(i)}`,
      `Message-ID: ${messageId}`,
      ...(parent
        ? [
            `In-Reply-To: ${parent}`,
            `References: ${[...ids.slice(0, 1), parent].filter((v, k, a) => a.indexOf(v) === k).join(' ')}`,
          ]
        : []),
      'Precedence: bulk',
      'List-Id: <dev.lists.example.org>',
      'List-Post: <mailto:dev@lists.example.org>',
    ];
    let body: string[];
    if (i % 5 === 1) {
      head.push(
        'MIME-Version: 1.0',
        'Content-Type: text/plain; charset=utf-8',
        'Content-Transfer-Encoding: quoted-printable',
      );
      body = [
        `Message ${i}: the build on the CI agent took 14 minutes, =C3=BCber the usual =`,
        'limit.',
        '',
        'From my perspective we should split the module.',
        '',
      ];
    } else if (i % 5 === 2) {
      const b = `alt-${i}`;
      head.push('MIME-Version: 1.0', `Content-Type: multipart/alternative; boundary="${b}"`);
      body = [
        `--${b}`,
        'Content-Type: text/plain; charset=us-ascii',
        '',
        `Message ${i}: see the log below.`,
        '>From the first run it fails at step 3.',
        '',
        `--${b}`,
        'Content-Type: text/html; charset=us-ascii',
        '',
        `<p>Message ${i}: see the log below.</p><p>&gt;From the first run it fails at step 3.</p>`,
        `--${b}--`,
        '',
      ];
    } else {
      head.push('Content-Type: text/plain; charset=us-ascii');
      body = [
        `Message ${i} on ${topic}.`,
        '',
        ...(parent ? [`> earlier in the thread (${parent})`, ''] : []),
        'From what I can tell the fix is small.',
        '',
        '-- ',
        `${PEOPLE[i % PEOPLE.length]!.replace(/ <.*/, '')}`,
        '',
      ];
    }
    if (parent) ids.push(messageId);
    else ids.push(messageId);
    out.push({
      raw: Buffer.from([...head, '', ...body].join('\n'), 'utf8'),
      messageId,
      ...(parent ? { inReplyTo: parent } : {}),
    });
  }
  return out;
}

/** The From_ line for message i (a mailing-list archive style envelope line). */
export function fromLineOf(i: number): string {
  const d = new Date(Date.UTC(2017, 11, 1, 8) + i * 3_600_000);
  const asctime = `${d.toUTCString().slice(0, 3)} ${d.toUTCString().slice(8, 11)} ${String(d.getUTCDate()).padStart(2, ' ')} ${d.toISOString().slice(11, 19)} ${d.getUTCFullYear()}`;
  return `From dev-return-${i}@lists.example.org ${asctime}`;
}
