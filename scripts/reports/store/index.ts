/**
 * STORE stage: parsed reports → an append-only, deduplicated, crash-safe Parquet dataset.
 *
 *   const ds = await openDataset({ root: 'reports' });          // takes the lock, runs recover()
 *   const run = await ds.beginRun({ runId, ingestedAt: new Date() });
 *   if (!run.hasSource(sourceRef)) {                             // this input seen before?
 *     await run.addReport({ header, records, warnings: () => stream.warnings, sourceRef });
 *     await run.addTlsReport({ report: parsedTlsReport, sourceRef }); // an SMTP TLS report → tls/
 *     run.addLedgerEntry({ sourceRef, kind: 'aggregate', outcome: 'invalid', reason, quarantinePath });
 *   }
 *   const enrichment = await enricher.enrichAll(run.sourceIps()); // or run.addEnrichment(…) as IPs come
 *   await run.commit({ enrichment });                            // all of the run, or nothing
 *   await ds.close();
 *
 * Layout: see layout.ts. Columns: schema.ts and docs/dataset.md.
 *
 * COMMIT PROTOCOL
 *
 * Two tables, one protocol: `records/` (aggregate report records) and `tls/` (SMTP TLS report rows)
 * are partitioned by month alike, and one ledger part commits a run's parts of both. Below,
 * `records/` stands for either.
 *
 * Invariant: the committed state is (a) every ledger part `ledger/run-<R>.parquet`, (b) every
 * record part `records/month=M/run-<R>.parquet` whose run R has a ledger part, (c) every
 * compaction output `records/month=M/compact-<C>.parquet`, minus (d) the inputs listed by a
 * manifest `_compact-<C>.json` whose output exists. Nothing else is data. Files are only ever
 * created under a temporary name (`.<name>.tmp`, same directory) and renamed when complete and
 * fsynced, so a file with a final name is always whole. `committedRecordsSql` reads by this rule.
 *
 * An ingest run R:
 *   1. addReport streams rows to NDJSON under `.staging/R/` (one file per month, plus one line
 *      per report); a report that fails midway is truncated away. Dedupe: a key in a committed
 *      ledger or already stored by R makes a `duplicate` ledger row instead. Ledger rows and
 *      the dedupe keys of R stay in memory (small) until the commit.
 *   2. commit, per month M: COPY (staged rows ⋈ their reports ⟕ the run's enrichment by IP) →
 *      `records/month=M/.run-R.parquet.tmp`, check the row count, fsync, rename to
 *      `run-R.parquet`; then the same for the staged TLS rows → `tls/month=M/run-R.parquet`.
 *      Then fsync each month directory.
 *   3. The ledger (every input item of R) → `ledger/.run-R.parquet.tmp`, fsync, rename to
 *      `ledger/run-R.parquet`, fsync `ledger/`. THIS RENAME IS THE COMMIT POINT.
 *   4. Delete `.staging/R/`.
 * A crash (or error) before 3's rename: the parts from 2 have no ledger part, so they are not
 * committed; `recover()` (run by openDataset under the lock) deletes them with the temp files and
 * the staging directory — the dataset is exactly as before. After the rename: everything of R is
 * committed (its parts were fsynced before the ledger existed); recover only removes staging.
 * Because the ledger part appears atomically, dedupe (which reads the ledger) and the data agree.
 *
 * A compaction C of month M of one table (inputs: M's committed files at that moment):
 *   1. COPY inputs → `records/month=M/.compact-C.parquet.tmp`, check the row count, fsync.
 *   2. Write the manifest `_compact-C.json` (output name, inputs) atomically.
 *   3. Rename the output to `compact-C.parquet`, fsync the directory. THE COMMIT POINT.
 *   4. Delete the inputs, fsync; 5. delete the manifest, fsync.
 * Crash before 3: the output has no final name; recover deletes the temp file and the manifest;
 * the inputs are untouched. After 3: readers already skip the inputs (manifest + output exist);
 * recover finishes 4 and 5. The ledger is not touched, so dedupe is unaffected.
 *
 * Kept foreign reports (the only thing quarantined) are written when asked (content-addressed,
 * idempotent), outside the protocol: see quarantine.ts. Month `unknown` holds reports with
 * implausible dates (reportMonth). One writer at a time: lock.ts.
 */
