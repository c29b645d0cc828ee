/**
 * Untrusted text (YAML values, file names, report fields, DNS answers, server replies) made safe for
 * each place it is shown: a terminal or a GitHub Actions log (`printable`), one line of a title, commit
 * message or YAML comment (`oneLine`), GitHub-flavoured Markdown (`escapeMarkdown`, `markdownTable`,
 * `fenced` code blocks, `safeUrl` for link targets), HTML (`escapeHtml`) and one word of a command a
 * reader pastes into a POSIX shell (`shellQuote`). Pure and browser-safe:
 * the dashboard uses `escapeHtml` in the page as well as at build time.
 */

// ---------------------------------------------------------------------------------------------
// Terminals and workflow logs

/**
 * Characters shown as escapes: controls (C0, DEL, C1; ESC starts ANSI sequences, CR/LF end the line),
 * line and paragraph separators, and the bidi controls that reorder what is shown (Trojan Source,
 * CVE-2021-42574: U+061C, U+200E/F, U+202A–E, U+2066–9).
 */
const INVISIBLE = /[\p{Cc}\p{Zl}\p{Zp}\p{Bidi_Control}]/gu;

const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/**
 * The runner treats a line as a workflow command when, after leading whitespace (.NET `TrimStart`),
 * it starts with `::` (`::error::`, `::add-mask::`, `::stop-commands::` …), and, in the legacy form, when
 * `##[` appears anywhere in it (actions/runner, ActionCommand.TryParseV2 and TryParse). A value may be
 * printed at the start of a line, so a leading `::` loses its first colon to an escape, as does `##[`.
 * https://docs.github.com/actions/reference/workflow-commands-for-github-actions
 */
const LEADING_COMMAND = /^([\s\u180e]*):(?=:)/u;
const LEGACY_COMMAND = /##\[/g;

function escapeChar(char: string): string {
  const code = char.codePointAt(0) ?? 0;
  return NAMED[char] ?? (code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`);
}

/**
 * `text` for a terminal or a workflow log: invisible and line-breaking characters become visible
 * escapes (`\n`, `\x1b`, `\u202e`), and nothing in it can start a workflow command. Backslashes are
 * left as they are, so `\n` in the output may also be a backslash and an n in the input: the escape
 * keeps the text on one line; it is for reading, not for decoding.
 */
export function printable(text: string): string {
  return text.replace(INVISIBLE, escapeChar).replace(LEADING_COMMAND, '$1\\x3a').replace(LEGACY_COMMAND, '##\\x5b');
}

const INVISIBLE_RUN = /[\p{Cc}\p{Zl}\p{Zp}\p{Bidi_Control}]+/gu;

/**
 * `text` as one line where an escape would read badly (an issue or pull-request title, a commit
 * subject, a YAML comment): each run of the characters `printable` escapes becomes one space, and the
 * ends are trimmed, so the text can neither break the line nor reorder what is shown.
 */
export function oneLine(text: string): string {
  return text.replace(INVISIBLE_RUN, ' ').trim();
}

// ---------------------------------------------------------------------------------------------
// GitHub-flavoured Markdown: text from reports and YAML must render as the characters it is, never
// as emphasis, links, HTML or table structure, and never notify anyone.

const MARKDOWN_SPECIAL = /[\\`*_{}[\]()#+\-.!|~<>&"']/g;
/** The characters HTML reads as markup or as the end of a quoted attribute; Markdown passes entities through. */
const HTML_ENTITIES: Record<string, string> = { '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&#39;' };

/**
 * GitHub turns `@name` and `@org/team` into mentions that notify, and `#123`, `owner/repo#123` and
 * `GH-123` into references that also add a "mentioned this" entry to the other issue's timeline. It
 * finds them in the rendered text, after Markdown: `\@` and `&#64;` both render as `@` and still
 * mention (github/markup#1168, github/cmark-gfm#181). A zero-width space (`&#8203;`, rendered
 * invisibly) between the sign and the name breaks the match and keeps the text as it looks. An `@`
 * right after a letter or digit is left alone: GitHub does not read `dmarc@example.com` as a mention,
 * and an address in a comment should copy cleanly.
 */
const MENTION = /(?<![A-Za-z0-9])@(?=[A-Za-z0-9])/g;
/** `#` and `-` are backslash-escaped by then: `\#123`, `GH\-123`. */
const REFERENCE = /(\\#|(?<![A-Za-z0-9])GH\\-)(?=[0-9])/gi;
const ZERO_WIDTH_SPACE = '&#8203;';

/**
 * Escape for inline Markdown (GitHub-flavoured), including table cells. The text is `printable`
 * first, so a newline shows as `\n` and cannot end a table row, and bidi controls cannot reorder it.
 */
export function escapeMarkdown(text: string): string {
  return printable(text)
    .replace(MARKDOWN_SPECIAL, (char) => HTML_ENTITIES[char] ?? `\\${char}`)
    .replace(MENTION, `@${ZERO_WIDTH_SPACE}`)
    .replace(REFERENCE, `$1${ZERO_WIDTH_SPACE}`);
}

/**
 * A link target from data (a dashboard URL in the config, a page we link to): http(s) only, and
 * nothing that could end a Markdown link or a quoted HTML attribute; null otherwise, and the caller
 * leaves the link out.
 */
export function safeUrl(url: string | null): string | null {
  return url !== null && /^https?:\/\/[^\s()<>"'`\\]+$/.test(url) ? url : null;
}

/** A fenced code block whose fence cannot be closed by its content (CommonMark §4.5): the content shows as it is. */
export function fenced(info: string, content: string): string {
  const longest = Math.max(0, ...[...content.matchAll(/`+/g)].map((match) => match[0].length));
  const fence = '`'.repeat(Math.max(3, longest + 1));
  return `${fence}${info}\n${content}\n${fence}`;
}

/** A Markdown table from rows of already-escaped cells. */
export function markdownTable(head: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [line(head), line(head.map(() => '---')), ...rows.map(line)].join('\n');
}

// ---------------------------------------------------------------------------------------------
// HTML

/**
 * Text for HTML content and quoted attribute values; `null` and `undefined` give ''. The backtick
 * too, so a value can never close a template literal that a page script builds from it.
 */
export function escapeHtml(value: unknown): string {
  return String(value ?? '').replace(/[&<>"'`]/g, (c) => HTML_ENTITIES[c] ?? '&#96;');
}

// ---------------------------------------------------------------------------------------------
// Commands to paste

/**
 * `text` as one word of a POSIX shell command that a reader copies from a message and pastes: kept
 * as it is when it holds only characters no shell treats specially, else in single quotes, inside
 * which nothing is special (a single quote itself is closed, escaped and reopened: `'\''`). A
 * reporter's name from a forged report may be `$(curl … | sh)`: quoted, the shell passes it on as text.
 */
export function shellQuote(text: string): string {
  return /^[\w@%+=:,./-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
}
