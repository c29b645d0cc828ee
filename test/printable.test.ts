import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { printable } from '../scripts/printable.ts';
import { workflowCommands } from './helpers/workflow-log.ts';

/** What must never reach a terminal or a log raw: controls, line/paragraph separators, bidi controls. */
const UNSAFE = /[\p{Cc}\p{Zl}\p{Zp}\p{Bidi_Control}]/u;

/** Text rich in what matters here, mixed with any code point. */
const hostileText = fc.string({
  unit: fc.oneof(
    fc.constantFrom('\n', '\r', '\t', '\u001b', '[31m', '\u0085', '\u007f', '\u2028', '\u2029', '\u202e', '\u2066', '\u061c', ' ', '\u00a0', '\u3000', ':', '::', '#', '##[', ']', '::error::x', '::add-mask::'),
    fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
  ),
});

describe('printable', () => {
  test('control, separator and bidi characters become visible escapes', () => {
    expect(printable('evil\u001b[31m.example')).toBe('evil\\x1b[31m.example');
    expect(printable('a\u202eb\nc\r\td')).toBe('a\\u202eb\\nc\\r\\td');
    expect(printable('\u0000\u007f\u0085\u2028\u2029\u061c\u200e\u2067')).toBe('\\x00\\x7f\\x85\\u2028\\u2029\\u061c\\u200e\\u2067');
  });

  test('ordinary text is left alone, non-ASCII and emoji included', () => {
    expect(printable('plain.example — ok: ü 😀 a::b #1')).toBe('plain.example — ok: ü 😀 a::b #1');
  });

  test('a value cannot start a workflow command, at the start of a line or (legacy ##[) anywhere', () => {
    expect(printable('::error::x')).toBe('\\x3a:error::x');
    expect(printable(' \u00a0::add-mask::secret')).toBe(' \u00a0\\x3a:add-mask::secret');
    expect(printable('see ##[error]x')).toBe('see ##\\x5berror]x');
    expect(workflowCommands(`  ${printable('::stop-commands::token')}`)).toEqual([]);
  });

  test('property: the output holds no control character and starts no workflow command', () => {
    fc.assert(
      fc.property(hostileText, fc.constantFrom('', ' ', '  ', '\t'), (text, indent) => {
        const shown = printable(text);
        expect(shown).not.toMatch(UNSAFE);
        expect(workflowCommands(`${indent}${shown}`)).toEqual([]);
      }),
      { numRuns: 2000 },
    );
  });

  test('property: text with nothing to escape comes out unchanged', () => {
    const safe = fc.string({ unit: 'binary' }).filter((text) => !UNSAFE.test(text) && !/^\s*::/u.test(text) && !text.includes('##['));
    fc.assert(fc.property(safe, (text) => printable(text) === text));
  });
});
