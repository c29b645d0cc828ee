import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { escapeHtml, escapeMarkdown, fenced, markdownTable, oneLine, printable, safeUrl, shellQuote } from '../../scripts/lib/escape.ts';
import { workflowCommands } from '../helpers/workflow-log.ts';

/** What must never reach a terminal or a log raw: controls, line/paragraph separators, bidi controls. */
const UNSAFE = /[\p{Cc}\p{Zl}\p{Zp}\p{Bidi_Control}]/u;

/** Text rich in what matters here, mixed with any code point. */
const hostileText = fc.string({
  unit: fc.oneof(
    fc.constantFrom(
      '\n',
      '\r',
      '\t',
      '\u001b',
      '[31m',
      '\u0085',
      '\u007f',
      '\u2028',
      '\u2029',
      '\u202e',
      '\u2066',
      '\u061c',
      ' ',
      '\u00a0',
      '\u3000',
      ':',
      '::',
      '#',
      '##[',
      ']',
      '::error::x',
      '::add-mask::',
    ),
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

const ENTITIES: Record<string, string> = { '&lt;': '<', '&gt;': '>', '&amp;': '&', '&quot;': '"', '&#39;': "'", '&#8203;': '\u200b' };

/** The text GitHub's mention and reference filters see: backslash escapes and entities decoded (CommonMark §2.4, §2.5). */
function rendered(markdown: string): string {
  return markdown.replace(
    /\\([!-/:-@[-`{-~])|&(?:lt|gt|amp|quot|#39|#8203);/g,
    (match, escaped: string | undefined) => escaped ?? ENTITIES[match] ?? match,
  );
}

/** `@name` or `@org/team` not glued to a word before it (github/html-pipeline MentionFilter, less its look-ahead). */
const MENTION = /(?:^|[^A-Za-z0-9_])@[A-Za-z0-9]/;
/** `#123`, `owner/repo#123`, `GH-123`. */
const REFERENCE = /#[0-9]|(?:^|[^A-Za-z0-9_])GH-[0-9]/i;

describe('oneLine', () => {
  test('line breaks, controls and bidi characters become one space each run; the ends are trimmed', () => {
    expect(oneLine('  Mail\r\n\u202eService\u0000\u2028Inc  ')).toBe('Mail Service Inc');
    expect(oneLine('Newsletters — ü 😀')).toBe('Newsletters — ü 😀');
  });

  test('nothing unsafe is left, and the text stays on one line', () => {
    fc.assert(
      fc.property(hostileText, (text) => {
        const line = oneLine(text);
        expect(line).not.toMatch(UNSAFE);
        expect(line).toBe(line.trim());
      }),
    );
  });
});

describe('safeUrl', () => {
  test('http(s) URLs pass as they are', () => {
    expect(safeUrl('https://dmarc.example.com/domains/example.com/?window=30')).toBe(
      'https://dmarc.example.com/domains/example.com/?window=30',
    );
    expect(safeUrl('http://localhost:4321/')).toBe('http://localhost:4321/');
  });

  test('other schemes, and anything that could end a Markdown link or an HTML attribute, are refused', () => {
    const refused = ['javascript:alert(1)', 'data:text/html,x', 'ftp://example.com/', ''];
    const breakOut = ['a)b', '"onmouseover=x', "'", '<b>', 'a b', '`', '\\'].map((tail) => `https://x.example/${tail}`);
    for (const url of [...refused, ...breakOut]) expect(safeUrl(url), url).toBeNull();
    expect(safeUrl(null)).toBeNull();
  });
});

describe('fenced', () => {
  test('the fence is longer than any backtick run inside, and at least three', () => {
    expect(fenced('yaml', 'name: Mail')).toBe('```yaml\nname: Mail\n```');
    expect(fenced('diff', 'a ```` b ` c')).toBe('`````diff\na ```` b ` c\n`````');
  });
});

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
    const text = fc.string({
      unit: fc.oneof(
        fc.constantFrom('@', '#', 'GH-', 'gh', '-', '/', '_', '\\', '&', '#64;', 'a', 'Z', '9', ' ', '\n', 'é', '.'),
        fc.string({ unit: 'binary', maxLength: 1 }),
      ),
    });
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

describe('escapeHtml', () => {
  test('leaves no markup, attribute break-out or template literal', () => {
    const hostile = `<script>alert(1)</script>" onerror='x' \`\${y}\` &amp;`;
    const escaped = escapeHtml(hostile);
    expect(escaped).not.toMatch(/[<>"'`]/);
    expect(escaped).toContain('&amp;amp;');
    expect(escapeHtml(null)).toBe('');
  });

  test('property: decoding the five entities and &#96; gives the text back', () => {
    const entities: Record<string, string> = { '&lt;': '<', '&gt;': '>', '&amp;': '&', '&quot;': '"', '&#39;': "'", '&#96;': '`' };
    const decode = (html: string) => html.replace(/&(?:lt|gt|amp|quot|#39|#96);/g, (entity) => entities[entity] ?? entity);
    fc.assert(fc.property(fc.string({ unit: 'binary' }), (text) => decode(escapeHtml(text)) === text));
  });
});

describe('shellQuote', () => {
  test('a plain word stays as it is; anything else is single-quoted', () => {
    expect(shellQuote('google.com')).toBe('google.com');
    expect(shellQuote('reports/quarantine')).toBe('reports/quarantine');
    expect(shellQuote('Mail.Ru Group')).toBe(`'Mail.Ru Group'`);
    expect(shellQuote("it's")).toBe(`'it'\\''s'`);
    expect(shellQuote('')).toBe(`''`);
  });

  test('pasted into a real shell, a hostile name is one word, as written, and runs nothing', () => {
    const dir = mkdtempSync(join(tmpdir(), 'dmarcops-shell-'));
    try {
      const flag = join(dir, 'ran');
      const names = [
        `$(touch ${flag})`,
        `\`touch ${flag}\``,
        `x"; touch ${flag}; echo "`,
        `x'; touch ${flag}; echo '`,
        `a\nb; touch ${flag}`,
        `$HOME \\ * ? [a] ~ & | ; < > ( ) { } !`,
        `'''`,
      ];
      for (const name of names) {
        // printf '%s\0' prints each argument the shell made, so one word comes back as one.
        const out = execFileSync('sh', ['-c', `printf '%s\\0' ${shellQuote(name)}`], { encoding: 'utf8' });
        expect(out).toBe(`${name}\0`);
      }
      expect(existsSync(flag)).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('any text survives the round trip through sh', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 40 }), (text) => {
        // A shell argument cannot hold NUL; everything else must come back byte for byte.
        fc.pre(!text.includes('\0') && text.isWellFormed());
        const out = execFileSync('sh', ['-c', `printf '%s' ${shellQuote(text)}`], { encoding: 'utf8' });
        expect(out).toBe(text);
      }),
      { numRuns: 60 },
    );
  });
});
