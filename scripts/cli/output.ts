/**
 * Terminal output shared by the commands: colours that switch off under NO_COLOR or when the
 * stream is not a TTY, and compiler-style findings with a code frame.
 */
import { styleText } from 'node:util';
import type { Finding } from '../policy/model.ts';
import { sourceLine } from '../policy/source.ts';
import { printable } from '../lib/escape.ts';

type Style = Parameters<typeof styleText>[0];

export interface Output {
  out(line?: string): void;
  err(line?: string): void;
  /** Style text for stdout; plain when colours are off. */
  style(format: Style, text: string): string;
  colors: boolean;
}

export function createOutput(
  stdout: NodeJS.WriteStream = process.stdout,
  stderr: NodeJS.WriteStream = process.stderr,
  env: NodeJS.ProcessEnv = process.env,
): Output {
  const colors = Boolean(stdout.isTTY) && env.NO_COLOR === undefined && env.TERM !== 'dumb' && env.FORCE_COLOR !== '0';
  return {
    out: (line = '') => void stdout.write(`${line}\n`),
    err: (line = '') => void stderr.write(`${line}\n`),
    style: (format, text) => (colors ? styleText(format, text, { validateStream: false }) : text),
    colors,
  };
}

export const SEVERITY_STYLE: Record<Finding['severity'], Style> = {
  error: ['bold', 'red'],
  warning: ['bold', 'yellow'],
  info: ['bold', 'cyan'],
};

/**
 * `file:line:col: severity: message [rule]`, the source line and a caret under the column. Messages
 * quote YAML values and the code frame shows the file's text, so all of it goes through `printable`.
 */
export function formatFinding(finding: Finding, output: Pick<Output, 'style'>, text?: string): string {
  const where = output.style('bold', `${printable(finding.file)}:${finding.line}:${finding.col}`);
  const severity = output.style(SEVERITY_STYLE[finding.severity], finding.severity);
  const head = `${where}: ${severity}: ${printable(finding.message)} ${output.style('dim', `[${finding.rule}]`)}`;
  const lines = [head];
  const source = text === undefined ? undefined : sourceLine(text, finding.line);
  if (source !== undefined) {
    const gutter = String(finding.line);
    // The caret stays under its character when escapes before it widen the line.
    const indent = printable(source.slice(0, Math.max(0, finding.col - 1))).length;
    lines.push(`${output.style('dim', `${gutter} |`)} ${printable(source)}`);
    lines.push(
      `${' '.repeat(gutter.length)} ${output.style('dim', '|')} ${' '.repeat(indent)}${output.style(SEVERITY_STYLE[finding.severity], '^')}`,
    );
  }
  if (finding.hint)
    lines.push(
      `${' '.repeat(String(finding.line).length)} ${output.style('dim', '=')} ${output.style('dim', 'hint:')} ${printable(finding.hint)}`,
    );
  return lines.join('\n');
}

export function countBySeverity(findings: readonly Finding[]): Record<Finding['severity'], number> {
  const counts = { error: 0, warning: 0, info: 0 };
  for (const finding of findings) counts[finding.severity] += 1;
  return counts;
}
