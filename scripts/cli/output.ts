/**
 * Terminal output shared by the commands: colours that switch off under NO_COLOR or when the
 * stream is not a TTY, and compiler-style findings with a code frame.
 */
import { styleText } from 'node:util';
import type { Finding } from '../policy/model.ts';
import { sourceLine } from '../policy/source.ts';

type Style = Parameters<typeof styleText>[0];

export interface Output {
  out(line?: string): void;
  err(line?: string): void;
  /** Style text for stdout; plain when colours are off. */
  style(format: Style, text: string): string;
  colors: boolean;
}

export function createOutput(stdout: NodeJS.WriteStream = process.stdout, stderr: NodeJS.WriteStream = process.stderr, env: NodeJS.ProcessEnv = process.env): Output {
  const colors = Boolean(stdout.isTTY) && env.NO_COLOR === undefined && env.TERM !== 'dumb' && env.FORCE_COLOR !== '0';
  return {
    out: (line = '') => void stdout.write(`${line}\n`),
    err: (line = '') => void stderr.write(`${line}\n`),
    style: (format, text) => (colors ? styleText(format, text, { validateStream: false }) : text),
    colors,
  };
}

const SEVERITY_STYLE: Record<Finding['severity'], Style> = { error: ['bold', 'red'], warning: ['bold', 'yellow'], info: ['bold', 'cyan'] };

/** `file:line:col: severity: message [rule]`, the source line and a caret under the column. */
export function formatFinding(finding: Finding, output: Pick<Output, 'style'>, text?: string): string {
  const head = `${output.style('bold', `${finding.file}:${finding.line}:${finding.col}`)}: ${output.style(SEVERITY_STYLE[finding.severity], finding.severity)}: ${finding.message} ${output.style('dim', `[${finding.rule}]`)}`;
  const lines = [head];
  const source = text === undefined ? undefined : sourceLine(text, finding.line);
  if (source !== undefined) {
    const gutter = String(finding.line);
    lines.push(`${output.style('dim', `${gutter} |`)} ${source}`);
    lines.push(`${' '.repeat(gutter.length)} ${output.style('dim', '|')} ${' '.repeat(Math.max(0, finding.col - 1))}${output.style(SEVERITY_STYLE[finding.severity], '^')}`);
  }
  if (finding.hint) lines.push(`${' '.repeat(String(finding.line).length)} ${output.style('dim', '=')} ${output.style('dim', 'hint:')} ${finding.hint}`);
  return lines.join('\n');
}

export function countBySeverity(findings: readonly Finding[]): Record<Finding['severity'], number> {
  const counts = { error: 0, warning: 0, info: 0 };
  for (const finding of findings) counts[finding.severity] += 1;
  return counts;
}

export function plural(count: number, word: string): string {
  return `${count} ${word}${count === 1 ? '' : 's'}`;
}

/**
 * Untrusted text (report fields, DNS values) for a terminal: control, bidi and line-separator
 * characters become visible \uXXXX escapes, so a value cannot move the cursor or recolour the screen.
 */
export function printable(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
