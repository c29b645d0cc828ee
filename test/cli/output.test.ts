import { expect, test } from 'vitest';
import { printable } from '../../scripts/cli/output.ts';

test('untrusted text cannot drive the terminal: control and bidi characters are shown escaped', () => {
  expect(printable('evil\u001b[31m.example')).toBe('evil\\u001b[31m.example');
  expect(printable('a\u202eb\nc')).toBe('a\\u202eb\\u000ac');
  expect(printable('plain.example — ok')).toBe('plain.example — ok');
});
