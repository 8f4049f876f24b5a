import { describe, expect, it } from 'vitest';
import {
  ATTACHMENTS_ONLY_TEXT,
  EMPTY_MESSAGE_TEXT,
  composeBody,
  htmlToMessageText,
} from '../../../src/mail/draft/body.js';
import { sanitiseHtml } from '../../../src/mail/draft/sanitize.js';

describe('sanitiseHtml', () => {
  const hostile = [
    '<p onclick="steal()">Hello <b>there</b></p>',
    '<script>alert(1)</script>',
    '<img src="x" onerror="alert(2)">',
    '<img src="cid:logo@example.com" alt="Logo">',
    '<img src="data:image/png;base64,AAAA">',
    '<a href="javascript:alert(3)">js</a>',
    '<a href="JaVaScRiPt&#58;alert(4)">entity js</a>',
    '<a href="vbscript:msgbox(5)">vb</a>',
    '<a href="data:text/html,<script>alert(6)</script>">data</a>',
    '<a href="https://example.com/x">ok link</a>',
    '<iframe src="https://evil.example"></iframe>',
    '<form action="https://evil.example"><input name="pw"></form>',
    '<object data="x.swf"></object><embed src="y.swf">',
    '<style>body{display:none}</style>',
    '<table border="1"><tr><td colspan="2" style="color: red; position: fixed; background: url(https://t.example/p)">cell</td></tr></table>',
  ].join('\n');
  const clean = sanitiseHtml(hostile);

  it('removes scripts, handlers, frames, forms, plugins and style sheets', () => {
    expect(clean).not.toMatch(
      /<script|alert\(1\)|onerror|onclick|<iframe|<form|<input|<object|<embed|<style|display:none/i,
    );
  });

  it('removes javascript:, vbscript: and data: URLs', () => {
    expect(clean).not.toMatch(/javascript|vbscript|data:/i);
  });

  it('keeps cid: images, https links, tables and basic formatting', () => {
    expect(clean).toContain('<img src="cid:logo@example.com" alt="Logo" />');
    expect(clean).toMatch(/<a href="https:\/\/example.com\/x"[^>]*>ok link<\/a>/);
    expect(clean).toContain('<b>there</b>');
    expect(clean).toMatch(/<table border="1"><tr><td colspan="2" style="color:red">cell<\/td><\/tr><\/table>/);
  });

  it('neuters links that would leak the staff UI as referrer', () => {
    expect(clean).toMatch(/<a href="https:\/\/example.com\/x" rel="noopener noreferrer nofollow" target="_blank">/);
  });
});

describe('htmlToMessageText', () => {
  it('keeps text, shows link targets, does not wrap, skips image sources', () => {
    const long = 'word '.repeat(40).trim();
    const text = htmlToMessageText(
      `<h1>Title</h1><p>${long}</p><p><a href="https://e.example/a">here</a> <img src="cid:x" alt="chart"><img src="cid:y"></p>`,
    );
    expect(text).toContain('Title');
    expect(text).toContain(long);
    expect(text).toContain('here <https://e.example/a>');
    expect(text).toContain('[chart]');
    expect(text).not.toContain('cid:');
  });
});

describe('composeBody', () => {
  it('prefers text/plain and sends sanitised HTML with html_safe', () => {
    const b = composeBody({ text: 'Plain text\n\n', html: '<p>Rich <script>x()</script></p>', attachmentCount: 0 });
    expect(b).toEqual({ message: 'Plain text', html_body: '<p>Rich </p>', html_safe: '1' });
  });

  it('converts HTML to text when there is no text/plain', () => {
    const b = composeBody({ html: '<p>Only <b>HTML</b></p><script>secret()</script>', attachmentCount: 0 });
    expect(b.message).toBe('Only HTML');
    expect(b.html_body).toBe('<p>Only <b>HTML</b></p>');
  });

  it('treats a whitespace-only text/plain as no text', () => {
    expect(composeBody({ text: ' \n ', html: '<p>From HTML</p>', attachmentCount: 0 }).message).toBe('From HTML');
  });

  it('uses a placeholder for attachment-only and for empty mail, never an empty message', () => {
    expect(composeBody({ attachmentCount: 2 })).toEqual({ message: ATTACHMENTS_ONLY_TEXT });
    expect(composeBody({ text: '', attachmentCount: 0 })).toEqual({ message: EMPTY_MESSAGE_TEXT });
    const imageOnly = composeBody({ html: '<img src="cid:a">', attachmentCount: 1 });
    expect(imageOnly.message).toBe(ATTACHMENTS_ONLY_TEXT);
    expect(imageOnly.html_body).toBe('<img src="cid:a" />');
  });

  it('omits html_body and html_safe without an HTML part', () => {
    const b = composeBody({ text: 'hi', attachmentCount: 0 });
    expect('html_body' in b).toBe(false);
    expect('html_safe' in b).toBe(false);
  });
});
