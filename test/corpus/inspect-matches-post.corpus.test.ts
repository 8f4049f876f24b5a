// `inspect` promises to show exactly what would be posted. Real corpus mail goes in over SMTP;
// what the Sirportly double received must equal what `inspectMessage` says for the bytes the
// gateway stored.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { corpusRoot } from '../mail/helpers.js';
import { describeInspectMatchesPost } from '../support/inspect-matches-post.js';

const FILES = [
  'php-mime-mail-parser/m0001',
  'php-mime-mail-parser/m0002',
  'php-mime-mail-parser/m0003',
  'php-mime-mail-parser/m0008',
  'php-mime-mail-parser/m0011',
  'php-mime-mail-parser/m0014',
  'php-mime-mail-parser/m0018',
  'php-mime-mail-parser/m0021',
  'php-mime-mail-parser/m0025',
  'php-mime-mail-parser/issue115',
  'php-mime-mail-parser/issue158a',
  'nodemailer-mailparser/mixed.eml',
  'nodemailer-mailparser/nested.eml',
  'nodemailer-mailparser/base64encodedroot.eml',
  'cpython-test_email/msg_07.txt',
  'cpython-test_email/msg_45.txt',
];

describeInspectMatchesPost(FILES, (rel) => readFileSync(path.join(corpusRoot, rel)));
