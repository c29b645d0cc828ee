/**
 * Reading the ledger: which report keys are stored (for dedupe), and "did we get Google's report
 * for the 12th?" (`findReports`). Every ledger file present is committed (see index.ts).
 */
import type { Duck } from './duck.ts';
import { openDuck } from './duck.ts';
import { committedLedgerFiles, sqlList, sqlString } from './layout.ts';
import type { LedgerRow, ReportQuery } from './types.ts';

function ledgerSource(files: readonly string[]): string {
  return `read_parquet(${sqlList(files)}, union_by_name = true, hive_partitioning = false)`;
}

export interface LedgerIndex {
  /** report_key of every aggregate report stored by a committed run (dedupe). */
  storedKeys: Set<string>;
  /** report_key of every TLS report stored by a committed run: dedupe of tls/, apart from records/. */
  storedTlsKeys: Set<string>;
  /** source_ref of every input item a committed run saw, whatever its outcome (but see `unsupportedTls`). */
  sources: Set<string>;
  /**
   * source_ref of inputs that an earlier dmarcops set aside as unsupported TLS reports (`kind = tls,
   * outcome = unsupported`) and no run has read since. They are not in `sources`: dmarcops reads TLS
   * reports now, so such an input is read again, not skipped as already ingested.
   */
  unsupportedTls: Set<string>;
}

/** Reads the committed ledger; DuckDB is only opened (by `open`, closed here) when there is one. */
export async function loadLedgerIndex(root: string, open: () => Promise<Duck>): Promise<LedgerIndex> {
  const files = committedLedgerFiles(root);
  const index: LedgerIndex = { storedKeys: new Set(), storedTlsKeys: new Set(), sources: new Set(), unsupportedTls: new Set() };
  if (files.length === 0) return index;
  const duck = await open();
  try {
    const keys = await duck.rows<{ report_key: string; tls: boolean }>(
      `SELECT DISTINCT report_key, coalesce(kind = 'tls', false) AS tls FROM ${ledgerSource(files)} WHERE outcome = 'stored' AND report_key IS NOT NULL`,
    );
    for (const { report_key: key, tls } of keys) (tls ? index.storedTlsKeys : index.storedKeys).add(key);
    const sources = await duck.rows<{ source_ref: string; unsupported_tls: boolean }>(
      `SELECT source_ref, bool_and(coalesce(kind = 'tls' AND outcome = 'unsupported', false)) AS unsupported_tls
       FROM ${ledgerSource(files)} GROUP BY source_ref`,
    );
    for (const { source_ref: ref, unsupported_tls: unsupported } of sources) (unsupported ? index.unsupportedTls : index.sources).add(ref);
    return index;
  } finally {
    duck.close();
  }
}

/**
 * The inputs an earlier dmarcops set aside as unsupported TLS reports that no run has read since (every
 * ledger row of theirs says `kind = tls, outcome = unsupported`), with the Message-ID of the mail when
 * known: `dmarcops fetch --retry-unsupported` looks for them in the mailbox's Invalid folder.
 */
export async function unsupportedTlsInputs(root: string): Promise<{ sourceRef: string; messageId: string | null }[]> {
  const files = committedLedgerFiles(root);
  if (files.length === 0) return [];
  const duck = await openDuck();
  try {
    const rows = await duck.rows<{ source_ref: string; message_id: string | null }>(
      `SELECT source_ref, any_value(message_id) AS message_id FROM ${ledgerSource(files)} GROUP BY source_ref
       HAVING bool_and(coalesce(kind = 'tls' AND outcome = 'unsupported', false)) ORDER BY source_ref`,
    );
    return rows.map((row) => ({ sourceRef: row.source_ref, messageId: row.message_id }));
  } finally {
    duck.close();
  }
}

function dayRange(day: string | Date): { start: number; end: number } {
  const text = typeof day === 'string' ? day : day.toISOString().slice(0, 10);
  if (!/^\d{4}-\d{2}-\d{2}$/.test(text)) throw new Error(`Invalid day ${JSON.stringify(text)}: expected YYYY-MM-DD`);
  const start = Date.parse(`${text}T00:00:00Z`);
  if (Number.isNaN(start)) throw new Error(`Invalid day ${JSON.stringify(text)}`);
  return { start: start / 1000, end: start / 1000 + 86_400 };
}

const timestamp = (epochSeconds: number): string => `make_timestamp(${epochSeconds}::BIGINT * 1000000)`;

/**
 * Ledger rows matching every given criterion, oldest report first (then in ingest order). `day` matches reports whose
 * range overlaps that UTC day (begin < next midnight and end > midnight, so a range ending
 * exactly at midnight belongs to the day before).
 */
export async function findReports(root: string, query: ReportQuery = {}): Promise<LedgerRow[]> {
  const files = committedLedgerFiles(root);
  if (files.length === 0) return [];
  const where: string[] = [];
  if (query.org !== undefined) where.push(`contains(lower(org_name), ${sqlString(query.org.trim().toLowerCase())})`);
  if (query.domain !== undefined) {
    where.push(`lower(policy_domain) = ${sqlString(query.domain.trim().toLowerCase().replace(/\.$/, ''))}`);
  }
  if (query.day !== undefined) {
    const { start, end } = dayRange(query.day);
    where.push(`date_begin < ${timestamp(end)} AND date_end > ${timestamp(start)}`);
  }
  if (query.outcome !== undefined) {
    const outcomes = Array.isArray(query.outcome) ? query.outcome : [query.outcome];
    where.push(`outcome IN (${outcomes.map(sqlString).join(', ')})`);
  }
  if (query.kind !== undefined) {
    const kinds = Array.isArray(query.kind) ? query.kind : [query.kind];
    where.push(`kind IN (${kinds.map(sqlString).join(', ')})`);
  }
  const duck = await openDuck();
  try {
    const rows = await duck.rows<Record<string, unknown>>(
      `SELECT * FROM ${ledgerSource(files)} ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''}
       ORDER BY date_begin NULLS LAST, ingested_at, ingest_run, seq`,
    );
    return rows.map(toLedgerRow);
  } finally {
    duck.close();
  }
}

function toLedgerRow(r: Record<string, unknown>): LedgerRow {
  const str = (k: string): string | null => (r[k] === null || r[k] === undefined ? null : String(r[k]));
  const num = (k: string): number | null => (r[k] === null || r[k] === undefined ? null : Number(r[k]));
  const date = (k: string): Date | null => (r[k] instanceof Date ? (r[k] as Date) : null);
  return {
    ingestRun: String(r.ingest_run),
    seq: Number(r.seq),
    ingestedAt: r.ingested_at as Date,
    sourceRef: String(r.source_ref),
    kind: r.kind as LedgerRow['kind'],
    outcome: r.outcome as LedgerRow['outcome'],
    reason: str('reason'),
    reportKey: str('report_key'),
    orgName: str('org_name'),
    orgEmail: str('org_email'),
    reportId: str('report_id'),
    policyDomain: str('policy_domain'),
    dateBegin: date('date_begin'),
    dateEnd: date('date_end'),
    month: str('month'),
    records: num('records'),
    messages: num('messages'),
    warningCount: num('warning_count'),
    sourceName: str('source_name'),
    sourceTrail: Array.isArray(r.source_trail) ? (r.source_trail as string[]) : null,
    sourceBytes: num('source_bytes'),
    messageId: str('message_id'),
    subject: str('subject'),
    quarantinePath: str('quarantine_path'),
  };
}
