/**
 * The alerts config: `domains/_alerts.yaml`, one file for the whole repository (the rules, their
 * thresholds, the dashboard's address, the declare-sender pull request, the digest), checked against
 * its own JSON Schema (./alerts.schema.json) with the same located findings as the domain files
 * (`file:line:col`, a "did you mean"). Every key is optional; `DEFAULT_ALERTS_CONFIG` fills the rest.
 *
 * Why a file of its own rather than an `alerts:` key in `_defaults.yaml`: the defaults file is merged
 * into every domain file, and these settings belong to the repository, not to a domain; the domain
 * schema stays about one domain; and the file starts with its own `$schema` line, so editors complete
 * it. Its name starts with `_`, so the domain loader skips it like `_defaults.yaml`, and CODEOWNERS'
 * catch-all gives it to the admins (it decides whether a job with `contents: write` runs).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { normaliseName } from '../lib/dns-name.ts';
import { DmarcopsError } from '../lib/errors.ts';
import type { Finding } from '../policy/model.ts';
import { placeProblem } from '../policy/load.ts';
import { compileSchemaChecker } from '../policy/schema.ts';
import { parseYamlSource } from '../policy/source.ts';
import schema from './alerts.schema.json' with { type: 'json' };

export const ALERTS_CONFIG_FILE_NAME = '_alerts.yaml';
export const ALERTS_SCHEMA_PATH = 'scripts/alerts/alerts.schema.json';

export interface NewSourceConfig {
  enabled: boolean;
  newForDays: number;
  baselineDays: number;
  minMessages: number;
  includeBareIps: boolean;
  ignore: string[];
}

export interface SenderFailingConfig {
  enabled: boolean;
  recentDays: number;
  baselineDays: number;
  minPassPercent: number;
  maxDropPoints: number;
  minMessages: number;
  ignore: string[];
}

export interface SpoofingSurgeConfig {
  enabled: boolean;
  recentDays: number;
  baselineDays: number;
  factor: number;
  minMessages: number;
  ignore: string[];
}

export interface ReportsStoppedConfig {
  enabled: boolean;
  days: number;
  reporterDays: number;
  reporterActiveDays: number;
  ignore: string[];
}

export interface PolicyDriftConfig {
  enabled: boolean;
  days: number;
  ignore: string[];
}

export interface AlertsConfig {
  /** Ends in `/`, or null: derived from GITHUB_REPOSITORY when the alerts are made. */
  dashboardUrl: string | null;
  maxNewIssues: number;
  rules: {
    newSource: NewSourceConfig;
    senderFailing: SenderFailingConfig;
    spoofingSurge: SpoofingSurgeConfig;
    reportsStopped: ReportsStoppedConfig;
    policyDrift: PolicyDriftConfig;
    dnsDrift: { enabled: boolean };
  };
  declareSender: { enabled: boolean; base: string | null };
  digest: { sourcesPerDomain: number };
}

/** Every default, as documented in the schema's descriptions and docs/alerts.md. */
export const DEFAULT_ALERTS_CONFIG: AlertsConfig = {
  dashboardUrl: null,
  maxNewIssues: 10,
  rules: {
    newSource: { enabled: true, newForDays: 14, baselineDays: 60, minMessages: 100, includeBareIps: false, ignore: [] },
    senderFailing: { enabled: true, recentDays: 3, baselineDays: 28, minPassPercent: 90, maxDropPoints: 10, minMessages: 50, ignore: [] },
    spoofingSurge: { enabled: true, recentDays: 2, baselineDays: 28, factor: 5, minMessages: 1000, ignore: [] },
    reportsStopped: { enabled: true, days: 3, reporterDays: 3, reporterActiveDays: 10, ignore: [] },
    policyDrift: { enabled: true, days: 2, ignore: [] },
    dnsDrift: { enabled: true },
  },
  declareSender: { enabled: false, base: null },
  digest: { sourcesPerDomain: 5 },
};

