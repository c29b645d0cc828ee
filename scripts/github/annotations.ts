/**
 * GitHub Actions workflow commands for findings, so they show on the pull request's diff.
 * https://docs.github.com/actions/reference/workflow-commands-for-github-actions
 */
import type { Finding } from '../policy/model.ts';
import { printable } from '../lib/escape.ts';

const COMMAND: Record<Finding['severity'], string> = { error: 'error', warning: 'warning', info: 'notice' };

/**
 * One workflow command line per finding. The message quotes YAML values: `printable` makes each part
 * one visible line first (so the annotation shows `\n::error::x` rather than a forged second line or
 * an ANSI sequence), then `escapeData` encodes what the command syntax needs. The line starts with
 * this command, so nothing inside it is read as another.
 */
export function toAnnotation(finding: Finding): string {
  const properties = [
    `file=${escapeProperty(printable(finding.file))}`,
    `line=${finding.line}`,
    `col=${finding.col}`,
    `title=${escapeProperty(`dmarcops ${finding.rule}`)}`,
  ].join(',');
  const message = finding.hint ? `${printable(finding.message)}\n${printable(finding.hint)}` : printable(finding.message);
  return `::${COMMAND[finding.severity]} ${properties}::${escapeData(message)}`;
}

/** Message text: `%`, CR and LF would end or corrupt the command. */
export function escapeData(text: string): string {
  return text.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}

/** Property values also may not contain `:` or `,`. */
export function escapeProperty(text: string): string {
  return escapeData(text).replace(/:/g, '%3A').replace(/,/g, '%2C');
}
