// `inspect` promises to show exactly what would be posted. The test mail of test/fixtures/mail
// (charsets, cid images, encoded file names, nested messages, broken MIME) goes in over SMTP;
// what the Sirportly double received must equal what `inspectMessage` says for the bytes the
// gateway stored, whether it drafts in-process or in the drafting pool (as `mailgate inspect` does).
import { fixture, fixtureFiles } from '../support/fixtures.js';
import { describeInspectMatchesPost } from '../support/inspect-matches-post.js';

const FILES = [
  ...fixtureFiles('charsets'),
  ...fixtureFiles('cid'),
  ...fixtureFiles('filenames'),
  ...fixtureFiles('nested'),
  'broken/missing-subtype.eml',
  'broken/missing-subtype-named.eml',
  'broken/no-closing-boundary.eml',
  'broken/bad-cte.eml',
  'broken/bad-base64.eml',
];

describeInspectMatchesPost(FILES, fixture);