import { existsSync, renameSync } from 'node:fs';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { alignmentModes, deriveAlignment } from '../derive.ts';
import type { ParseWarning, ReportHeader, ReportRecord } from '../parse/types.ts';
import { tlsReportKey, tlsReportRows } from '../parse/tls/rows.ts';
import { MAX_HEADER_CHARS, MAX_REASON_CHARS, ledgerMessageId, ledgerText } from '../privacy.ts';
import { compactMonth } from './compact.ts';
import { openDuck } from './duck.ts';
import type { DuckOptions } from './duck.ts';
import { ensureDir, fsyncDir, fsyncFile, removeEmptyDir, removeFile, removeTree } from './fsx.ts';
import { reportKey } from './key.ts';
import {
  LEDGER_DIR,
  RECORDS_DIR,
  STAGING_DIR,
  TLS_DIR,
  UNKNOWN_MONTH,
  checkId,
  ledgerPartName,
  monthDir,
  monthOf,
  runPartName,
  sqlString,
  tmpName,
} from './layout.ts';
import { loadLedgerIndex } from './ledger.ts';
import type { LedgerIndex } from './ledger.ts';
import type { Table } from './layout.ts';
import { acquireLock } from './lock.ts';
import { keepReport, quarantineBytes } from './quarantine.ts';
import type { KeepLimits, KeptFormat, KeptReport } from './quarantine.ts';
import { recover } from './recover.ts';
import {
  NdjsonFile,
  enrichmentLine,
  enrichmentTableSql,
  epochOrNull,
  headerLine,
  ledgerCopySql,
  ledgerLine,
  partCopySql,
  recordLine,
  reportsTableSql,
  tlsLine,
  tlsPartCopySql,
} from './staging.ts';
import type { LedgerLine } from './staging.ts';
import { StoreRefusal } from './types.ts';
import type {
  AddReportResult,
  AddTlsReportResult,
  CommitOptions,
  CompactResult,
  Enrichment,
  EnrichmentSource,
  LedgerEntry,
  LedgerSource,
  PartSummary,
  ProtocolStep,
  QuarantineOutcome,
  RecoverResult,
  ReportInput,
  RunSummary,
  TlsReportInput,
} from './types.ts';

export type * from './types.ts';
export { StoreRefusal } from './types.ts';
export { reportKey } from './key.ts';
export type { ReportIdentity } from './key.ts';
export { findReports, unsupportedTlsInputs } from './ledger.ts';
export {
  committedLedgerFiles,
  committedRecordFiles,
  committedRecordsSql,
  committedTlsFiles,
  committedTlsSql,
  ledgerGlob,
} from './layout.ts';
export type { Table } from './layout.ts';
export { keepReport, quarantineBytes } from './quarantine.ts';
export type { KeepLimits, KeptFormat, KeptReport } from './quarantine.ts';
export { UNKNOWN_MONTH } from './layout.ts';
export { RECORD_COLUMNS, LEDGER_COLUMNS, TLS_COLUMNS } from './schema.ts';
export type { ColumnDef } from './schema.ts';

export interface DatasetOptions {
  /** The dataset directory, e.g. 'reports'; created if missing. */
  root: string;
  /** DuckDB threads for writing parts (default 1: flat memory, the other core stays with parsing). */
  threads?: number;
  /**
   * DuckDB memory_limit while committing a run (default '256MB'): a ceiling, not a reservation —
   * a commit of 100k records uses ~50 MB; the ceiling is there so that a huge run spills or fails
   * instead of eating the machine.
   */
  memoryLimit?: string;
  /** DuckDB memory_limit while compacting (default '256MB'; the sort spills to disk beyond it). */
  compactMemoryLimit?: string;
  /**
   * Parquet row group size of run parts (default 4096) and compaction outputs (default 65536).
   * The writer holds a row group in memory: small groups keep an ingest's memory flat.
   */
  rowGroupSize?: number;
  compactRowGroupSize?: number;
  /**
   * Take over the writer lock even if its holder can't be shown dead (it ran on another host).
   * Only when no other writer can be running: recover() deletes an unfinished run's files.
   */
  breakLock?: boolean;
  /** Called at each protocol step (after it is durable); tests crash the process here. */
  onStep?: (step: ProtocolStep, detail: string) => void | Promise<void>;
}

export interface Dataset {
  readonly root: string;
  /** What `recover()` cleaned up when the dataset was opened. */
  readonly recovery: RecoverResult;
  /** True when a committed run stored this report, or the active run already has. */
  hasReport(reportKey: string): boolean;
  /** The same for TLS reports (their keys are kept apart: a TLS report never dedupes an aggregate one). */
  hasTlsReport(reportKey: string): boolean;
  /**
   * True when a committed run has a ledger row for this input (source_ref), whatever its outcome —
   * except inputs an earlier dmarcops set aside as unsupported TLS reports: those are read again.
   */
  hasSource(sourceRef: string): boolean;
  /**
   * Inputs an earlier dmarcops set aside as unsupported TLS reports (ledger `kind = tls`, `outcome =
   * unsupported`) that no committed run has read since (source_refs).
   */
  unsupportedTlsSources(): ReadonlySet<string>;
  beginRun(run: { runId: string; ingestedAt: Date }): Promise<RunWriter>;
  /** Compacts one month of records/ (default) or tls/. */
  compact(month: string, table?: Table): Promise<CompactResult>;
  /** Aborts an active run, releases the lock. */
  close(): Promise<void>;
}

