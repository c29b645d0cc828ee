/**
 * Alerts as plain data: what the rules (./rules/) find, what the renderers (./render.ts) print and
 * what the issue sync (scripts/github/issues.ts) keeps one GitHub issue per `key` for. Every string
 * may carry text from reports, DNS or YAML: renderers escape it for where it goes; the rules clip the
 * names they take from reports (SHOWN_NAME_MAX, scripts/lib/text.ts), and keys stay short (alertKey).
 */
import { createHash } from 'node:crypto';

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
   * each part percent-encoded, so the key holds nothing but `[A-Za-z0-9%._~/-]`, a long part cut and
   * hashed (`alertKey`), so a key is short however long the name it comes from.
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

/**
 * Characters of an encoded key part kept as they are. A part may come from a report (a reporter's
 * `org_name`, a source IP as written): a forged name may be tens of thousands of characters (the parser
 * takes headers of up to 48 KiB), over 100,000 once percent-encoded, while the key goes into the hidden
 * marker at the top of the issue body (GitHub refuses a body over 65,536 characters: one such key
 * would fail the whole sync), into every log line and `--json`.
 *
 * A longer part keeps the whole characters of its start that fit in KEY_PART_MAX encoded, then `~`
 * and KEY_HASH_HEX hex digits of the SHA-256 of the whole encoded part: two long names that share
 * their start still get two keys, and the same name gets the same key on every run. As one character
 * encodes to at most 12, a hashed part is always longer than KEY_PART_MAX and so never equals a kept
 * one. Parts of KEY_PART_MAX encoded characters or fewer stay exactly as before, and with them the
 * keys that open issues already carry.
 */
export const KEY_PART_MAX = 100;
/** 64 bits of the hash: enough that two long names a forger sends do not share a key by chance. */
const KEY_HASH_HEX = 16;
/** The longest a hashed part can be: the kept prefix, `~`, the hash. */
export const KEY_PART_HASHED_MAX = KEY_PART_MAX + 1 + KEY_HASH_HEX;

/** `text` percent-encoded: RFC 3986 unreserved characters stay, everything else is `%XX`. */
const encodeKeyText = (text: string): string =>
  encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/** One part of a key: percent-encoded, and cut and hashed when longer than KEY_PART_MAX (see there). */
function keyPart(part: string): string {
  const encoded = encodeKeyText(part);
  if (encoded.length <= KEY_PART_MAX) return encoded;
  // Whole characters (a UTF-8 sequence is up to 12 encoded characters), so the start still decodes.
  let prefix = '';
  for (const char of part) {
    const next = encodeKeyText(char);
    if (prefix.length + next.length > KEY_PART_MAX) break;
    prefix += next;
  }
  return `${prefix}~${createHash('sha256').update(encoded).digest('hex').slice(0, KEY_HASH_HEX)}`;
}

/**
 * `<rule>/<part>/<part>…`, each part percent-encoded (RFC 3986 unreserved characters stay), a long
 * part cut and hashed (KEY_PART_MAX).
 */
export function alertKey(rule: AlertRule, ...parts: string[]): string {
  return [rule, ...parts.map(keyPart)].join('/');
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