/** The file as written (snake_case, per alerts.schema.json). */
interface AlertsConfigSpec {
  dashboard_url?: string;
  max_new_issues?: number;
  rules?: {
    new_source?: {
      enabled?: boolean;
      new_for_days?: number;
      baseline_days?: number;
      min_messages?: number;
      include_bare_ips?: boolean;
      ignore?: string[];
    };
    sender_failing?: {
      enabled?: boolean;
      recent_days?: number;
      baseline_days?: number;
      min_pass_percent?: number;
      max_drop_points?: number;
      min_messages?: number;
      ignore?: string[];
    };
    spoofing_surge?: {
      enabled?: boolean;
      recent_days?: number;
      baseline_days?: number;
      factor?: number;
      min_messages?: number;
      ignore?: string[];
    };
    reports_stopped?: { enabled?: boolean; days?: number; reporter_days?: number; reporter_active_days?: number; ignore?: string[] };
    policy_drift?: { enabled?: boolean; days?: number; ignore?: string[] };
    dns_drift?: { enabled?: boolean };
  };
  declare_sender?: { enabled?: boolean; base?: string };
  digest?: { sources_per_domain?: number };
}

const checkAlertsSchema = compileSchemaChecker(schema);

export interface AlertsConfigResult {
  config: AlertsConfig;
  /** Schema and YAML findings, located in the file. A config with errors is not used. */
  findings: Finding[];
  /** The file's text, for code frames; undefined when there is no file. */
  text?: string;
  file: string;
}

/** `<domainsDir>/_alerts.yaml`, the default place. */
export function defaultAlertsConfigPath(domainsDir: string): string {
  return join(domainsDir, ALERTS_CONFIG_FILE_NAME);
}

/** Reads and checks the config; a missing file is the defaults (and no finding). */
export async function loadAlertsConfig(file: string): Promise<AlertsConfigResult> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { config: DEFAULT_ALERTS_CONFIG, findings: [], file };
    // EACCES, EISDIR…: the operating system's refusal, with the file named.
    throw new DmarcopsError('system-error', `cannot read the alerts config ${file}: ${(error as Error).message}`, { cause: error });
  }
  return { ...parseAlertsConfig(text, file), text };
}

/** Pure: the text of an alerts config → the config and its findings. */
export function parseAlertsConfig(text: string, file: string): { config: AlertsConfig; findings: Finding[]; file: string } {
  const parsed = parseYamlSource(text, file);
  const findings: Finding[] = [...parsed.findings];
  if (findings.length > 0) return { config: DEFAULT_ALERTS_CONFIG, findings, file };
  let data: unknown;
  try {
    data = parsed.source.doc.toJS({ maxAliasCount: 100 }) ?? {};
  } catch (error) {
    return {
      config: DEFAULT_ALERTS_CONFIG,
      findings: [
        { rule: 'yaml-syntax', severity: 'error', message: `cannot read this YAML: ${(error as Error).message}`, file, line: 1, col: 1 },
      ],
      file,
    };
  }
  for (const problem of checkAlertsSchema(data)) findings.push(placeProblem(problem, parsed.source));
  if (findings.length > 0) return { config: DEFAULT_ALERTS_CONFIG, findings, file };
  return { config: toConfig(data as AlertsConfigSpec), findings, file };
}

