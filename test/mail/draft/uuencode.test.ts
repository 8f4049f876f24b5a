import { describe, expect, it } from 'vitest';
import { extractUuBlocks, findUuBlocks } from '../../../src/mail/draft/uuencode.js';

describe('uuencode', () => {
  it('decodes the classic "Cat" example and a zero-length file', () => {
    expect(findUuBlocks('begin 644 cat.txt\n#0V%T\n`\nend\n')).toMatchObject([
      { filename: 'cat.txt', content: Buffer.from('Cat') },
    ]);
    expect(findUuBlocks('begin 600 empty\n`\nend\n')[0]!.content.length).toBe(0);
  });

  it('leaves text alone that only looks like a block', () => {
    const text = 'begin 644 is how it starts\nbut this line is not encoded at all\nend\n';
    expect(extractUuBlocks(text)).toEqual({ text, files: [] });
    // No "end": not a block.
    expect(findUuBlocks('begin 644 x\n#0V%T\n')).toEqual([]);
  });

  it('keeps only the last path segment of the name, and the text around the block', () => {
    const r = extractUuBlocks('before\r\nbegin 644 C:\\tmp\\cat.txt\r\n#0V%T\r\n`\r\nend\r\nafter\r\n');
    expect(r.files).toEqual([{ filename: 'cat.txt', content: Buffer.from('Cat') }]);
    expect(r.text).toBe('before\r\nafter\r\n');
  });
});
