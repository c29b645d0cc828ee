/**
 * The policy stage's public face for checking: load a domains folder, run the schema and the lint
 * rules, and return findings sorted by file and position.
 */
import { resolve } from 'node:path';
import type { Finding } from './model.ts';
import { lintDomains } from './lint.ts';
import { loadDomainDir } from './load.ts';
import type { LoadResult } from './load.ts';

export interface ValidationResult extends LoadResult {
  /** Findings for the files asked about (all files when none were named). */
  findings: Finding[];
}

export async function validateDomains(dir: string, files: string[] = []): Promise<ValidationResult> {
  const loaded = await loadDomainDir(dir, files);
  const all = [...loaded.findings, ...lintDomains(loaded.domains)];
  const wanted = new Set(files.map((file) => resolve(file)));
  const findings = (wanted.size === 0 ? all : all.filter((finding) => wanted.has(resolve(finding.file)))).sort(compareFindings);
  return { ...loaded, findings };
}

const SEVERITY_ORDER = { error: 0, warning: 1, info: 2 } as const;

export function compareFindings(a: Finding, b: Finding): number {
  return a.file.localeCompare(b.file) || a.line - b.line || a.col - b.col || SEVERITY_ORDER[a.severity] - SEVERITY_ORDER[b.severity] || a.rule.localeCompare(b.rule);
}
