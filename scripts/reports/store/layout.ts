/**
 * Where things live under the dataset root, and which files hold committed data. Readers that go
 * through `committedRecordsSql` see exactly the committed state at every instant of the protocol
 * (index.ts); a plain glob sees it whenever no writer is between two steps.
 *
 *   records/month=YYYY-MM/run-<runId>.parquet      a run's part (committed iff ledger/run-<runId>.parquet exists)
 *   records/month=unknown/…                        the same, for reports whose dates are implausible (see UNKNOWN_MONTH)
 *   records/month=YYYY-MM/compact-<id>.parquet     a compaction's output (committed once renamed into place)
 *   records/month=YYYY-MM/_compact-<id>.json       compaction manifest: the output and the parts it replaces
 *   tls/month=YYYY-MM/…                            the same four, for SMTP TLS report rows (a second table)
 *   ledger/run-<runId>.parquet                     a run's ledger part = its commit marker (for both tables)
 *   quarantine/foreign/<sha256>.xml.gz|.json.gz    foreign reports (aggregate data), size-capped; nothing else is kept
 *   .staging/<runId>/                              a run's scratch space (NDJSON, DuckDB temp)
 *   .lock                                          the writer lock
 *   **\/.<name>.tmp                                 files being written; renamed to <name> when complete
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { RECORD_COLUMNS, TLS_COLUMNS } from './schema.ts';
import type { ColumnDef } from './schema.ts';

export const RECORDS_DIR = 'records';
/** SMTP TLS report rows (RFC 8460): the same layout and protocol as records/. */
export const TLS_DIR = 'tls';
/** The month-partitioned tables, each a folder of `month=…` directories. */
export const TABLES = [RECORDS_DIR, TLS_DIR] as const;
export type Table = (typeof TABLES)[number];
export const LEDGER_DIR = 'ledger';
export const QUARANTINE_DIR = 'quarantine';
export const STAGING_DIR = '.staging';
export const LOCK_FILE = '.lock';

const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const MONTH_PATTERN = /^(\d{4}-(0[1-9]|1[0-2])|unknown)$/;

/**
 * The partition of reports whose date range is implausible (it ends more than a day after the
 * ingest, or starts before 2012, epoch 0 included): stored, flagged, and kept out of the real
 * months so that a forged or broken date cannot put rows into a month long closed or yet to come.
 */
export const UNKNOWN_MONTH = 'unknown';

/** Run and compaction ids become file names: letters, digits, `.`, `_`, `-`; no path separators. */
export function checkId(id: string, what = 'run id'): string {
  if (!ID_PATTERN.test(id)) {
    throw new Error(`Invalid ${what} ${JSON.stringify(id)}: use 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit`);
  }
  return id;
}

export function checkMonth(month: string): string {
  if (!MONTH_PATTERN.test(month)) throw new Error(`Invalid month ${JSON.stringify(month)}: expected YYYY-MM or ${UNKNOWN_MONTH}`);
  return month;
}

/** The UTC month (`YYYY-MM`) of an epoch-seconds instant. */
export function monthOf(epochSeconds: number): string {
  return new Date(epochSeconds * 1000).toISOString().slice(0, 7);
}

export const runPartName = (runId: string): string => `run-${runId}.parquet`;
export const compactPartName = (id: string): string => `compact-${id}.parquet`;
export const manifestName = (id: string): string => `_compact-${id}.json`;
export const ledgerPartName = (runId: string): string => `run-${runId}.parquet`;
/** Temporary sibling of a final name: hidden, and not matched by `*.parquet` globs. */
export const tmpName = (finalName: string): string => `.${finalName}.tmp`;

export const monthDirName = (month: string): string => `month=${month}`;
export const monthDir = (root: string, month: string, table: Table = RECORDS_DIR): string => join(root, table, monthDirName(month));

function idBetween(name: string, prefix: string, suffix: string): string | null {
  return name.startsWith(prefix) && name.endsWith(suffix) && name.length > prefix.length + suffix.length
    ? name.slice(prefix.length, -suffix.length)
    : null;
}
export const runIdOfPart = (name: string): string | null => idBetween(name, 'run-', '.parquet');
export const compactIdOfPart = (name: string): string | null => idBetween(name, 'compact-', '.parquet');
export const compactIdOfManifest = (name: string): string | null => idBetween(name, '_compact-', '.json');

export interface CompactionManifest {
  version: 1;
  id: string;
  month: string;
  /** File names inside the month directory. */
  output: string;
  inputs: string[];
  rows: number;
  createdAt: string;
}

export interface MonthState {
  table: Table;
  month: string;
  dir: string;
  /** Committed, not superseded: what readers must read (file names). */
  visible: string[];
  /** Parts of runs without a ledger part. */
  uncommitted: string[];
  temporary: string[];
  manifests: { name: string; manifest: CompactionManifest; outputPresent: boolean }[];
}

export interface DatasetState {
  committedRuns: Set<string>;
  ledgerFiles: string[];
  ledgerTemporary: string[];
  /** The months of records/. */
  months: MonthState[];
  /** The months of tls/. */
  tlsMonths: MonthState[];
}