export interface RunWriter {
  readonly runId: string;
  readonly ingestedAt: Date;
  /** Stores a report's rows (streamed batch by batch) unless its key is already stored. */
  addReport(input: ReportInput): Promise<AddReportResult>;
  /**
   * Stores an SMTP TLS report's rows in tls/ unless its key is already stored (by TLS reports). Throws
   * StoreRefusal, staging nothing, when its rows would be too big (see MAX_TLS_ROW_CHARS).
   */
  addTlsReport(input: TlsReportInput): Promise<AddTlsReportResult>;
  /** Ledger row for an input that was not stored (foreign, invalid, unsupported, duplicate). */
  addLedgerEntry(entry: LedgerEntry): void;
  /** True when a committed run or this run has a ledger row for this input (source_ref). */
  hasSource(sourceRef: string): boolean;
  /** The distinct source IPs of the rows staged so far, to enrich once per run. */
  sourceIps(): ReadonlySet<string>;
  /**
   * Stages the enrichment of source IPs now (IPs the run has seen, each once; commit's `enrichment`
   * skips them), so a run that enriches while it parses need not hold it all until the commit.
   */
  addEnrichment(entries: Iterable<[string, Enrichment]>): void;
  /** Keeps a foreign input's raw bytes under quarantine/foreign/; returns the path (put it in the ledger entry). */
  quarantine(bytes: Uint8Array, outcome: QuarantineOutcome, name: string): Promise<string>;
  /**
   * Keeps a foreign report's XML, gzipped, as quarantine/foreign/<sha256 of the XML>.xml.gz (a TLS
   * report's JSON as <sha256>.json.gz with `format` json), unless the gzip grows past
   * `limits.maxBytes`, or is new and bigger than `limits.maxNewBytes` (then nothing is kept).
   * Content-addressed: the same report twice is one file (`added` false the second time).
   */
  keepReport(xml: AsyncIterable<Uint8Array>, limits: KeepLimits, format?: KeptFormat): Promise<KeptReport>;
  /** Writes the parts, then the ledger part last (the commit point). */
  commit(options?: CommitOptions): Promise<RunSummary>;
  /** Drops everything the run staged or wrote; the dataset stays as before. No-op once committed. */
  abort(): Promise<void>;
}

export async function openDataset(options: DatasetOptions): Promise<Dataset> {
  const root = options.root;
  ensureDir(root);
  const release = acquireLock(root, options.breakLock ?? false);
  try {
    const recovery = recover(root);
    const index = await loadLedgerIndex(root, () =>
      openDuck({ threads: options.threads ?? 1, memoryLimit: options.memoryLimit ?? '256MB' }),
    );
    return new LocalDataset(options, recovery, index, release);
  } catch (error) {
    release();
    throw error;
  }
}

/** Reports that start before this are not real: DMARC was first published in January 2012 (dmarc.org). */
export const EARLIEST_PLAUSIBLE_DATE = Date.UTC(2012, 0, 1) / 1000;
/** How far past the ingest clock a report may end (clock skew, time zones). */
export const FUTURE_SLACK_SECONDS = 86_400;

const isoSeconds = (epoch: number): string => {
  const value = epochOrNull(epoch);
  return value === null ? String(epoch) : new Date(value * 1000).toISOString().replace('.000Z', 'Z');
};

/**
 * The month a report's rows go to: its start date, else its end, else when it was ingested; but
 * `unknown`, with a warning, when its range ends more than a day after the ingest or begins before
 * 2012 (epoch 0 included). Anyone can mail a report: its dates must not put rows into a month that
 * is long closed (and compacted) or still to come.
 */
export function reportMonth(
  header: Pick<ReportHeader, 'dateBegin' | 'dateEnd'>,
  ingestedAt: Date,
): { month: string; warning?: ParseWarning } {
  const latest = Math.floor(ingestedAt.getTime() / 1000) + FUTURE_SLACK_SECONDS;
  const problems: string[] = [];
  for (const [name, value] of [
    ['begin', header.dateBegin],
    ['end', header.dateEnd],
  ] as const) {
    if (value === null || value === undefined) continue;
    if (!Number.isFinite(value) || value < EARLIEST_PLAUSIBLE_DATE) problems.push(`${name} ${isoSeconds(value)} is before 2012-01-01`);
    else if (value > latest)
      problems.push(`${name} ${isoSeconds(value)} is more than a day after the ingest (${isoSeconds(latest - FUTURE_SLACK_SECONDS)})`);
  }
  if (problems.length > 0) {
    const message = `implausible date_range: ${problems.join('; ')}; stored in month=${UNKNOWN_MONTH}`;
    return { month: UNKNOWN_MONTH, warning: { code: 'date-implausible', message, count: 1 } };
  }
  const when = epochOrNull(header.dateBegin) ?? epochOrNull(header.dateEnd);
  return { month: when !== null ? monthOf(when) : ingestedAt.toISOString().slice(0, 7) };
}

