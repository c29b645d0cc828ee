/**
 * Alerts as plain data: what the rules (./rules/) find, what the renderers (./render.ts) print and
 * what the issue sync (scripts/github/issues.ts) keeps one GitHub issue per `key` for. Every string
 * may carry text from reports, DNS or YAML: renderers escape it for where it goes.
 */

export type AlertRule = 'new-source' | 'sender-failing' | 'spoofing-surge' | 'reports-stopped' | 'policy-drift' | 'dns-drift';

export const ALERT_RULES: readonly AlertRule[] = [
  'new-source',
  'sender-failing',
  'spoofing-surge',
  'reports-stopped',
  'policy-drift',
  'dns-drift',
];

/** critical: mail of your own is being lost or DNS is not what was reviewed; warning: look soon; info: for the record. */
export type AlertSeverity = 'critical' | 'warning' | 'info';

/** A figure, formatted by the renderer: a count of messages/reports, a share (0…1), a day, or text. */
export interface AlertFigure {
  label: string;
  value: number | string | null;
  format: 'count' | 'share' | 'day' | 'text' | 'factor';
}

export interface AlertTable {
  title: string;
  head: string[];
  rows: (string | number | null)[][];
}

/** The `senders:` entry a declare-this-sender pull request would add (snake_case, as in the domain file). */
export interface SenderProposal {
  domain: string;
  /** The domain file to edit, as the domain files were loaded (e.g. `domains/example.com.yaml`). */
  file: string;
  sender: { name: string; type?: string; spf_includes?: string[]; dkim?: { domain: string; selector?: string }[] };
  /** Why this looks legitimate, each a sentence. */
  evidence: string[];
}

export interface Alert {
  /**
   * Stable identity: one GitHub issue per key, found again by a hidden marker. `<rule>/<domain>/<subject>`,
   * each part percent-encoded, so the key holds nothing but `[A-Za-z0-9%._~/-]`.
   */
  key: string;
  rule: AlertRule;
  severity: AlertSeverity;
  /** The domain file it concerns; null for DNS names outside any domain. */
  domain: string | null;
  /** One line. */
  title: string;
  /** What happened, in sentences. */
  summary: string;
  /** The first day (UTC, ISO) the condition held. */
  since: string;
  figures: AlertFigure[];
  tables: AlertTable[];
  /** The dashboard page to look at, when the dashboard's address is known. */
  link: string | null;
  /** What to do, each a sentence. */
  actions: string[];
  /** A declare-this-sender proposal (new sources that look legitimate, when enabled in the config). */
  proposal?: SenderProposal;
}

/** What one `dmarcops alerts` run found: the alerts, and which rules ran (only those may close issues). */
export interface AlertRun {
  /** When the rules ran (ISO timestamp) and the last full UTC day they looked at. */
  generatedAt: string;
  asOf: string;
  alerts: Alert[];
  /** Rules that were evaluated. An issue of a rule that did not run (disabled, no DNS credentials) stays as it is. */
  evaluated: AlertRule[];
  /** Why a rule did not run, each a sentence (shown, never fatal). */
  notes: string[];
}

/** `<rule>/<part>/<part>…`, each part percent-encoded (RFC 3986 unreserved characters stay). */
export function alertKey(rule: AlertRule, ...parts: string[]): string {
  return [
    rule,
    ...parts.map((part) => encodeURIComponent(part).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)),
  ].join('/');
}

/** The rule a key belongs to (its first part), when it is one. */
export function ruleOfKey(key: string): AlertRule | undefined {
  const rule = key.slice(0, key.indexOf('/') === -1 ? undefined : key.indexOf('/'));
  return (ALERT_RULES as readonly string[]).includes(rule) ? (rule as AlertRule) : undefined;
}

const SEVERITY_ORDER: Record<AlertSeverity, number> = { critical: 0, warning: 1, info: 2 };

/** Most severe first, then by rule, domain and key: the order alerts are printed and issues opened. */
export function compareAlerts(a: Alert, b: Alert): number {
  return (
    SEVERITY_ORDER[a.severity] - SEVERITY_ORDER[b.severity] ||
    ALERT_RULES.indexOf(a.rule) - ALERT_RULES.indexOf(b.rule) ||
    (a.domain ?? '').localeCompare(b.domain ?? '') ||
    a.key.localeCompare(b.key)
  );
}
