import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { escapeMarkdown, markdownTable } from '../../scripts/github/markdown.ts';

const ENTITIES: Record<string, string> = { '&lt;': '<', '&gt;': '>', '&amp;': '&', '&quot;': '"', '&#39;': "'", '&#8203;': '\u200b' };

/** The text GitHub's mention and reference filters see: backslash escapes and entities decoded (CommonMark §2.4, §2.5). */
function rendered(markdown: string): string {
  return markdown.replace(/\\([!-/:-@[-`{-~])|&(?:lt|gt|amp|quot|#39|#8203);/g, (match, escaped: string | undefined) => escaped ?? ENTITIES[match] ?? match);
}

/** `@name` or `@org/team` not glued to a word before it (github/html-pipeline MentionFilter, less its look-ahead). */
const MENTION = /(?:^|[^A-Za-z0-9_])@[A-Za-z0-9]/;
/** `#123`, `owner/repo#123`, `GH-123`. */
const REFERENCE = /#[0-9]|(?:^|[^A-Za-z0-9_])GH-[0-9]/i;

describe('escapeMarkdown', () => {
  test('mentions of users and teams are broken by a zero-width space, so nobody is notified', () => {
    expect(escapeMarkdown('@alice')).toBe('@&#8203;alice');
    expect(escapeMarkdown('ask @example-org/mail-admins (@bob)')).toBe('ask @&#8203;example\\-org/mail\\-admins \\(@&#8203;bob\\)');
    expect(escapeMarkdown('é@carol, -@dave')).toBe('é@&#8203;carol, \\-@&#8203;dave');
  });

  test('an e-mail address is not a mention and stays as it is', () => {
    expect(escapeMarkdown('dmarc@example.com')).toBe('dmarc@example\\.com');
  });

  test('issue references (#1, owner/repo#1, GH-1) are broken too; other hashes are only escaped', () => {
    expect(escapeMarkdown('#12 acme/site#3 GH-4 gh-5')).toBe('\\#&#8203;12 acme/site\\#&#8203;3 GH\\-&#8203;4 gh\\-&#8203;5');
    expect(escapeMarkdown('#tag aGH-1x')).toBe('\\#tag aGH\\-1x');
  });

  test('Markdown and HTML render as text; a newline shows as \\n and cannot end a table row', () => {
    expect(escapeMarkdown('*a* [b](c) <i>|</i>\nnext')).toBe('\\*a\\* \\[b\\]\\(c\\) &lt;i&gt;\\|&lt;/i&gt;\\\\nnext');
    const table = markdownTable(['name'], [[escapeMarkdown('x\n| y | z |')]]);
    expect(table.split('\n')).toHaveLength(3);
  });

  test('property: whatever the text, the rendered result mentions nobody and references nothing', () => {
    const text = fc.string({ unit: fc.oneof(fc.constantFrom('@', '#', 'GH-', 'gh', '-', '/', '_', '\\', '&', '#64;', 'a', 'Z', '9', ' ', '\n', 'é', '.'), fc.string({ unit: 'binary', maxLength: 1 })) });
    fc.assert(
      fc.property(text, (input) => {
        const shown = rendered(escapeMarkdown(input));
        expect(shown).not.toMatch(MENTION);
        expect(shown).not.toMatch(REFERENCE);
      }),
      { numRuns: 2000 },
    );
  });
});
