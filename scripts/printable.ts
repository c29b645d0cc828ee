/**
 * Untrusted text (YAML values, file names, report fields, DNS answers, server replies) made safe to
 * print on a terminal and in a GitHub Actions log. Every printer passes each such value through
 * `printable`; a value then stays on its line and shows as the characters it holds.
 */

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
