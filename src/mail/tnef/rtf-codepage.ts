// Windows code pages (TNEF's attOemCodepage and PR_INTERNET_CPID, RTF's \ansicpg, \cpg and
// \fcharset) to labels decodeBytes knows: the WHATWG ones, and iconv-lite's for the DOS (OEM)
// code pages TextDecoder does not have.

export function codepageLabel(codepage: number | undefined): string {
  if (codepage === undefined || codepage === 0) return 'windows-1252';
  if (codepage === 65001) return 'utf-8';
  if (codepage === 20127) return 'us-ascii';
  if (codepage === 28591) return 'iso-8859-1';
  if (codepage >= 28592 && codepage <= 28606) return `iso-8859-${codepage - 28590}`;
  if (codepage === 20866) return 'koi8-r';
  if (codepage === 21866) return 'koi8-u';
  if (codepage === 932) return 'shift_jis';
  if (codepage === 936) return 'gbk';
  if (codepage === 866) return 'ibm866';
  // DOS code pages: cp437, cp850, cp852… (iconv-lite); as windows-437 they would fall to Latin-1.
  if (codepage === 437 || codepage === 737 || codepage === 775 || (codepage >= 850 && codepage <= 869))
    return `cp${codepage}`;
  if (codepage === 10000) return 'macintosh';
  if (codepage === 949) return 'euc-kr';
  if (codepage === 950) return 'big5';
  // windows-874 and windows-1250…1258 under their own names; anything else falls back in decodeBytes.
  return `windows-${codepage}`;
}

// RTF's \fcharsetN is a GDI character set, not a code page (MSFT-RTF, \fcharset table).
const FCHARSET_CODEPAGE: Record<number, number> = {
  0: 1252,
  77: 10000,
  128: 932,
  129: 949,
  134: 936,
  136: 950,
  161: 1253,
  162: 1254,
  163: 1258,
  177: 1255,
  178: 1256,
  186: 1257,
  204: 1251,
  222: 874,
  238: 1250,
  254: 437,
  255: 850,
};

/** The code page of a font's \fcharset; undefined (DEFAULT_CHARSET, symbol fonts…) means the document's. */
export function fcharsetCodepage(charset: number): number | undefined {
  return FCHARSET_CODEPAGE[charset];
}
