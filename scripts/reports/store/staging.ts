/**
 * How a run's rows wait for commit: NDJSON in the run's staging directory, turned into Parquet by
 * one DuckDB COPY per month part.
 *
 * - One line per record with short keys (half the bytes of column names, so half the stringify
 *   and parse time) and only the record's own fields; report-level columns are written once per
 *   report to a second file and joined in at COPY time. That is also what makes the report's
 *   warnings — complete only after its records are drained — land on every row.
 * - DuckDB reads the lines through `read_csv` (one VARCHAR column, a delimiter JSON.stringify
 *   never emits) and `json_transform`, not `read_json`: read_json allocates 32 MiB buffers per
 *   thread whatever the input, read_csv's buffer is ours to size. Measured in bench/ingest/store.ts.
 */
import { closeSync, ftruncateSync, openSync, writeSync } from 'node:fs';
import type { Alignment } from '../derive.ts';
import type { ParseWarning, ReportHeader, ReportRecord } from '../parse/types.ts';
import type { TlsReportRow } from '../parse/tls/types.ts';
import { sqlString } from './layout.ts';
import { LEDGER_COLUMNS, RECORD_COLUMNS, TLS_COLUMNS } from './schema.ts';
import type { Enrichment, InputKind, LedgerOutcome, LedgerSource } from './types.ts';

/**
 * DuckDB's largest CSV buffer, also the longest line it accepts. The parser caps a record at 1 Mi
 * characters; 4 MiB holds that even as 3-byte UTF-8.
 */
const LINE_BUFFER_BYTES = 4 * 1024 * 1024;
/**
 * The CSV buffer when every line is short: DuckDB keeps several buffers of this size in flight,
 * so 4 MiB ones cost a commit ~17 MiB more peak than 256 KiB ones, for no speed (below 256 KiB
 * the COPY slows down). Measured in bench/README.md.
 */
const SMALL_BUFFER_BYTES = 256 * 1024;
/** Small on purpose: lines that wait long get promoted to V8's old space and grow the heap. */
const FLUSH_CHARS = 64 * 1024;

/** A staged file as the SQL below reads it: where, and how big DuckDB's line buffer must be. */
export interface StagedFile {
  readonly path: string;
  readonly bufferBytes: number;
}

export interface Mark {
  bytes: number;
  rows: number;
}

/** Append-only NDJSON with a rollback mark, so a report that fails midway leaves no rows behind. */
export class NdjsonFile implements StagedFile {
  readonly path: string;
  rows = 0;
  /** The longest line pushed, in UTF-16 code units (at most 3 bytes each in UTF-8). */
  #longest = 0;
  #fd: number | undefined;
  #written = 0;
  #lines: string[] = [];
  #chars = 0;
  /** Reused for every write (a fresh Buffer per flush is external memory the GC frees late). */
  #bytes = Buffer.allocUnsafe(0);

  constructor(path: string) {
    this.path = path;
    this.#fd = openSync(path, 'w');
  }

