// The sanitiser is the only thing between hostile mail and a staff session (html_safe=1). Known
// XSS vectors (OWASP filter-evasion cheat sheet, html5sec.org, mutation XSS) must come out inert;
// tables, basic formatting and cid: images must survive.
import { describe, expect, it } from 'vitest';
import { sanitiseHtml } from '../../../src/mail/draft/sanitize.js';

const VECTORS: string[] = [
  '<script>alert(1)</script>',
  '<SCRIPT SRC=http://xss.example/xss.js></SCRIPT>',
  '<scr<script>ipt>alert(1)</scr</script>ipt>',
  '<img src=x onerror=alert(1)>',
  '<IMG SRC="javascript:alert(1);">',
  '<IMG SRC=JaVaScRiPt:alert(1)>',
  '<IMG SRC=`javascript:alert(1)`>',
  '<IMG SRC=&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;&#97;&#108;&#101;&#114;&#116;&#40;&#39;&#88;&#83;&#83;&#39;&#41;>',
  '<IMG SRC=&#x6A&#x61&#x76&#x61&#x73&#x63&#x72&#x69&#x70&#x74&#x3A&#x61&#x6C&#x65&#x72&#x74&#x28&#x27&#x58&#x53&#x53&#x27&#x29>',
  '<IMG SRC="jav\tascript:alert(1);">',
  '<IMG SRC="jav&#x09;ascript:alert(1);">',
  '<IMG SRC="jav&#x0A;ascript:alert(1);">',
  '<IMG SRC=" &#14;  javascript:alert(1);">',
  '<a href="javascript:alert(1)">x</a>',
  '<a href="  JAVASCRIPT:alert(1)">x</a>',
  '<a href="java\u0000script:alert(1)">x</a>',
  '<a href="jav&#x61;script:alert(1)">x</a>',
  '<a href="vbscript:msgbox(1)">x</a>',
  '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">x</a>',
  '<img src="data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+">',
  '<a href="//evil.example/">protocol-relative</a>',
  '<svg onload=alert(1)>',
  '<svg><script>alert(1)</script></svg>',
  '<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>',
  '<iframe src="javascript:alert(1)"></iframe>',
  '<iframe srcdoc="<script>alert(1)</script>"></iframe>',
  '<object data="javascript:alert(1)"></object>',
  '<embed src="javascript:alert(1)">',
  '<form action="javascript:alert(1)"><input type=submit></form>',
  '<button formaction="javascript:alert(1)">x</button>',
  '<isindex action="javascript:alert(1)" type=submit>',
  '<base href="javascript:alert(1)//">',
  '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
  '<link rel="stylesheet" href="javascript:alert(1)">',
  '<style>@import "javascript:alert(1)";</style>',
  '<style>body{background:url("javascript:alert(1)")}</style>',
  '<div style="background-image: url(javascript:alert(1))">x</div>',
  '<div style="width: expression(alert(1))">x</div>',
  '<div style="color: red; background: u\\72 l(javascript:alert(1))">x</div>',
  '<table background="javascript:alert(1)"><tr><td>x</td></tr></table>',
  '<td background="javascript:alert(1)">x</td>',
  '<body onload=alert(1)>',
  '<details open ontoggle=alert(1)>',
  '<marquee onstart=alert(1)>x</marquee>',
  '<video><source onerror="alert(1)">',
  '<input autofocus onfocus=alert(1)>',
  '<textarea><script>alert(1)</script></textarea>',
  '<noscript><p title="</noscript><img src=x onerror=alert(1)>">',
  '<!--<img src="--><img src=x onerror=alert(1)//">',
  '<![CDATA[<script>alert(1)</script>]]>',
  '<xss:script xmlns:xss="http://www.w3.org/1999/xhtml">alert(1)</xss:script>',
  '<img src="x" alt="" onerror="alert(1)" />',
  '<img srcset="javascript:alert(1) 1x">',
  '<a href="#" onclick="alert(1)">x</a>',
  '<div onmouseover="alert(1)">hover</div>',
  '<bgsound src="javascript:alert(1)">',
  '<applet code="x"></applet>',
  '<template><script>alert(1)</script></template>',
  '<a href="&#0000106&#0000097&#0000118&#0000097&#0000115&#0000099&#0000114&#0000105&#0000112&#0000116&#0000058alert(1)">x</a>',
  '<img src=x:alert(alt) onerror=eval(src) alt=0>',
  '<a href="jAvAsCrIpT&colon;alert(1)">x</a>',
];

/** Entities decoded and control characters dropped, the way a browser reads an attribute. */
function asBrowserReads(html: string): string {
  return html
    .replace(/&#x([0-9a-f]+);?/gi, (_m, h: string) => String.fromCodePoint(parseInt(h, 16)))
    .replace(/&#(\d+);?/g, (_m, d: string) => String.fromCodePoint(Number(d)))
    .replace(/&colon;/gi, ':')
    .replace(/&tab;|&newline;/gi, '')
    .replace(/[\u0000-\u0020]/g, '')
    .toLowerCase();
}

describe('sanitiseHtml against XSS vectors', () => {
  it.each(VECTORS.map((v) => [v]))('%s', (vector) => {
    const out = sanitiseHtml(vector);
    const read = asBrowserReads(out);
    expect(out).not.toMatch(
      /<\s*(script|style|iframe|object|embed|form|input|button|base|meta|link|svg|math|applet|bgsound|isindex|textarea|template|video|source|body|marquee|details)\b/i,
    );
    expect(out).not.toMatch(/\son[a-z]+\s*=/i);
    expect(read).not.toMatch(/javascript:|vbscript:|data:|expression\(|url\(/);
    expect(out).not.toMatch(/href="\/\//);
    // Stable: sanitising the output again changes nothing (no mutation left to exploit).
    expect(sanitiseHtml(out)).toBe(out);
  });
});

describe('sanitiseHtml keeps what staff need', () => {
  it('keeps tables, basic formatting, safe links and cid: images', () => {
    const html =
      '<table border="1" cellpadding="2"><thead><tr><th colspan="2">Head</th></tr></thead><tbody><tr><td style="color: #333; text-align: right">a</td><td>b</td></tr></tbody></table>' +
      '<p><b>bold</b> <i>it</i> <u>u</u> <s>s</s> <br /><font color="red">red</font></p><ul><li>one</li></ul><blockquote>quoted</blockquote>' +
      '<a href="https://example.com/x?a=1&amp;b=2">link</a> <a href="mailto:a@example.com">mail</a>' +
      '<img src="cid:image001.png@01D0" alt="logo" width="10" height="10" />';
    const out = sanitiseHtml(html);
    for (const kept of [
      '<table border="1" cellpadding="2">',
      '<th colspan="2">Head</th>',
      'style="color:#333;text-align:right"',
      '<b>bold</b>',
      '<i>it</i>',
      '<u>u</u>',
      '<s>s</s>',
      '<font color="red">red</font>',
      '<li>one</li>',
      '<blockquote>quoted</blockquote>',
      'src="cid:image001.png@01D0"',
      'href="mailto:a@example.com"',
    ]) {
      expect(out).toContain(kept);
    }
    expect(out).toContain(
      '<a href="https://example.com/x?a=1&amp;b=2" rel="noopener noreferrer nofollow" target="_blank">link</a>',
    );
  });

  it('drops the text of style and script elements, not only the tags', () => {
    expect(sanitiseHtml('<style>p{color:red}</style><p>hi</p><script>var secret=1</script>')).toBe('<p>hi</p>');
  });
});