/**
 * Ledger source fields without the nulls (null and absent mean the same: unknown). Subject and
 * Message-ID are mail text from anyone: addresses removed, control characters out, length capped.
 */
function sourceFields(source: LedgerSource | undefined): LedgerSource {
  const fields: LedgerSource = {};
  if (source?.sourceName != null) fields.sourceName = source.sourceName;
  if (source?.sourceTrail != null) fields.sourceTrail = source.sourceTrail;
  const messageId = ledgerMessageId(source?.messageId);
  if (messageId !== null) fields.messageId = messageId;
  const subject = ledgerText(source?.subject, MAX_HEADER_CHARS);
  if (subject !== null) fields.subject = subject;
  if (source?.sourceBytes != null && Number.isSafeInteger(source.sourceBytes)) fields.sourceBytes = source.sourceBytes;
  return fields;
}

function lookupOf(source: EnrichmentSource | undefined): ((ip: string) => Enrichment | undefined) | undefined {
  if (source === undefined) return undefined;
  if (typeof source === 'function') return source;
  return (ip) => source.get(ip);
}

/** Lets the producer of a records stream we will not read release what it holds. */
async function closeRecords(records: ReportInput['records']): Promise<void> {
  try {
    const it = Symbol.asyncIterator in records ? records[Symbol.asyncIterator]() : records[Symbol.iterator]();
    await it.return?.();
  } catch {
    // Best effort: a producer that cannot be closed is not our failure.
  }
}

class LocalDataset implements Dataset {
  readonly root: string;
  readonly recovery: RecoverResult;
  readonly options: DatasetOptions;
  #stored: Set<string>;
  #storedTls: Set<string>;
  #sources: Set<string>;
  #unsupportedTls: Set<string>;
  #releaseLock: (() => void) | undefined;
  #active: LocalRun | undefined;

  constructor(options: DatasetOptions, recovery: RecoverResult, index: LedgerIndex, releaseLock: () => void) {
    this.root = options.root;
    this.options = options;
    this.recovery = recovery;
    this.#stored = index.storedKeys;
    this.#storedTls = index.storedTlsKeys;
    this.#sources = index.sources;
    this.#unsupportedTls = index.unsupportedTls;
    this.#releaseLock = releaseLock;
  }

  isCommitted(key: string): boolean {
    return this.#stored.has(key);
  }

  hasReport(key: string): boolean {
    return this.#stored.has(key) || (this.#active?.hasKey(key) ?? false);
  }

  isTlsCommitted(key: string): boolean {
    return this.#storedTls.has(key);
  }

  hasTlsReport(key: string): boolean {
    return this.#storedTls.has(key) || (this.#active?.hasTlsKey(key) ?? false);
  }

  hasSource(sourceRef: string): boolean {
    return this.#sources.has(sourceRef);
  }

  unsupportedTlsSources(): ReadonlySet<string> {
    return this.#unsupportedTls;
  }