function list(dir: string): string[] {
  try {
    return readdirSync(dir).sort();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}

/**
 * A snapshot of the files under `root`, classified by the protocol. Reads the ledger directory
 * first: a run that commits while we list its month can only make us miss it, never half-see it.
 */
export function scanDataset(root: string): DatasetState {
  const ledgerNames = list(join(root, LEDGER_DIR));
  const committedRuns = new Set<string>();
  const ledgerFiles: string[] = [];
  const ledgerTemporary: string[] = [];
  for (const name of ledgerNames) {
    const runId = runIdOfPart(name);
    if (runId !== null) {
      committedRuns.add(runId);
      ledgerFiles.push(join(root, LEDGER_DIR, name));
    } else if (name.endsWith('.tmp')) ledgerTemporary.push(join(root, LEDGER_DIR, name));
  }

  const scanTable = (table: Table): MonthState[] => {
    const months: MonthState[] = [];
    for (const dirName of list(join(root, table))) {
      const month = dirName.startsWith('month=') ? dirName.slice('month='.length) : '';
      if (!MONTH_PATTERN.test(month)) continue;
      months.push(scanMonth(table, month, join(root, table, dirName), committedRuns));
    }
    return months;
  };
  return { committedRuns, ledgerFiles, ledgerTemporary, months: scanTable(RECORDS_DIR), tlsMonths: scanTable(TLS_DIR) };
}

/** The months of one table in a scan. */
export function monthsOf(state: DatasetState, table: Table): MonthState[] {
  return table === TLS_DIR ? state.tlsMonths : state.months;
}

function scanMonth(table: Table, month: string, dir: string, committedRuns: ReadonlySet<string>): MonthState {
  for (let attempt = 0; ; attempt++) {
    try {
      return scanMonthOnce(table, month, dir, committedRuns);
    } catch (error) {
      // A manifest listed a moment ago is gone: a compaction just finished. List again, or we
      // could count both its inputs (listed before they were deleted) and its output.
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || attempt >= 10) throw error;
    }
  }
}

function scanMonthOnce(table: Table, month: string, dir: string, committedRuns: ReadonlySet<string>): MonthState {
  const names = list(dir);
  const present = new Set(names);
  const state: MonthState = { table, month, dir, visible: [], uncommitted: [], temporary: [], manifests: [] };
  const superseded = new Set<string>();
  for (const name of names) {
    if (compactIdOfManifest(name) === null) continue;
    const manifest = JSON.parse(readFileSync(join(dir, name), 'utf8')) as CompactionManifest;
    const outputPresent = present.has(manifest.output);
    state.manifests.push({ name, manifest, outputPresent });
    // Once the output is in place the compaction is committed and its inputs are dead.
    if (outputPresent) for (const input of manifest.inputs) superseded.add(input);
  }
  for (const name of names) {
    if (name.endsWith('.tmp')) state.temporary.push(name);
    else if (superseded.has(name)) continue;
    else if (compactIdOfPart(name) !== null) state.visible.push(name);
    else {
      const runId = runIdOfPart(name);
      if (runId === null) continue;
      if (committedRuns.has(runId)) state.visible.push(name);
      else state.uncommitted.push(name);
    }
  }
  return state;
}

/** Paths of the record files that hold exactly the committed rows. */
export function committedRecordFiles(root: string): string[] {
  return scanDataset(root).months.flatMap((m) => m.visible.map((name) => join(m.dir, name)));
}

/** Paths of the TLS row files that hold exactly the committed rows. */
export function committedTlsFiles(root: string): string[] {
  return scanDataset(root).tlsMonths.flatMap((m) => m.visible.map((name) => join(m.dir, name)));
}

/** Paths of the committed ledger parts. */
export function committedLedgerFiles(root: string): string[] {
  return scanDataset(root).ledgerFiles;
}

export function sqlString(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

export function sqlList(values: readonly string[]): string {
  return `[${values.map(sqlString).join(', ')}]`;
}

/** A relation with a table's columns (plus `month`) and no rows, for an empty dataset. */
function emptyTableSql(columns: readonly ColumnDef[]): string {
  const cols = columns.map((c) => `CAST(NULL AS ${c.type}) AS ${c.name}`);
  return `SELECT ${cols.join(', ')}, CAST(NULL AS VARCHAR) AS month WHERE false`;
}

function committedSql(files: readonly string[], columns: readonly ColumnDef[]): string {
  if (files.length === 0) return emptyTableSql(columns);
  return `SELECT * FROM read_parquet(${sqlList(files)}, hive_partitioning = true, union_by_name = true, hive_types = {'month': VARCHAR})`;
}

/**
 * A SELECT over the committed records only (with the hive column `month`), for any DuckDB reader:
 * `SELECT … FROM (${committedRecordsSql('reports')})`. The file list is taken now: call it again
 * after new runs or compactions.
 */
export function committedRecordsSql(root: string): string {
  return committedSql(committedRecordFiles(root), RECORD_COLUMNS);
}

/**
 * The same over the committed TLS report rows (`tls/`, docs/dataset.md "TLS reports"):
 * `SELECT … FROM (${committedTlsSql('reports')})`, with `month`; the columns of TLS_COLUMNS and no rows
 * when no TLS report is stored yet.
 */
export function committedTlsSql(root: string): string {
  return committedSql(committedTlsFiles(root), TLS_COLUMNS);
}

/** The ledger parts present are exactly the committed ones (each is renamed into place as the commit). */
export function ledgerGlob(root: string): string {
  return join(root, LEDGER_DIR, 'run-*.parquet');
}
