/**
 * The policy stage's public face for checking: load a domains folder, run the schema and the lint
 * rules, and return findings sorted by file and position. Two inputs beyond the files are optional:
 * the domain files at a base ref (rules about changes, such as MTA-STS mode transitions) and live MX
 * records (do the MTA-STS patterns name every MX host).
 */
import { resolve } from 'node:path';
import { mapLimit } from '../lib/concurrency.ts';
import { loadDomainsAtRef } from './git.ts';
import type { Finding } from './model.ts';
import { lintDomains } from './lint.ts';
import type { LintExtras } from './lint.ts';
import { loadDomainDir } from './load.ts';
import type { LoadedDomain, LoadResult } from './load.ts';
import type { MxLookup, MxResolver } from './mx.ts';

export interface ValidationResult extends LoadResult {
  /** Findings for the files asked about (all files when none were named). */
  findings: Finding[];
  /** The commit the base ref named, when one was given. */
  baseCommit?: string;
}

export interface ValidateOptions {
  /** A git ref (`origin/main`): rules that compare with the previous version of each file run against it. */
  base?: string;
  /** Look up the MX records of every domain with `mta_sts` through this resolver (`--live-dns`). */
  mxResolver?: MxResolver;
}

export async function validateDomains(dir: string, files: string[] = [], options: ValidateOptions = {}): Promise<ValidationResult> {
  const loaded = await loadDomainDir(dir, files);
  const extras: LintExtras = {};
  let baseCommit: string | undefined;
  if (options.base !== undefined) {
    // Files that do not load at the base count as absent there: their findings belong to that commit, not to this check.
    // git runs in the domains folder itself, so the repository is the one that holds it.
    const atBase = await loadDomainsAtRef(options.base, '.', resolve(dir));
    extras.base = atBase.domains;
    baseCommit = atBase.commit;
  }
  if (options.mxResolver !== undefined) extras.liveMx = await lookupMx(loaded.domains, options.mxResolver);
  const all = [...loaded.findings, ...lintDomains(loaded.domains, undefined, extras)];
  const wanted = new Set(files.map((file) => resolve(file)));
  const findings = (wanted.size === 0 ? all : all.filter((finding) => wanted.has(resolve(finding.file)))).sort(compareFindings);
  return baseCommit === undefined ? { ...loaded, findings } : { ...loaded, findings, baseCommit };
}

/** MX records of the domains whose MTA-STS policy names MX hosts, 16 lookups at a time. */
async function lookupMx(domains: readonly LoadedDomain[], resolver: MxResolver): Promise<Map<string, MxLookup>> {
  const names = [
    ...new Set(
      domains
        .filter((domain) => domain.policy.mtaSts !== undefined && domain.policy.mtaSts.mode !== 'none')
        .map((domain) => domain.policy.domain),
    ),
  ];
  const answers = await mapLimit(names, 16, (name) => resolver(name));
  return new Map(names.map((name, index) => [name, answers[index] as MxLookup]));
}

const SEVERITY_ORDER = { error: 0, warning: 1, info: 2 } as const;

export function compareFindings(a: Finding, b: Finding): number {
  return (
    a.file.localeCompare(b.file) ||
    a.line - b.line ||
    a.col - b.col ||
    SEVERITY_ORDER[a.severity] - SEVERITY_ORDER[b.severity] ||
    a.rule.localeCompare(b.rule)
  );
}
