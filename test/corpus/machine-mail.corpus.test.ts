// The door on real machine mail: every bounce, auto-reply, read receipt and complaint of the
// bounceparser, flanker, MimeKit and mikel-mail corpora, with the verdict and reason written down
// per file in test/fixtures/machine-mail.json. Reviewed by hand: the "post" entries are spam
// (bounceparser spam-*), a challenge-response and a Lotus Notes out-of-office that carry no machine
// header at all (bluebottle, warning-6: the loop limit is what catches those), and ordinary
// MimeKit test messages.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { doorVerdict } from '../../src/mail/door/verdict.js';
import { corpusFile, envelope, POLICY_ALL_POST, repoRoot, testConfig } from '../mail/helpers.js';

const expected = JSON.parse(readFileSync(path.join(repoRoot, 'test/fixtures/machine-mail.json'), 'utf8')) as Record<
  string,
  { verdict: string; reason: string }
>;
// A plus-tag reference, so that mail which is not dropped posts instead of being rejected.
const env = envelope({ rcptTo: ['support+AB-123456@example.com'] });
const config = testConfig();

describe('machine mail in the corpus', () => {
  it('has its expectations', () => {
    expect(Object.keys(expected).length).toBeGreaterThan(150);
  });

  it.each(Object.entries(expected))('%s → %o', (file, want) => {
    const v = doorVerdict(corpusFile(file), env, config);
    expect({ verdict: v.verdict, reason: v.reason }).toEqual(want);
  });

  it('drops every bounce of bounceparser except the spam and two header-less auto-replies', () => {
    const posted = Object.entries(expected)
      .filter(([f, v]) => f.startsWith('bounceparser/') && v.verdict === 'post')
      .map(([f]) => path.basename(f));
    expect(posted.sort()).toEqual([
      'bluebottle.msg',
      'spam-bogus-email-in-report.msg',
      'spam-lots-of-bogus-addresses.msg',
      'spam-with-badly-parsed-email.msg',
      'spam-with-image.msg',
      'virus-caused-multiple-weird-reports.msg',
      'warning-6.msg',
    ]);
  });

  it('posts every class whose policy is post', () => {
    const all = testConfig({ policy: POLICY_ALL_POST });
    for (const file of Object.keys(expected))
      expect(doorVerdict(corpusFile(file), env, all).verdict, file).toBe('post');
  });
});
