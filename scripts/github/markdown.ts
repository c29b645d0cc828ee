/**
 * Text from reports and YAML is untrusted: in Markdown it must render as the characters it is, never
 * as emphasis, links, HTML or table structure, and never notify anyone.
 */
import { printable } from '../printable.ts';

const MARKDOWN_SPECIAL = /[\\`*_{}[\]()#+\-.!|~<>&"']/g;
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

/** A Markdown table from rows of already-escaped cells. */
export function markdownTable(head: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [line(head), line(head.map(() => '---')), ...rows.map(line)].join('\n');
}