function toConfig(spec: AlertsConfigSpec): AlertsConfig {
  const d = DEFAULT_ALERTS_CONFIG;
  const r = spec.rules ?? {};
  const ignore = (list: string[] | undefined): string[] => (list ?? []).map(normaliseName);
  const url = spec.dashboard_url;
  return {
    dashboardUrl: url === undefined ? null : url.endsWith('/') ? url : `${url}/`,
    maxNewIssues: spec.max_new_issues ?? d.maxNewIssues,
    rules: {
      newSource: {
        enabled: r.new_source?.enabled ?? d.rules.newSource.enabled,
        newForDays: r.new_source?.new_for_days ?? d.rules.newSource.newForDays,
        baselineDays: r.new_source?.baseline_days ?? d.rules.newSource.baselineDays,
        minMessages: r.new_source?.min_messages ?? d.rules.newSource.minMessages,
        includeBareIps: r.new_source?.include_bare_ips ?? d.rules.newSource.includeBareIps,
        ignore: ignore(r.new_source?.ignore),
      },
      senderFailing: {
        enabled: r.sender_failing?.enabled ?? d.rules.senderFailing.enabled,
        recentDays: r.sender_failing?.recent_days ?? d.rules.senderFailing.recentDays,
        baselineDays: r.sender_failing?.baseline_days ?? d.rules.senderFailing.baselineDays,
        minPassPercent: r.sender_failing?.min_pass_percent ?? d.rules.senderFailing.minPassPercent,
        maxDropPoints: r.sender_failing?.max_drop_points ?? d.rules.senderFailing.maxDropPoints,
        minMessages: r.sender_failing?.min_messages ?? d.rules.senderFailing.minMessages,
        ignore: ignore(r.sender_failing?.ignore),
      },
      spoofingSurge: {
        enabled: r.spoofing_surge?.enabled ?? d.rules.spoofingSurge.enabled,
        recentDays: r.spoofing_surge?.recent_days ?? d.rules.spoofingSurge.recentDays,
        baselineDays: r.spoofing_surge?.baseline_days ?? d.rules.spoofingSurge.baselineDays,
        factor: r.spoofing_surge?.factor ?? d.rules.spoofingSurge.factor,
        minMessages: r.spoofing_surge?.min_messages ?? d.rules.spoofingSurge.minMessages,
        ignore: ignore(r.spoofing_surge?.ignore),
      },
      reportsStopped: {
        enabled: r.reports_stopped?.enabled ?? d.rules.reportsStopped.enabled,
        days: r.reports_stopped?.days ?? d.rules.reportsStopped.days,
        reporterDays: r.reports_stopped?.reporter_days ?? d.rules.reportsStopped.reporterDays,
        reporterActiveDays: r.reports_stopped?.reporter_active_days ?? d.rules.reportsStopped.reporterActiveDays,
        ignore: ignore(r.reports_stopped?.ignore),
      },
      policyDrift: {
        enabled: r.policy_drift?.enabled ?? d.rules.policyDrift.enabled,
        days: r.policy_drift?.days ?? d.rules.policyDrift.days,
        ignore: ignore(r.policy_drift?.ignore),
      },
      dnsDrift: { enabled: r.dns_drift?.enabled ?? d.rules.dnsDrift.enabled },
    },
    declareSender: {
      enabled: spec.declare_sender?.enabled ?? d.declareSender.enabled,
      base: spec.declare_sender?.base ?? d.declareSender.base,
    },
    digest: { sourcesPerDomain: spec.digest?.sources_per_domain ?? d.digest.sourcesPerDomain },
  };
}

/**
 * The dashboard's root URL (ending in `/`): the config's, else the GitHub Pages address of the
 * repository (`https://<owner>.github.io/<repo>/`, or `https://<owner>.github.io/` for the
 * `<owner>.github.io` repository); null when neither is known. A custom Pages domain needs `dashboard_url`.
 */
export function dashboardRoot(config: AlertsConfig, env: NodeJS.ProcessEnv): string | null {
  if (config.dashboardUrl !== null) return config.dashboardUrl;
  const match = /^([A-Za-z0-9-]+)\/([A-Za-z0-9_.-]+)$/.exec(env.GITHUB_REPOSITORY ?? '');
  if (match === null) return null;
  const owner = (match[1] ?? '').toLowerCase();
  const repo = match[2] ?? '';
  return repo.toLowerCase() === `${owner}.github.io` ? `https://${owner}.github.io/` : `https://${owner}.github.io/${repo}/`;
}

/** A domain's dashboard page, optionally with a window (`7d`, `30d`…). */
export function domainPageUrl(root: string | null, domain: string, window?: string): string | null {
  if (root === null) return null;
  return `${root}d/${encodeURIComponent(domain)}/${window === undefined ? '' : `?w=${window}`}`;
}