  async beginRun(run: { runId: string; ingestedAt: Date }): Promise<RunWriter> {
    this.#assertOpen();
    if (this.#active !== undefined) throw new Error(`Run ${this.#active.runId} is still active: commit or abort it first`);
    checkId(run.runId);
    if (Number.isNaN(run.ingestedAt.getTime())) throw new Error('ingestedAt is not a valid date');
    if (existsSync(join(this.root, LEDGER_DIR, ledgerPartName(run.runId)))) {
      throw new Error(`Run ${run.runId} is already committed: every run needs a new id`);
    }
    const staging = join(this.root, STAGING_DIR, run.runId);
    removeTree(staging);
    ensureDir(staging);
    this.#active = new LocalRun(this, run.runId, run.ingestedAt, staging);
    return this.#active;
  }

  /** `committed` carries what the run adds to the dedupe indexes; null when it did not commit. */
  runEnded(run: LocalRun, committed: RunIndexes | null): void {
    if (committed !== null) {
      for (const key of committed.keys) this.#stored.add(key);
      for (const key of committed.tlsKeys) this.#storedTls.add(key);
      for (const ref of committed.sources) {
        this.#sources.add(ref);
        this.#unsupportedTls.delete(ref);
      }
    }
    if (this.#active === run) this.#active = undefined;
  }

  async compact(month: string, table: Table = RECORDS_DIR): Promise<CompactResult> {
    this.#assertOpen();
    return compactMonth(
      {
        root: this.root,
        duck: { threads: this.options.threads ?? 1, memoryLimit: this.options.compactMemoryLimit ?? '256MB' },
        rowGroupSize: this.options.compactRowGroupSize ?? 65_536,
        step: (step, detail) => this.step(step, detail),
      },
      month,
      table,
    );
  }

  async step(step: ProtocolStep, detail: string): Promise<void> {
    await this.options.onStep?.(step, detail);
  }

  async close(): Promise<void> {
    if (this.#releaseLock === undefined) return;
    try {
      if (this.#active !== undefined) await this.#active.abort();
    } finally {
      this.#releaseLock();
      this.#releaseLock = undefined;
    }
  }

  #assertOpen(): void {
    if (this.#releaseLock === undefined) throw new Error(`The dataset ${this.root} is closed`);
  }
}

type RunStatus = 'open' | 'committing' | 'committed' | 'aborted';

/** What a committed run adds to the dataset's dedupe indexes. */
interface RunIndexes {
  keys: Iterable<string>;
  tlsKeys: Iterable<string>;
  sources: Iterable<string>;
}

/**
 * Largest staged line of one TLS row, in characters. Report- and policy-level columns are repeated
 * on every row (as for records), so a hostile report could make each of its rows huge; a real row is
 * a few KiB (the widest: a hundred distinct warnings, ~20 KiB). Parts are written 4096 rows per row
 * group, so this also bounds the Parquet writer's memory.
 */
export const MAX_TLS_ROW_CHARS = 64 * 1024;
/**
 * Most characters one TLS report's rows may stage, all rows together: eight times its JSON, at least
 * 64 Mi. Real reports stay far below (a row is about the size of its failure detail plus the report's
 * few hundred bytes); a report built to repeat big values on many rows is refused, not written.
 */
export function maxTlsStagedChars(jsonBytes: number): number {
  return Math.max(64 * 1024 * 1024, 8 * jsonBytes);
}

class LocalRun implements RunWriter {
  readonly runId: string;
  readonly ingestedAt: Date;
  #dataset: LocalDataset;
  #staging: string;
  #status: RunStatus = 'open';
  #months = new Map<string, NdjsonFile>();
  #tlsMonths = new Map<string, NdjsonFile>();
  #headers: NdjsonFile;
  #ledger: LedgerLine[] = [];
  #keys = new Set<string>();
  #tlsKeys = new Set<string>();
  #sources = new Set<string>();
  #ips = new Set<string>();
  /** Source IPs whose enrichment is staged (lines only for those with something known). */
  #enriched = new Set<string>();
  #enrichment: NdjsonFile | undefined;
  #nextReport = 0;
  #stored = 0;
  #duplicates = 0;
  #tls = { stored: 0, duplicates: 0, rows: 0 };
  /** Final-named files this run created; removed again if it does not commit. */
  #written: string[] = [];
  #tail: Promise<unknown> = Promise.resolve();

  constructor(dataset: LocalDataset, runId: string, ingestedAt: Date, staging: string) {
    this.#dataset = dataset;
    this.runId = runId;
    this.ingestedAt = ingestedAt;
    this.#staging = staging;
    this.#headers = new NdjsonFile(join(staging, 'reports.ndjson'));
  }

  hasKey(key: string): boolean {
    return this.#keys.has(key);
  }

  hasTlsKey(key: string): boolean {
    return this.#tlsKeys.has(key);
  }

  hasSource(sourceRef: string): boolean {
    return this.#sources.has(sourceRef) || this.#dataset.hasSource(sourceRef);
  }

  sourceIps(): ReadonlySet<string> {
    return this.#ips;
  }

  addEnrichment(entries: Iterable<[string, Enrichment]>): void {
    this.#assertOpen();
    for (const [ip, e] of entries) this.#stageEnrichmentOf(ip, e);
  }

  #stageEnrichmentOf(ip: string, e: Enrichment | undefined): void {
    if (e === undefined || !this.#ips.has(ip) || this.#enriched.has(ip)) return;
    this.#enriched.add(ip);
    // Nothing known is what the LEFT JOIN gives anyway: no line.
    if (e.ptr == null && e.baseDomain == null && e.name == null && e.type == null && e.asn == null && e.asName == null && e.country == null)
      return;
    this.#enrichment ??= new NdjsonFile(join(this.#staging, 'enrichment.ndjson'));
    this.#enrichment.push(enrichmentLine(ip, e));
  }

  /** One operation at a time: a report's rows must be contiguous in its month file to be cut off. */
  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.#tail.then(fn);
    this.#tail = next.catch(() => undefined);
    return next;
  }

  #assertOpen(): void {
    if (this.#status !== 'open') throw new Error(`Run ${this.runId} is ${this.#status}`);
  }

  #monthFile(month: string, table: Table = RECORDS_DIR): NdjsonFile {
    const files = table === TLS_DIR ? this.#tlsMonths : this.#months;
    let file = files.get(month);
    if (file === undefined) {
      file = new NdjsonFile(join(this.#staging, `${table}-${month}.ndjson`));
      files.set(month, file);
    }
    return file;
  }

  addTlsReport(input: TlsReportInput): Promise<AddTlsReportResult> {
    return this.#serial(async () => {
      this.#assertOpen();
      const { report } = input;
      const { header } = report;
      const key = tlsReportKey(report);
      const { month, warning: dateWarning } = reportMonth(header, this.ingestedAt);
      const base = {
        sourceRef: input.sourceRef,
        kind: 'tls' as const,
        reportKey: key,
        orgName: header.orgName,
        ...(header.contactInfo === undefined ? {} : { orgEmail: header.contactInfo }),
        reportId: header.reportId,
        policyDomain: report.policyDomains.join(','),
        dateBegin: header.dateBegin,
        dateEnd: header.dateEnd,
        ...sourceFields(input.ledger),
      };
      if (this.#dataset.isTlsCommitted(key) || this.#tlsKeys.has(key)) {
        const reason = this.#tlsKeys.has(key) ? 'report already stored by this run' : 'report already stored by an earlier run';
        this.#sources.add(input.sourceRef);
        this.#pushLedger({ ...base, outcome: 'duplicate', reason });
        this.#tls.duplicates++;
        return { outcome: 'duplicate', reportKey: key, rows: 0 };
      }
      const rows = tlsReportRows(report);
      if (dateWarning !== undefined) {
        const warning = { code: dateWarning.code, message: dateWarning.message, policy: null, count: 1 };
        for (const row of rows) row.report_warnings = [...row.report_warnings, warning];
      }
      const file = this.#monthFile(month, TLS_DIR);
      const mark = file.mark();
      const budget = maxTlsStagedChars(report.stats.bytes);
      let staged = 0;
      let sessions = 0;
      for (const [index, row] of rows.entries()) {
        const line = tlsLine(row, input.sourceRef);
        staged += line.length;
        const refusal =
          line.length > MAX_TLS_ROW_CHARS
            ? `row ${index + 1} of its rows would take ${line.length} characters, ` +
              `more than ${MAX_TLS_ROW_CHARS} (report-level and policy values are repeated on each row)`
            : staged > budget
              ? `its ${rows.length} rows would take more than ${budget} characters (8 times its JSON, ` +
                'at least 64 Mi; report-level and policy values are repeated on each row)'
              : undefined;
        if (refusal !== undefined) {
          // Nothing of it stays staged; the caller records the input with this reason.
          file.rollback(mark);
          throw new StoreRefusal('rows-too-large', refusal);
        }
        file.push(line);
        if (row.row_kind === 'summary') sessions += (row.successful_sessions ?? 0) + (row.failed_sessions ?? 0);
      }
      this.#sources.add(input.sourceRef);
      this.#tlsKeys.add(key);
      this.#tls.stored++;
      this.#tls.rows += rows.length;
      this.#pushLedger({
        ...base,
        outcome: 'stored',
        month,
        records: rows.length,
        messages: sessions,
        warningCount: report.warnings.length + (dateWarning === undefined ? 0 : 1),
      });
      return { outcome: 'stored', reportKey: key, rows: rows.length };
    });
  }

