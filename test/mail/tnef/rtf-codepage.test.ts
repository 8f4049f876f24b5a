import { describe, expect, it } from 'vitest';
import { decodeBytes } from '../../../src/mail/charset.js';
import { codepageLabel, fcharsetCodepage } from '../../../src/mail/tnef/rtf-codepage.js';

describe('DOS code pages (TNEF attOemCodepage, RTF \\fcharset 254/255)', () => {
  it('437 and 850 decode as themselves, not as Latin-1', () => {
    // é ü Ä in both; 0xB0 is a box-drawing shade in 437, 0xA9 ® and 0xCF ¤ in 850.
    expect(decodeBytes(Buffer.from([0x82, 0x81, 0x8e, 0xb0]), codepageLabel(437))).toBe('éüÄ░');
    expect(decodeBytes(Buffer.from([0x82, 0x81, 0x8e, 0xa9, 0xcf]), codepageLabel(850))).toBe('éüÄ®¤');
    expect(decodeBytes(Buffer.from([0x82, 0x81]), codepageLabel(fcharsetCodepage(255)))).toBe('éü');
    expect(decodeBytes(Buffer.from([0x82, 0x81]), codepageLabel(fcharsetCodepage(254)))).toBe('éü');
  });

  it('866 stays the WHATWG ibm866', () => {
    expect(codepageLabel(866)).toBe('ibm866');
  });
});
