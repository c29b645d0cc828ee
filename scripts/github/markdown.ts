/**
 * Text from reports and YAML is untrusted: in Markdown it must render as the characters it is, never
 * as emphasis, links, HTML or table structure.
 */
const MARKDOWN_SPECIAL = /[\\`*_{}[\]()#+\-.!|~<>&"']/g;
const HTML_ENTITIES: Record<string, string> = { '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&#39;' };

/** Escape for inline Markdown (GitHub-flavoured), including table cells. Newlines become spaces. */
export function escapeMarkdown(text: string): string {
  return text.replace(/[\r\n]+/g, ' ').replace(MARKDOWN_SPECIAL, (char) => HTML_ENTITIES[char] ?? `\\${char}`);
}

/** A Markdown table from rows of already-escaped cells. */
export function markdownTable(head: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [line(head), line(head.map(() => '---')), ...rows.map(line)].join('\n');
}