  addReport(input: ReportInput): Promise<AddReportResult> {
    return this.#serial(async () => {
      this.#assertOpen();
      const { header } = input;
      const key = reportKey(header);
      const { month, warning: dateWarning } = reportMonth(header, this.ingestedAt);
      const base = {
        sourceRef: input.sourceRef,
        kind: 'aggregate' as const,
        reportKey: key,
        orgName: header.orgName,
        orgEmail: header.email,
        reportId: header.reportId,
        policyDomain: header.policy.domain,
        dateBegin: header.dateBegin,
        dateEnd: header.dateEnd,
        ...sourceFields(input.ledger),
      };
      this.#sources.add(input.sourceRef);
      const earlier = this.#dataset.isCommitted(key);
      if (earlier || this.#keys.has(key)) {
        await closeRecords(input.records);
        const reason = earlier ? 'report already stored by an earlier run' : 'report already stored by this run';
        this.#pushLedger({ ...base, outcome: 'duplicate', reason });
        this.#duplicates++;
        return { outcome: 'duplicate', reportKey: key, records: 0 };
      }

      const file = this.#monthFile(month);
      const fileMark = file.mark();
      const headerMark = this.#headers.mark();
      const rk = this.#nextReport++;
      const modes = alignmentModes(header.policy, input.policy);
      const lookup = lookupOf(input.enrichment);
      let records = 0;
      let messages = 0;
      let warningCount = 0;
      try {
        for await (const batch of input.records as AsyncIterable<ReportRecord[]>) {
          for (const record of batch) {
            this.#ips.add(record.sourceIp);
            file.push(recordLine(rk, records, record, deriveAlignment(record, modes), lookup?.(record.sourceIp)));
            records++;
            if (record.count !== null && Number.isSafeInteger(record.count)) messages += record.count;
          }
        }
        const warnings = dateWarning === undefined ? input.warnings() : [...input.warnings(), dateWarning];
        warningCount = warnings.length;
        this.#headers.push(headerLine(rk, key, header, warnings, input.sourceRef));
      } catch (error) {
        file.rollback(fileMark);
        this.#headers.rollback(headerMark);
        throw error;
      }
      this.#keys.add(key);
      this.#pushLedger({ ...base, outcome: 'stored', month, records, messages, warningCount });
      this.#stored++;
      return { outcome: 'stored', reportKey: key, records };
    });
  }

  #pushLedger(line: Omit<LedgerLine, 'seq'>): void {
    this.#ledger.push({ ...line, seq: this.#ledger.length });
  }

  addLedgerEntry(entry: LedgerEntry): void {
    this.#assertOpen();
    if ((entry.outcome as string) === 'stored') throw new Error('Only addReport can record a stored report');
    const { quarantinePath, header, sourceName, sourceTrail, messageId, subject, sourceBytes, reason, ...rest } = entry;
    const line: Omit<LedgerLine, 'seq'> = { ...rest, ...sourceFields({ sourceName, sourceTrail, messageId, subject, sourceBytes }) };
    // Reasons can quote a subject: the same rule as for the subject itself.
    const cleanReason = ledgerText(reason, MAX_REASON_CHARS);
    if (cleanReason !== null) line.reason = cleanReason;
    if (header !== undefined) {
      line.reportKey ??= reportKey(header);
      line.orgName ??= header.orgName;
      line.orgEmail ??= header.email;
      line.reportId ??= header.reportId;
      line.policyDomain ??= header.policy.domain;
      if (line.dateBegin === undefined) line.dateBegin = header.dateBegin;
      if (line.dateEnd === undefined) line.dateEnd = header.dateEnd;
    }
    if (quarantinePath !== undefined) line.quarantinePath = this.#relativeToRoot(quarantinePath);
    this.#sources.add(entry.sourceRef);
    if (entry.outcome === 'duplicate') this.#duplicates++;
    this.#pushLedger(line);
  }

  #relativeToRoot(path: string): string {
    const root = resolve(this.#dataset.root);
    const abs = isAbsolute(path) ? path : resolve(path);
    const rel = relative(root, abs);
    return rel.startsWith('..') || isAbsolute(rel) ? path : rel.split('\\').join('/');
  }

  async quarantine(bytes: Uint8Array, outcome: QuarantineOutcome, name: string): Promise<string> {
    this.#assertOpen();
    return quarantineBytes(this.#dataset.root, bytes, outcome, name);
  }

  async keepReport(xml: AsyncIterable<Uint8Array>, limits: KeepLimits, format: KeptFormat = 'xml'): Promise<KeptReport> {
    this.#assertOpen();
    return keepReport(this.#dataset.root, xml, limits, format);
  }

  commit(options: CommitOptions = {}): Promise<RunSummary> {
    return this.#serial(async () => {
      this.#assertOpen();
      this.#status = 'committing';
      const root = this.#dataset.root;
      const step = (s: ProtocolStep, detail = ''): Promise<void> => this.#dataset.step(s, detail);
      const summary: RunSummary = {
        runId: this.runId,
        ingestedAt: this.ingestedAt,
        committed: false,
        stored: this.#stored,
        duplicates: this.#duplicates,
        ledgerEntries: this.#ledger.length,
        records: 0,
        tls: { ...this.#tls },
        parts: [],
        ledgerPath: null,
      };
      const dsOptions = this.#dataset.options;
      let duck: Awaited<ReturnType<typeof openDuck>> | undefined;
      let committed = false;
      try {
        for (const file of [...this.#months.values(), ...this.#tlsMonths.values()]) file.close();
        this.#headers.close();
        if (this.#ledger.length === 0) {
          this.#enrichment?.close();
          // Nothing came in: no ledger part, nothing to commit.
          committed = true;
          this.#finish('committed', null);
          removeTree(this.#staging);
          removeEmptyDir(join(root, STAGING_DIR));
          return summary;
        }
        await step('run:staged');
        const duckOptions: DuckOptions = {
          threads: dsOptions.threads ?? 1,
          memoryLimit: dsOptions.memoryLimit ?? '256MB',
          tempDirectory: join(this.#staging, 'duckdb'),
        };
        duck = await openDuck(duckOptions);
        const run = { runId: this.runId, ingestedAt: this.ingestedAt };
        // DuckDB guesses a few dozen rows for read_csv and would build its join hash tables on the
        // staged records (all of them, in memory) instead of on the reports and enrichment tables.
        await duck.run(`SET disabled_optimizers = 'build_side_probe_side'`);
        await duck.run(reportsTableSql(this.#headers));
        await duck.run(enrichmentTableSql(this.#stageEnrichment(options.enrichment)));
        const dirs = new Set<string>();
        for (const month of [...this.#months.keys()].sort()) {
          const file = this.#months.get(month) as NdjsonFile;
          if (file.rows === 0) continue;
          const dir = monthDir(root, month);
          ensureDir(dir);
          dirs.add(dir);
          const tmp = join(dir, tmpName(runPartName(this.runId)));
          const final = join(dir, runPartName(this.runId));
          this.#written.push(tmp);
          await duck.run(partCopySql(file, tmp, run, { rowGroupSize: dsOptions.rowGroupSize ?? 4096 }));
          await checkRows(duck, tmp, file.rows);
          fsyncFile(tmp);
          await step('run:part-written', month);
          this.#written.push(final);
          renameSync(tmp, final);
          await step('run:part-renamed', month);
          summary.parts.push({ table: RECORDS_DIR, month, path: final, records: file.rows } satisfies PartSummary);
          summary.records += file.rows;
        }
        // TLS report rows: the same steps into tls/, committed by the same ledger part.
        for (const month of [...this.#tlsMonths.keys()].sort()) {
          const file = this.#tlsMonths.get(month) as NdjsonFile;
          if (file.rows === 0) continue;
          const dir = monthDir(root, month, TLS_DIR);
          ensureDir(dir);
          dirs.add(dir);
          const tmp = join(dir, tmpName(runPartName(this.runId)));
          const final = join(dir, runPartName(this.runId));
          this.#written.push(tmp);
          await duck.run(tlsPartCopySql(file, tmp, run, { rowGroupSize: dsOptions.rowGroupSize ?? 4096 }));
          await checkRows(duck, tmp, file.rows);
          fsyncFile(tmp);
          await step('run:tls-part-written', month);
          this.#written.push(final);
          renameSync(tmp, final);
          await step('run:tls-part-renamed', month);
          summary.parts.push({ table: TLS_DIR, month, path: final, records: file.rows } satisfies PartSummary);
        }
        // The parts must be durable before the ledger part can vouch for them.
        for (const dir of dirs) fsyncDir(dir);

        const ledgerDir = join(root, LEDGER_DIR);
        ensureDir(ledgerDir);
        const ledgerFile = new NdjsonFile(join(this.#staging, 'ledger.ndjson'));
        for (const line of this.#ledger) ledgerFile.push(ledgerLine(line));
        ledgerFile.close();
        const ledgerTmp = join(ledgerDir, tmpName(ledgerPartName(this.runId)));
        const ledgerFinal = join(ledgerDir, ledgerPartName(this.runId));
        this.#written.push(ledgerTmp);
        await duck.run(ledgerCopySql(ledgerFile, ledgerTmp, run));
        await checkRows(duck, ledgerTmp, this.#ledger.length);
        fsyncFile(ledgerTmp);
        await step('run:ledger-written');

        renameSync(ledgerTmp, ledgerFinal);
        // Committed. Nothing below may undo it.
        committed = true;
        this.#finish('committed', { keys: this.#keys, tlsKeys: this.#tlsKeys, sources: this.#sources });
        summary.committed = true;
        summary.ledgerPath = ledgerFinal;
        fsyncDir(ledgerDir);
        await step('run:committed');
      } catch (error) {
        if (!committed) this.#rollback();
        throw error;
      } finally {
        duck?.close();
      }
      removeTree(this.#staging);
      removeEmptyDir(join(root, STAGING_DIR));
      await step('run:cleaned');
      return summary;
    });
  }

  /** Adds the commit's enrichment of the IPs seen to what addEnrichment staged; the file, or null when empty. */
  #stageEnrichment(source: CommitOptions['enrichment']): NdjsonFile | null {
    const lookup = lookupOf(source);
    if (lookup !== undefined) for (const ip of this.#ips) if (!this.#enriched.has(ip)) this.#stageEnrichmentOf(ip, lookup(ip));
    const file = this.#enrichment;
    file?.close();
    return file !== undefined && file.rows > 0 ? file : null;
  }

  abort(): Promise<void> {
    return this.#serial(async () => {
      // Once committed there is nothing to undo: abort is then a no-op, so a caller's catch-all
      // cleanup after a later failure cannot hide that failure.
      if (this.#status === 'aborted' || this.#status === 'committed') return;
      this.#rollback();
    });
  }

  #rollback(): void {
    for (const file of [...this.#months.values(), ...this.#tlsMonths.values(), this.#headers]) file.close();
    this.#enrichment?.close();
    for (const path of this.#written) removeFile(path);
    removeTree(this.#staging);
    this.#finish('aborted', null);
  }

  #finish(status: RunStatus, committed: RunIndexes | null): void {
    this.#status = status;
    this.#dataset.runEnded(this, committed);
  }
}

async function checkRows(duck: Awaited<ReturnType<typeof openDuck>>, path: string, expected: number): Promise<void> {
  const rows = await duck.rows<{ n: number }>(`SELECT count(*) AS n FROM read_parquet(${sqlString(path)}, hive_partitioning = false)`);
  const actual = Number(rows[0]?.n);
  if (actual !== expected) throw new Error(`${path}: wrote ${actual} rows, expected ${expected}`);
}