  push(line: string): void {
    if (line.length > LINE_BUFFER_BYTES / 4 && Buffer.byteLength(line) >= LINE_BUFFER_BYTES) {
      throw new Error(`A record of ${Buffer.byteLength(line)} bytes is too large to store (limit ${LINE_BUFFER_BYTES})`);
    }
    this.#lines.push(line);
    this.#chars += line.length;
    if (line.length > this.#longest) this.#longest = line.length;
    this.rows++;
    if (this.#chars >= FLUSH_CHARS) this.flush();
  }

  flush(): void {
    if (this.#lines.length === 0) return;
    const text = `${this.#lines.join('\n')}\n`;
    this.#lines = [];
    this.#chars = 0;
    // A UTF-16 code unit never takes more than 3 bytes in UTF-8.
    if (this.#bytes.length < text.length * 3) this.#bytes = Buffer.allocUnsafe(text.length * 3);
    const length = this.#bytes.write(text);
    const fd = this.#open();
    let done = 0;
    while (done < length) done += writeSync(fd, this.#bytes, done, length - done, this.#written + done);
    this.#written += length;
  }

  /** DuckDB's CSV buffer for this file: the small one unless a line (with its newline) might not fit. */
  get bufferBytes(): number {
    return this.#longest * 3 + 1 < SMALL_BUFFER_BYTES ? SMALL_BUFFER_BYTES : LINE_BUFFER_BYTES;
  }

  mark(): Mark {
    this.flush();
    return { bytes: this.#written, rows: this.rows };
  }

  rollback(mark: Mark): void {
    this.#lines = [];
    this.#chars = 0;
    ftruncateSync(this.#open(), mark.bytes);
    this.#written = mark.bytes;
    this.rows = mark.rows;
  }

  /** Idempotent: a closed descriptor number may already belong to another file. */
  close(): void {
    if (this.#fd === undefined) return;
    this.flush();
    closeSync(this.#fd);
    this.#fd = undefined;
  }

  #open(): number {
    if (this.#fd === undefined) throw new Error(`${this.path} is closed`);
    return this.#fd;
  }
}

/** Counts must be integers; anything else was unreadable (the parser keeps the raw text). */
function int(value: number | null | undefined): number | null {
  return typeof value === 'number' && Number.isSafeInteger(value) ? value : null;
}

/** Epoch seconds DuckDB can hold as a TIMESTAMP (years 1–9999), else null. */
export function epochOrNull(value: number | null | undefined): number | null {
  return typeof value === 'number' && Number.isFinite(value) && value >= -62135596800 && value <= 253402300799 ? Math.trunc(value) : null;
}

const empty = (value: string | undefined): string | undefined => (value === '' ? undefined : value);

// ---------------------------------------------------------------------------------------------
// Record lines

const REC_STRUCT = {
  rk: 'INTEGER',
  ri: 'INTEGER',
  ip: 'VARCHAR',
  n: 'BIGINT',
  disp: 'VARCHAR',
  edk: 'VARCHAR',
  esp: 'VARCHAR',
  rsn: [{ t: 'VARCHAR', c: 'VARCHAR' }],
  hf: 'VARCHAR',
  ef: 'VARCHAR',
  efd: 'BOOLEAN',
  et: 'VARCHAR',
  dk: [{ d: 'VARCHAR', s: 'VARCHAR', r: 'VARCHAR', h: 'VARCHAR' }],
  sp: [{ d: 'VARCHAR', s: 'VARCHAR', r: 'VARCHAR', h: 'VARCHAR' }],
  al: 'UTINYINT',
  ptr: 'VARCHAR',
  pbd: 'VARCHAR',
  snm: 'VARCHAR',
  sty: 'VARCHAR',
  asn: 'BIGINT',
  asnm: 'VARCHAR',
  cc: 'VARCHAR',
  rx: 'JSON',
  rw: 'MAP(VARCHAR, VARCHAR)',
};

/** One record as an NDJSON line. `rk` numbers the report within the run (the join key). */
export function recordLine(rk: number, index: number, r: ReportRecord, a: Alignment, e: Enrichment | undefined): string {
  // Undefined properties vanish from the JSON and read back as NULL.
  return JSON.stringify({
    rk,
    ri: index,
    ip: r.sourceIp,
    n: int(r.count),
    disp: r.disposition,
    edk: r.evalDkim,
    esp: r.evalSpf,
    rsn: r.reasons.map((x) => ({ t: x.type, c: x.comment })),
    hf: r.headerFrom,
    ef: r.envelopeFrom,
    efd: r.envelopeFromDerived === true,
    et: r.envelopeTo,
    dk: r.dkim.map((x) => ({ d: x.domain, s: x.selector, r: x.result, h: x.humanResult })),
    sp: r.spf.map((x) => ({ d: x.domain, s: x.scope, r: x.result, h: x.humanResult })),
    al: (a.dkimAligned ? 1 : 0) | (a.spfAligned ? 2 : 0) | (a.dmarcPass ? 4 : 0),
    ptr: e?.ptr,
    pbd: e?.baseDomain,
    snm: e?.name,
    sty: e?.type,
    asn: int(e?.asn),
    asnm: e?.asName,
    cc: e?.country,
    rx: r.extensions,
    rw: r.raw,
  });
}

// ---------------------------------------------------------------------------------------------
// Report (header) lines

const HDR_STRUCT = {
  h_rk: 'INTEGER',
  h_key: 'VARCHAR',
  h_on: 'VARCHAR',
  h_oe: 'VARCHAR',
  h_ox: 'VARCHAR',
  h_id: 'VARCHAR',
  h_b: 'BIGINT',
  h_e: 'BIGINT',
  h_sc: 'VARCHAR',
  h_gen: 'VARCHAR',
  h_ns: 'VARCHAR',
  h_ver: 'VARCHAR',
  h_err: ['VARCHAR'],
  h_warn: [{ code: 'VARCHAR', message: 'VARCHAR', record: 'INTEGER', count: 'INTEGER' }],
  h_ext: 'JSON',
  h_raw: 'MAP(VARCHAR, VARCHAR)',
  h_pd: 'VARCHAR',
  h_p: 'VARCHAR',
  h_sp: 'VARCHAR',
  h_np: 'VARCHAR',
  h_adkim: 'VARCHAR',
  h_aspf: 'VARCHAR',
  h_pct: 'INTEGER',
  h_fo: 'VARCHAR',
  h_t: 'VARCHAR',
  h_dm: 'VARCHAR',
  h_src: 'VARCHAR',
};

export function headerLine(rk: number, key: string, h: ReportHeader, warnings: ParseWarning[], sourceRef: string): string {
  const p = h.policy;
  return JSON.stringify({
    h_rk: rk,
    h_key: key,
    h_on: h.orgName,
    h_oe: h.email,
    h_ox: h.extraContactInfo,
    h_id: h.reportId,
    h_b: epochOrNull(h.dateBegin),
    h_e: epochOrNull(h.dateEnd),
    h_sc: h.schema,
    h_gen: h.generator,
    h_ns: h.xmlNamespace,
    h_ver: h.version,
    h_err: h.errors,
    h_warn: warnings.map((w) => ({ code: w.code, message: w.message, record: w.record, count: w.count })),
    h_ext: h.extensions,
    h_raw: h.raw,
    h_pd: p.domain,
    h_p: p.p,
    h_sp: p.sp,
    h_np: p.np,
    h_adkim: p.adkim,
    h_aspf: p.aspf,
    h_pct: int(p.pct),
    h_fo: empty(p.fo),
    h_t: p.testing,
    h_dm: p.discoveryMethod,
    h_src: sourceRef,
  });
}

// ---------------------------------------------------------------------------------------------
// SQL

function ndjsonSql(file: StagedFile, structure: object): string {
  const csv = `read_csv(${sqlString(file.path)}, columns = {'line': 'VARCHAR'}, delim = chr(1), quote = '', escape = '',
      header = false, auto_detect = false, buffer_size = ${file.bufferBytes}, max_line_size = ${file.bufferBytes})`;
  return `SELECT unnest(json_transform(line, ${sqlString(JSON.stringify(structure))})) FROM ${csv}`;
}

const ts = (epochSecondsExpr: string): string => `make_timestamp(${epochSecondsExpr} * 1000000)`;
const tsLiteral = (date: Date): string => `make_timestamp(${date.getTime()}::BIGINT * 1000)`;

function recordExpressions(runId: string, ingestedAt: Date): Record<string, string> {
  return {
    report_key: 'h_key',
    org_name: 'h_on',
    org_email: 'h_oe',
    org_extra_contact: 'h_ox',
    report_id: 'h_id',
    date_begin: ts('h_b'),
    date_end: ts('h_e'),
    report_schema: 'h_sc',
    generator: 'h_gen',
    xml_namespace: 'h_ns',
    report_version: 'h_ver',
    report_errors: 'coalesce(h_err, [])',
    report_warnings: 'coalesce(h_warn, [])',
    report_extensions: 'h_ext',
    report_raw: 'h_raw',
    policy_domain: 'h_pd',
    policy_p: 'h_p',
    policy_sp: 'h_sp',
    policy_np: 'h_np',
    policy_adkim: 'h_adkim',
    policy_aspf: 'h_aspf',
    policy_pct: 'h_pct',
    policy_fo: 'h_fo',
    policy_testing: 'h_t',
    policy_discovery_method: 'h_dm',
    record_index: 'ri',
    source_ip: 'ip',
    message_count: 'n',
    disposition: 'disp',
    eval_dkim: 'edk',
    eval_spf: 'esp',
    override_reasons: `list_transform(coalesce(rsn, []), x -> {'type': x.t, 'comment': x.c})`,
    header_from: 'hf',
    envelope_from: 'ef',
    envelope_from_derived: 'efd',
    envelope_to: 'et',
    dkim_results: `list_transform(coalesce(dk, []), x -> {'domain': x.d, 'selector': x.s, 'result': x.r, 'human_result': x.h})`,
    spf_results: `list_transform(coalesce(sp, []), x -> {'domain': x.d, 'scope': x.s, 'result': x.r, 'human_result': x.h})`,
    dkim_aligned: '(al & 1) <> 0',
    spf_aligned: '(al & 2) <> 0',
    dmarc_pass: '(al & 4) <> 0',
    // A report's own enrichment first, then the run's (by IP).
    source_ptr: 'coalesce(ptr, e_ptr)',
    source_base_domain: 'coalesce(pbd, e_pbd)',
    source_name: 'coalesce(snm, e_snm)',
    source_type: 'coalesce(sty, e_sty)',
    source_asn: 'coalesce(asn, e_asn)',
    source_as_name: 'coalesce(asnm, e_asnm)',
    source_country: 'coalesce(cc, e_cc)',
    record_extensions: 'rx',
    record_raw: 'rw',
    ingest_run: sqlString(runId),
    ingested_at: tsLiteral(ingestedAt),
    source_ref: 'h_src',
  };
}

/** Every column, in schema order, cast to its declared type. */
export function selectList(columns: readonly { name: string; type: string }[], exprs: Record<string, string>): string {
  return columns
    .map((c) => {
      const expr = exprs[c.name];
      if (expr === undefined) throw new Error(`No staging expression for column ${c.name}`);
      return `CAST(${expr} AS ${c.type}) AS ${c.name}`;
    })
    .join(',\n  ');
}

export interface ParquetOptions {
  /** Rows per row group; small groups keep the writer's memory flat. */
  rowGroupSize: number;
}

/**
 * A row group also ends at this size, whatever its row count: rows that repeat a large report header
 * would otherwise fill a 4,096-row group past the commit's memory limit (measured in bench/README.md,
 * "Report-level text"). DuckDB honours it because insertion order is not preserved (./duck.ts).
 */
const ROW_GROUP_BYTES = '32MB';

export const parquetOptions = (o: ParquetOptions): string =>
  `(FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE ${o.rowGroupSize}, ROW_GROUP_SIZE_BYTES '${ROW_GROUP_BYTES}')`;

// ---------------------------------------------------------------------------------------------
// Run-level enrichment (one line per source IP, joined in at COPY time)

const ENR_STRUCT = {
  e_ip: 'VARCHAR',
  e_ptr: 'VARCHAR',
  e_pbd: 'VARCHAR',
  e_snm: 'VARCHAR',
  e_sty: 'VARCHAR',
  e_asn: 'BIGINT',
  e_asnm: 'VARCHAR',
  e_cc: 'VARCHAR',
};

export function enrichmentLine(ip: string, e: Enrichment): string {
  return JSON.stringify({
    e_ip: ip,
    e_ptr: e.ptr,
    e_pbd: e.baseDomain,
    e_snm: e.name,
    e_sty: e.type,
    e_asn: int(e.asn),
    e_asnm: e.asName,
    e_cc: e.country,
  });
}

/** The run's enrichment by IP as a table (empty without a file), left-joined by every part. */
export function enrichmentTableSql(file: StagedFile | null): string {
  if (file !== null) return `CREATE OR REPLACE TEMP TABLE staged_enrichment AS ${ndjsonSql(file, ENR_STRUCT)}`;
  const cols = Object.entries(ENR_STRUCT).map(([name, type]) => `${name} ${type}`);
  return `CREATE OR REPLACE TEMP TABLE staged_enrichment (${cols.join(', ')})`;
}

/** Loads the run's report lines into a small table (exact cardinality, so the join builds its hash on it). */
export function reportsTableSql(headers: StagedFile): string {
  return `CREATE OR REPLACE TEMP TABLE staged_reports AS ${ndjsonSql(headers, HDR_STRUCT)}`;
}

/** COPY of one month's staged rows, joined with their reports and enrichment (tables created first), to Parquet. */
export function partCopySql(
  records: StagedFile,
  target: string,
  run: { runId: string; ingestedAt: Date },
  options: ParquetOptions,
): string {
  return `COPY (
  SELECT ${selectList(RECORD_COLUMNS, recordExpressions(run.runId, run.ingestedAt))}
  FROM (${ndjsonSql(records, REC_STRUCT)}) AS r
  JOIN staged_reports AS h ON r.rk = h.h_rk
  LEFT JOIN staged_enrichment AS e ON r.ip = e.e_ip
) TO ${sqlString(target)} ${parquetOptions(options)}`;
}

// ---------------------------------------------------------------------------------------------
// TLS report rows: few and small (one per policy and failure detail), staged whole, one line each,
// under the column names (the row type's keys are the column names).

/** One TLS row as an NDJSON line; an empty raw map is stored as NULL, as for records. */
export function tlsLine(row: TlsReportRow, sourceRef: string): string {
  return JSON.stringify({
    ...row,
    date_begin: epochOrNull(row.date_begin),
    date_end: epochOrNull(row.date_end),
    report_raw: Object.keys(row.report_raw).length > 0 ? row.report_raw : undefined,
    source_ref: sourceRef,
  });
}

/**
 * For lines staged under the column names themselves (TLS rows, the ledger): the JSON structure to read
 * them with (timestamps as epoch seconds) and each column's expression, the run's id and start filled in
 * by the COPY rather than staged on every line.
 */
function stagedUnderColumnNames(
  columns: readonly { name: string; type: string }[],
  run: { runId: string; ingestedAt: Date },
): { structure: Record<string, string>; exprs: Record<string, string> } {
  const structure: Record<string, string> = {};
  const exprs: Record<string, string> = {};
  for (const c of columns) {
    structure[c.name] = c.type === 'TIMESTAMP' ? 'BIGINT' : c.type;
    exprs[c.name] = c.type === 'TIMESTAMP' ? ts(c.name) : c.name;
  }
  exprs.ingest_run = sqlString(run.runId);
  exprs.ingested_at = tsLiteral(run.ingestedAt);
  delete structure.ingest_run;
  delete structure.ingested_at;
  return { structure, exprs };
}

/** COPY of one month's staged TLS rows to Parquet, every column cast to its declared type. */
export function tlsPartCopySql(
  rows: StagedFile,
  target: string,
  run: { runId: string; ingestedAt: Date },
  options: ParquetOptions,
): string {
  const { structure, exprs } = stagedUnderColumnNames(TLS_COLUMNS, run);
  return `COPY (
  SELECT ${selectList(TLS_COLUMNS, exprs)}
  FROM (${ndjsonSql(rows, structure)})
) TO ${sqlString(target)} ${parquetOptions(options)}`;
}

// ---------------------------------------------------------------------------------------------
// Ledger lines

export interface LedgerLine extends LedgerSource {
  seq: number;
  sourceRef: string;
  kind: InputKind;
  outcome: LedgerOutcome;
  reason?: string | undefined;
  reportKey?: string | undefined;
  orgName?: string | undefined;
  orgEmail?: string | undefined;
  reportId?: string | undefined;
  policyDomain?: string | undefined;
  dateBegin?: number | null | undefined;
  dateEnd?: number | null | undefined;
  month?: string | undefined;
  records?: number | undefined;
  messages?: number | undefined;
  warningCount?: number | undefined;
  quarantinePath?: string | undefined;
}

export function ledgerLine(l: LedgerLine): string {
  return JSON.stringify({
    seq: l.seq,
    source_ref: l.sourceRef,
    source_bytes: int(l.sourceBytes),
    kind: l.kind,
    outcome: l.outcome,
    reason: l.reason,
    report_key: l.reportKey,
    org_name: l.orgName,
    org_email: l.orgEmail,
    report_id: l.reportId,
    policy_domain: l.policyDomain,
    date_begin: epochOrNull(l.dateBegin),
    date_end: epochOrNull(l.dateEnd),
    month: l.month,
    records: int(l.records),
    messages: int(l.messages),
    warning_count: int(l.warningCount),
    source_name: l.sourceName,
    source_trail: l.sourceTrail,
    message_id: l.messageId,
    subject: l.subject,
    quarantine_path: l.quarantinePath,
  });
}

export function ledgerCopySql(ledger: StagedFile, target: string, run: { runId: string; ingestedAt: Date }): string {
  const { structure, exprs } = stagedUnderColumnNames(LEDGER_COLUMNS, run);
  return `COPY (
  SELECT ${selectList(LEDGER_COLUMNS, exprs)}
  FROM (${ndjsonSql(ledger, structure)})
  ORDER BY seq
) TO ${sqlString(target)} ${parquetOptions({ rowGroupSize: 122_880 })}`;
}
