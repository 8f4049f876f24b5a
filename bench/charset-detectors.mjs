#!/usr/bin/env node
// Which charset detector reads raw 8-bit header values best: chardet or jschardet. Samples are
// short header-like lines (a subject, a display name) written in a language and encoded in one of
// its legacy charsets, plus the corpus's own header lines that are not UTF-8 (with the text a
// reader sees). A detection counts as right when the bytes decoded with the detected charset give
// the original text back (so GBK for GB2312 text is right). Prints figures per detector.
// Usage: node bench/charset-detectors.mjs  (corpus root: MAILGATE_CORPUS, default ../shared/corpus)
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import chardet from 'chardet';
import iconv from 'iconv-lite';
import jschardet from 'jschardet';

const here = path.dirname(fileURLToPath(import.meta.url));
const built = path.join(here, '../dist/src/mail/charset.js');
const gateway = existsSync(built) ? await import(built) : null;
if (!gateway) process.stderr.write('dist/ not built: the gateway row is left out (npm run build)\n');
const corpus = process.env.MAILGATE_CORPUS ?? path.join(here, '../../shared/corpus');

const TEXTS = {
  zh: ['关于您的订单发货问题的回复', '请尽快处理退款申请', '会议时间改到下周三下午', '王小明', '发票抬头需要修改'],
  zhTW: ['關於您的訂單出貨問題', '請盡快處理退款申請', '陳大文'],
  ja: [
    'お問い合わせありがとうございます',
    '請求書の再発行について',
    'パスワードを忘れました',
    '山田太郎',
    '至急：サーバーが停止しています',
  ],
  ko: ['주문 취소 요청드립니다', '배송이 아직 안 왔어요', '김철수'],
  ru: ['Не могу войти в личный кабинет', 'Счёт за октябрь', 'Иван Петров', 'Ответ на ваш запрос'],
  el: ['Ερώτηση για την παραγγελία', 'Γιώργος Παπαδόπουλος'],
  he: ['בקשה להחזר כספי', 'דוד כהן'],
  pl: ['Zamówienie nie dotarło, proszę o pomoc', 'Paweł Wiśniewski'],
  west: [
    'Rückfrage zu Ihrer Bestellung',
    'Réponse à votre demande',
    'Formação e informações',
    'Jörg Müller',
    'Señor Muñoz',
    'Grüße',
    'Café',
  ],
};
const CHARSETS = {
  zh: ['gb2312', 'gbk', 'gb18030'],
  zhTW: ['big5'],
  ja: ['shift_jis', 'euc-jp'],
  ko: ['euc-kr'],
  ru: ['windows-1251', 'koi8-r'],
  el: ['iso-8859-7'],
  he: ['windows-1255'],
  pl: ['iso-8859-2'],
  west: ['iso-8859-1', 'windows-1252'],
};

const samples = [];
for (const [lang, texts] of Object.entries(TEXTS)) {
  for (const charset of CHARSETS[lang])
    for (const text of texts) samples.push({ what: `${lang}/${charset}`, bytes: iconv.encode(text, charset), text });
}
// The corpus's header values that are not UTF-8, with the text they stand for.
const CORPUS = [
  ['mailgun-flanker/from-encoding.eml', 'From: ', '"Ingo Lütkebohle" <ingo@blank.pages.de>'],
  [
    'mikel-mail/emails/error_emails/invalid_subject_characters.eml',
    'Subject: ',
    'Formação FrenetikPolis: Mega Campanha Final Verão | Cursos de Setembro',
  ],
  ['mailgun-flanker/spam/broken-headers.eml', 'Subject: ', 'Forget Asking For A Link Exchange…'],
];
let corpusCount = 0;
if (existsSync(corpus)) {
  for (const [file, prefix, text] of CORPUS) {
    const raw = readFileSync(path.join(corpus, file));
    const at = raw.indexOf(Buffer.from(`\n${prefix}`));
    const end = raw.indexOf(0x0a, at + 1);
    samples.push({
      what: `corpus ${file}`,
      bytes:
        raw
          .subarray(at + 1 + prefix.length, end)
          .subarray(0, end - at - 1 - prefix.length)
          .toString('latin1')
          .replace(/\r$/, '') === ''
          ? Buffer.alloc(0)
          : raw.subarray(at + 1 + prefix.length, raw[end - 1] === 0x0d ? end - 1 : end),
      text,
    });
    corpusCount++;
  }
} else {
  process.stderr.write(`corpus not found at ${corpus}: synthetic samples only\n`);
}

/** The first of a ranked list of labels whose decoding has no replacement character. */
function firstClean(bytes, labels) {
  return labels.find((l) => iconv.encodingExists(l) && !iconv.decode(bytes, l).includes('\ufffd')) ?? null;
}

const detectors = {
  chardet: (b) => chardet.detect(b),
  jschardet: (b) => jschardet.detect(b.toString('binary')).encoding,
  // The ranked candidates, skipping those that cannot decode the bytes.
  'chardet ranked, first clean': (b) =>
    firstClean(
      b,
      chardet.analyse(b).map((c) => c.name),
    ),
  'jschardet ranked, first clean': (b) =>
    firstClean(
      b,
      jschardet.detectAll(b.toString('binary')).map((c) => c.encoding),
    ),
  // What the gateway runs (build first): jschardet for East Asian multi-byte answers, chardet's
  // confident candidates for the rest, then Latin-1.
  ...(gateway ? { 'gateway (dist/src/mail/charset.js)': (b) => gateway.detectedText(b)?.label ?? 'latin1' } : {}),
};

function decodesTo(bytes, label, text) {
  if (!label || !iconv.encodingExists(label)) return false;
  return iconv.decode(bytes, label) === text;
}

console.log(
  `${samples.length} samples (${corpusCount} from the corpus), node ${process.version}, ${new Date().toISOString()}`,
);
for (const [name, detect] of Object.entries(detectors)) {
  let right = 0;
  const byGroup = new Map();
  const wrong = [];
  for (const s of samples) {
    const label = detect(s.bytes);
    const ok = decodesTo(s.bytes, label, s.text);
    if (ok) right++;
    else wrong.push(`${s.what}: ${label ?? 'none'}`);
    const g = byGroup.get(s.what) ?? [0, 0];
    g[0] += ok ? 1 : 0;
    g[1]++;
    byGroup.set(s.what, g);
  }
  // Speed over the whole set, repeated: detection runs on the door's path for such headers.
  const rounds = 200;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < rounds; i++) for (const s of samples) detect(s.bytes);
  const usPer = Number(process.hrtime.bigint() - t0) / 1000 / (rounds * samples.length);
  console.log(
    `\n${name}: ${right}/${samples.length} right (${((100 * right) / samples.length).toFixed(1)}%), ${usPer.toFixed(1)} µs per value`,
  );
  console.log(`  ${[...byGroup].map(([w, [r, n]]) => `${w} ${r}/${n}`).join(', ')}`);
  if (wrong.length) console.log(`  wrong: ${wrong.join('; ')}`);
}
