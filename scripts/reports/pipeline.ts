/**
 * The report pipeline for one run: input items (files, mailbox messages) → unpack → parse →
 * classify (ours / foreign / invalid) → store, then enrichment and one atomic commit. DMARC aggregate
 * reports (XML) go to `records/`, SMTP TLS reports (RFC 8460 JSON) to `tls/`, by the payload's kind;
 * both follow the same rules below.
 *
 * Every input item ends with exactly one outcome in the ledger. An item already in the ledger (same
 * bytes, by sha256) is skipped, so a rerun after a crash neither loses nor doubles anything: the
 * crashed run committed nothing, and the committed runs are recognised. The exception: inputs an
 * earlier dmarcops set aside as unsupported TLS reports are read again (the store does not count them
 * as seen), since TLS reports are read now.
 *
 * A retry (`retrySeen`, `dmarcops ingest --retry`) reads such items again: what was foreign before a
 * domain file was added, or invalid before a parser fix, can now be stored. It doubles nothing
 * either: a report already stored is recognised by its key (`duplicate`), and a quarantined file
 * read back stays where it is, the new ledger row pointing at it.
 *
 * Privacy: anyone can mail the rua address. Of an input that holds no aggregate report (invalid,
 * unsupported, personal mail, a bounce) only its ledger row is kept: hash, size, Message-ID, subject
 * and reason (addresses removed, see privacy.ts); its original stays where it came from (the
 * mailbox's Invalid folder, the user's files). A foreign report is kept as its XML (a TLS report:
 * its JSON) alone, gzipped, within a cap per report and a budget per run (`QuarantineLimits`).
 */
import { createHash, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { dirname, relative, resolve } from 'node:path';
import { ParseError, parseReport } from './parse/index.ts';
import type { ParseWarning, ReportRecord } from './parse/types.ts';
import { TlsParseError, parseTlsReportStream, tlsReportKey } from './parse/tls/index.ts';
import type { ParsedTlsReport } from './parse/tls/index.ts';
import { MAX_REASON_CHARS, ledgerText } from './privacy.ts';
import { StoreRefusal } from './store/index.ts';
import type { Dataset, KeptFormat, LedgerEntry, RunWriter } from './store/index.ts';
import { QUARANTINE_DIR } from './store/layout.ts';
import { UnpackError } from './unpack/index.ts';
import { formatBytes } from '../lib/text.ts';
import type { Payload, PayloadKind, ReportKind, UnpackLimits, UnpackResult } from './unpack/index.ts';
import type { Enricher, Enrichment } from './enrich/index.ts';

/** One thing to ingest: a file, or one message of a mailbox. */
export interface IngestItem {
  /** How messages and the ledger name it: a path, `mbox#3`, `imap:INBOX/42`. */
  name: string;
  /** `sha256:<hex>` of the raw bytes: the ledger's source_ref (streamed for big files). */
  sourceRef(): Promise<string>;
  unpack(limits: Partial<UnpackLimits>): Promise<UnpackResult>;
  /** From the mailbox's own index (IMAP envelope); otherwise the pipeline takes them from the message itself. */
  messageId?: string;
  subject?: string;
  /** Size of the raw input in bytes, when known without reading it (the ledger's source_bytes). */
  size?: number;
}

/** How much the quarantine may grow: foreign reports are kept within these, the rest gets its ledger row only. */
export interface QuarantineLimits {
  /** Largest foreign report kept, as gzipped XML; 0 keeps none. */
  maxReportBytes: number;
  /** Most bytes one run may add to the quarantine, all reports together. */
  maxRunBytes: number;
}

export const DEFAULT_QUARANTINE_LIMITS: Readonly<QuarantineLimits> = Object.freeze({
  maxReportBytes: 1024 * 1024,
  maxRunBytes: 4 * 1024 * 1024,
});

export type ItemOutcome = 'stored' | 'duplicate' | 'foreign' | 'invalid' | 'unsupported' | 'already-ingested';

export interface ReportOutcome {
  outcome: 'stored' | 'duplicate' | 'foreign' | 'invalid';
  /** A DMARC aggregate report, or an SMTP TLS report (RFC 8460). */
  kind: PayloadKind;
  payload: string;
  orgName?: string;
  reportId?: string;
  /** A TLS report's policy domains, comma-separated. */
  policyDomain?: string;
  /** Rows stored (records/, or tls/ for a TLS report); for a foreign report, the rows it holds. */
  records: number;
  warnings: number;
  reason?: string;
  /** Foreign reports: where the report was kept (relative to the dataset root), or false when it was not (over a cap). */
  kept?: string | false;
}

export interface ItemResult {
  name: string;
  sourceRef: string;
  /** What the input held, as unpacking saw it (absent when it was not read: already ingested). */
  kind?: ReportKind;
  /** The item's overall outcome: stored if any report in it was stored, else the most telling one. */
  outcome: ItemOutcome;
  reports: ReportOutcome[];
  /** Why nothing usable came out of it (invalid, unsupported, foreign). */
  reason?: string;
}

export interface IngestSummary {
  runId: string;
  items: number;
  /** DMARC aggregate reports (TLS reports are counted in `tls`). */
  reports: { stored: number; duplicate: number; foreign: number; invalid: number };
  /** Rows stored in records/. */
  records: number;
  /**
   * SMTP TLS reports (RFC 8460): by outcome, the rows stored in tls/, and the inputs an earlier dmarcops
   * set aside as unsupported TLS reports that no run has read again yet (see `dmarcops fetch
   * --retry-unsupported`, `dmarcops ingest --retry`).
   */
  tls: { stored: number; duplicate: number; foreign: number; invalid: number; rows: number; earlierUnsupported: number };
  alreadyIngested: number;
  /** Inputs recognised and not read: failure reports (ARF). */
  unsupported: number;
  invalid: { source: string; reason: string; kind: PayloadKind }[];
  foreign: { source: string; policyDomain: string; kind: PayloadKind }[];
  /** What the run added to quarantine/foreign/ (files, bytes), and the foreign reports not kept (over a cap). */
  quarantine: { added: number; bytes: number; notKept: number };
  /** Entries a folder walk left unread (symbolic links), set by the caller that walked (`dmarcops ingest`). */
  skipped?: { source: string; reason: string }[];
  /**
   * PTR lookups of the run (and the A/AAAA lookups that forward-confirm their names; `unconfirmed`:
   * IPs left without a name because none of theirs pointed back), and the cache entries its save
   * dropped (unused for the retention period, expired failures, over the cap).
   */
  enrichment?: {
    lookups: number;
    cacheHits: number;
    failures: number;
    timeouts: number;
    forwardLookups: number;
    unconfirmed: number;
    cachePruned: number;
  };
}

export interface RunOptions {
  dataset: Dataset;
  /** Policy domains that are ours (from domains/); reports for anything else are foreign. */
  ourDomains: ReadonlySet<string>;
  limits?: Partial<UnpackLimits>;
  enricher?: Enricher;
  runId?: string;
  now?: () => Date;
  /** Called after each item, for progress bars and IMAP bookkeeping. */
  onItem?: (result: ItemResult) => void;
  /**
   * Read items again even when a committed run has seen their bytes (`dmarcops ingest --retry`), once a
   * domain file was added or dmarcops upgraded. Reports already stored are still `duplicate` (by
   * report key), so a retry never doubles data; the same bytes twice in one run are still read once.
   * Off by default: seen items are `already-ingested`.
   */
  retrySeen?: boolean;
  /** Caps on what the run may add to the quarantine; DEFAULT_QUARANTINE_LIMITS for what is not given. */
  quarantine?: Partial<QuarantineLimits>;
}

/** Ingest items in one run and commit it. Returns the per-item results and the summary. */
export async function ingestRun(
  items: AsyncIterable<IngestItem> | Iterable<IngestItem>,
  options: RunOptions,
): Promise<{ summary: IngestSummary; results: ItemResult[] }> {
  const now = options.now ?? (() => new Date());
  const runId =
    options.runId ??
    `${now()
      .toISOString()
      .replace(/[-:]/g, '')
      .replace(/\.\d+Z$/, 'Z')}-${randomUUID().slice(0, 8)}`;
  const writer = await options.dataset.beginRun({ runId, ingestedAt: now() });
  const results: ItemResult[] = [];
  const enrichment = options.enricher ? new RunEnrichment(options.enricher, writer) : undefined;
  const quarantine = { ...DEFAULT_QUARANTINE_LIMITS, ...definedOnly(options.quarantine ?? {}) };
  const context: ItemContext = {
    writer,
    options,
    onBatch: () => enrichment?.poll(),
    seen: new Set(),
    quarantine,
    added: { files: 0, bytes: 0 },
  };
  try {
    for await (const item of items) {
      const result = await ingestItem(item, context);
      results.push(result);
      options.onItem?.(result);
      enrichment?.poll();
    }
    await enrichment?.finish();
    await writer.commit();
    await options.enricher?.save();
  } catch (error) {
    await writer.abort();
    throw error;
  }
  const summary = summarize(runId, results, options.enricher, context.added);
  // After the commit: the inputs this run read again are no longer waiting.
  summary.tls.earlierUnsupported = options.dataset.unsupportedTlsSources().size;
  return { summary, results };
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** What handling one item needs from its run. */
interface ItemContext {
  writer: RunWriter;
  options: RunOptions;
  /** Called between batches of records, once the store has taken the previous one. */
  onBatch: () => void;
  /** With retrySeen: source_ref of the items read by this run so far (a retry skips only these). */
  seen: Set<string>;
  quarantine: QuarantineLimits;
  /** What the run added to the quarantine so far. */
  added: { files: number; bytes: number };
}

async function ingestItem(item: IngestItem, context: ItemContext): Promise<ItemResult> {
  const { writer, options } = context;
  const sourceRef = await item.sourceRef();
  const base = { name: item.name, sourceRef };
  if (options.retrySeen) {
    if (context.seen.has(sourceRef)) return { ...base, outcome: 'already-ingested', reports: [] };
    context.seen.add(sourceRef);
  } else if (await writer.hasSource(sourceRef)) return { ...base, outcome: 'already-ingested', reports: [] };

  const unpacked = await item.unpack(options.limits ?? {});
  // A mail's own headers (IMAP gives them ahead; a file or mbox message has them inside).
  const ledgerBase = {
    sourceRef,
    sourceName: item.name,
    messageId: item.messageId ?? unpacked.mail?.messageId ?? null,
    subject: item.subject ?? unpacked.mail?.subject ?? null,
    sourceBytes: item.size ?? null,
  };
  const kind = unpacked.kind;
  if (unpacked.payloads.length === 0) {
    const wanted = kind === 'tls' ? 'no TLS report found' : 'no DMARC aggregate report found';
    const reason = cleanReason(unpacked.problems.map((problem) => problem.message).join('; ')) ?? wanted;
    // Failure reports are recognised and never read (they carry personal data); anything else that
    // gave no report is invalid, a TLS report mail without a readable report too.
    const outcome = kind === 'failure' ? 'unsupported' : 'invalid';
    // Not a report (or a failure report, or broken): its bytes may be anyone's mail and are not
    // kept; the ledger row says what it was, and the original stays where it came from.
    writer.addLedgerEntry({ ...ledgerBase, kind, outcome, reason });
    return { ...base, kind, outcome, reports: [], reason };
  }

  const reports: ReportOutcome[] = [];
  for (const payload of unpacked.payloads) {
    reports.push(
      payload.kind === 'tls'
        ? await ingestTlsPayload(payload, item, ledgerBase, context)
        : await ingestPayload(payload, item, ledgerBase, context),
    );
  }
  // Damaged parts next to the payloads: of a TLS report mail, they were meant to be TLS reports.
  const problemKind: PayloadKind = kind === 'tls' ? 'tls' : 'aggregate';
  for (const problem of unpacked.problems) {
    const reason = cleanReason(problem.message) ?? problem.code;
    reports.push({ outcome: 'invalid', kind: problemKind, payload: problem.trail.join(' › '), records: 0, warnings: 0, reason });
    writer.addLedgerEntry({ ...ledgerBase, sourceTrail: problem.trail, kind: problemKind, outcome: 'invalid', reason });
  }
  const outcome = overallOutcome(reports);
  const reason =
    outcome === 'stored' || outcome === 'duplicate'
      ? undefined
      : reports
          .map((report) => report.reason)
          .filter(Boolean)
          .join('; ');
  return reason ? { ...base, kind, outcome, reports, reason } : { ...base, kind, outcome, reports };
}

/** A reason as the ledger keeps it (addresses removed, capped), so the summary shows the same text. */
function cleanReason(reason: string): string | null {
  return ledgerText(reason, MAX_REASON_CHARS);
}

async function ingestPayload(
  payload: Payload,
  item: IngestItem,
  itemLedger: Omit<LedgerEntry, 'kind' | 'outcome'>,
  context: ItemContext,
): Promise<ReportOutcome> {
  const { writer, options } = context;
  const label = payload.trail.join(' › ');
  const ledgerBase = { ...itemLedger, sourceTrail: payload.trail };
  try {
    const stream = await parseReport(payload.open(), { name: label });
    // A copy: the parser's strings are slices of the input text, which the run would keep alive
    // through the ledger and the results (see watchBatches).
    const header = structuredClone(stream.header);
    const policyDomain = header.policy.domain;
    const identity = { orgName: header.orgName, reportId: header.reportId, policyDomain };
    if (!isOurs(policyDomain, options.ourDomains)) {
      let records = 0;
      for await (const batch of stream.records) records += batch.length;
      const kept = await keepForeign(payload, item, context);
      const notKept = kept.path === undefined ? `; ${kept.note}` : '';
      const quarantinePath = kept.path === undefined ? {} : { quarantinePath: kept.path };
      writer.addLedgerEntry({
        ...ledgerBase,
        kind: 'aggregate',
        outcome: 'foreign',
        reason: `policy domain ${policyDomain || '(empty)'} is not in domains/${notKept}`,
        header,
        records,
        ...quarantinePath,
      });
      return {
        outcome: 'foreign',
        kind: 'aggregate',
        payload: label,
        ...identity,
        records,
        warnings: stream.warnings.length,
        reason: `not ours: ${policyDomain || '(empty policy domain)'}${notKept}`,
        kept: kept.path === undefined ? false : relativeTo(options.dataset.root, kept.path),
      };
    }
    const stored = await writer.addReport({
      header,
      records: watchBatches(stream.records, context.onBatch),
      warnings: (): ParseWarning[] => stream.warnings,
      sourceRef: ledgerBase.sourceRef,
      ledger: ledgerBase,
    });
    return {
      outcome: stored.outcome,
      kind: 'aggregate',
      payload: label,
      ...identity,
      records: stored.records,
      warnings: stream.warnings.length,
    };
  } catch (error) {
    if (error instanceof ParseError || error instanceof UnpackError) {
      const reason = cleanReason(error.message) ?? error.code;
      writer.addLedgerEntry({ ...ledgerBase, kind: 'aggregate', outcome: 'invalid', reason: `${errorCode(error)}: ${reason}` });
      return { outcome: 'invalid', kind: 'aggregate', payload: label, records: 0, warnings: 0, reason };
    }
    throw error;
  }
}

/**
 * An SMTP TLS report (RFC 8460 JSON): parsed whole (reports are small; the parser's limits apply),
 * then stored in tls/ when one of its policy domains is ours (the whole report, like an aggregate
 * report: its key covers all its domains), kept aside as foreign when none is, recorded as invalid
 * with the parser's code and reason (which quote nothing of it) when it cannot be read.
 */
async function ingestTlsPayload(
  payload: Payload,
  item: IngestItem,
  itemLedger: Omit<LedgerEntry, 'kind' | 'outcome'>,
  context: ItemContext,
): Promise<ReportOutcome> {
  const { writer, options } = context;
  const label = payload.trail.join(' › ');
  const ledgerBase = { ...itemLedger, sourceTrail: payload.trail };
  const invalid = (code: string, message: string): ReportOutcome => {
    const reason = cleanReason(message) ?? code;
    writer.addLedgerEntry({ ...ledgerBase, kind: 'tls', outcome: 'invalid', reason: `${code}: ${reason}` });
    return { outcome: 'invalid', kind: 'tls', payload: label, records: 0, warnings: 0, reason };
  };
  let report: ParsedTlsReport;
  try {
    report = await parseTlsReportStream(payload.open(), { name: label });
  } catch (error) {
    if (error instanceof TlsParseError || error instanceof UnpackError) return invalid(error.code, error.message);
    throw error;
  }
  const { header } = report;
  const policyDomain = report.policyDomains.join(',');
  const identity = { orgName: header.orgName, reportId: header.reportId, policyDomain };
  if (!report.policyDomains.some((domain) => isOurs(domain, options.ourDomains))) {
    const kept = await keepForeign(payload, item, context, 'json');
    const notKept = kept.path === undefined ? `; ${kept.note}` : '';
    const domains =
      report.policyDomains.length === 0
        ? 'the report names no policy domain'
        : `policy domain ${policyDomain} ${report.policyDomains.length === 1 ? 'is' : 'are'} not in domains/`;
    const rows = report.policies.reduce((sum, policy) => sum + 1 + policy.failureDetails.length, 0);
    writer.addLedgerEntry({
      ...ledgerBase,
      kind: 'tls',
      outcome: 'foreign',
      reason: `${domains}${notKept}`,
      reportKey: tlsReportKey(report),
      orgName: header.orgName,
      ...(header.contactInfo === undefined ? {} : { orgEmail: header.contactInfo }),
      reportId: header.reportId,
      policyDomain,
      dateBegin: header.dateBegin,
      dateEnd: header.dateEnd,
      records: rows,
      messages: report.stats.successfulSessions + report.stats.failedSessions,
      warningCount: report.warnings.length,
      ...(kept.path === undefined ? {} : { quarantinePath: kept.path }),
    });
    return {
      outcome: 'foreign',
      kind: 'tls',
      payload: label,
      ...identity,
      records: rows,
      warnings: report.warnings.length,
      reason: `not ours: ${policyDomain || '(no policy domain)'}${notKept}`,
      kept: kept.path === undefined ? false : relativeTo(options.dataset.root, kept.path),
    };
  }
  try {
    const stored = await writer.addTlsReport({ report, sourceRef: ledgerBase.sourceRef, ledger: ledgerBase });
    return { outcome: stored.outcome, kind: 'tls', payload: label, ...identity, records: stored.rows, warnings: report.warnings.length };
  } catch (error) {
    if (error instanceof StoreRefusal) return invalid(error.code, `${label}: ${error.message}`);
    throw error;
  }
}

/**
 * Passes the batches on to the store, calling onBatch once it has taken each.
 *
 * The parser's strings are slices of the decoded input text, and V8 keeps a slice's whole parent
 * string alive. The store keeps each record's source IP for the whole run (to enrich it once at
 * the end), so holding slices would hold the entire input (70 MB for a 100k-record report): the
 * IPs are copied.
 */
async function* watchBatches(batches: AsyncIterable<ReportRecord[]>, onBatch: () => void): AsyncGenerator<ReportRecord[]> {
  for await (const batch of batches) {
    for (const record of batch) record.sourceIp = JSON.parse(JSON.stringify(record.sourceIp)) as string;
    yield batch;
    onBatch();
  }
}

/** New source IPs are sent to the enricher once this many have gathered (the first ones at once). */
const ENRICH_CHUNK = 8192;

/**
 * The run's enrichment, looked up in chunks while the run goes on rather than all at the end: PTR
 * queries overlap parsing, the offline ASN tables load while the heap is still small, and each
 * chunk's short-lived objects die young instead of all 100k lookups being in flight at once.
 * Each chunk's answers go to the store's staging at the next poll, so the run does not hold them.
 * Every IP the store saw is looked up exactly once, as before.
 */
class RunEnrichment {
  readonly #enricher: Enricher;
  readonly #writer: RunWriter;
  /** The store's set of source IPs: it only grows, in insertion order. */
  readonly #ips: ReadonlySet<string>;
  #sent = 0;
  #chunks: Promise<void>[] = [];
  /** Answered chunks not staged yet (staged between batches: the store is between two writes then). */
  #answered: Map<string, Enrichment>[] = [];

  constructor(enricher: Enricher, writer: RunWriter) {
    this.#enricher = enricher;
    this.#writer = writer;
    this.#ips = writer.sourceIps();
  }

  /** Stages the chunks answered so far, and sends the IPs seen since the last chunk when there are enough of them (any, for the first). */
  poll(min = this.#sent === 0 ? 1 : ENRICH_CHUNK): void {
    for (const answers of this.#answered.splice(0)) this.#writer.addEnrichment(answers);
    const total = this.#ips.size;
    if (total - this.#sent < Math.max(1, min)) return;
    const chunk: string[] = [];
    let index = 0;
    for (const ip of this.#ips) {
      if (index++ >= this.#sent) chunk.push(ip);
      if (index === total) break;
    }
    this.#sent = total;
    const pending = this.#enricher.enrichAll(chunk).then((answers) => void this.#answered.push(answers));
    // Awaited in finish(); a run that fails before then must not leave an unhandled rejection behind.
    pending.catch(() => undefined);
    this.#chunks.push(pending);
  }

  /** Every IP the store saw, enriched and staged. */
  async finish(): Promise<void> {
    this.poll(1);
    await Promise.all(this.#chunks);
    this.poll(1);
  }
}

/**
 * Keeps a foreign report for a later `--retry`: its XML (a TLS report: its JSON) alone, not the mail
 * around it, gzipped, if it fits the cap per report and what is left of the run's budget. Returns
 * where, or why not.
 */
async function keepForeign(
  payload: Payload,
  item: IngestItem,
  context: ItemContext,
  format: KeptFormat = 'xml',
): Promise<{ path: string; note?: undefined } | { path?: undefined; note: string }> {
  const kept = keptAlready(item.name, 'foreign', context.options.dataset.root);
  if (kept !== undefined) return { path: kept };
  const { maxReportBytes, maxRunBytes } = context.quarantine;
  if (maxReportBytes <= 0) return { note: 'not kept (keeping foreign reports is switched off)' };
  const left = Math.max(0, maxRunBytes - context.added.bytes);
  const result = await context.writer.keepReport(payload.open(), { maxBytes: maxReportBytes, maxNewBytes: left }, format);
  if (result.kept) {
    if (result.added) {
      context.added.files += 1;
      context.added.bytes += result.bytes;
    }
    return { path: result.path };
  }
  return result.why === 'over-cap'
    ? { note: `not kept: over the cap of ${formatBytes(maxReportBytes)} per report (gzipped)` }
    : { note: `not kept: the run's quarantine budget of ${formatBytes(maxRunBytes)} is spent` };
}

function relativeTo(root: string, path: string): string {
  const rel = relative(resolve(root), resolve(path));
  return rel.split('\\').join('/');
}

/**
 * The item itself when it is a file in `quarantine/<outcome>/` read back with the same outcome (e.g.
 * `ingest --retry reports/quarantine` before the domain is added): it is kept already. Copying it
 * would add a second file.
 */
function keptAlready(name: string, outcome: 'foreign', root: string): string | undefined {
  const path = resolve(name);
  return dirname(path) === resolve(root, QUARANTINE_DIR, outcome) && existsSync(path) ? path : undefined;
}

function errorCode(error: ParseError | UnpackError): string {
  return error.code;
}

/** A report is ours when its policy domain is one of our domains or lies below one of them. */
export function isOurs(policyDomain: string, ourDomains: ReadonlySet<string>): boolean {
  const domain = policyDomain.toLowerCase().replace(/\.$/, '');
  if (domain === '') return false;
  for (let name = domain; name.includes('.'); name = name.slice(name.indexOf('.') + 1)) if (ourDomains.has(name)) return true;
  return false;
}

const OUTCOME_RANK: ItemOutcome[] = ['stored', 'duplicate', 'foreign', 'invalid', 'unsupported'];

function overallOutcome(reports: ReportOutcome[]): ItemOutcome {
  return OUTCOME_RANK.find((outcome) => reports.some((report) => report.outcome === outcome)) ?? 'invalid';
}

function summarize(
  runId: string,
  results: ItemResult[],
  enricher: Enricher | undefined,
  added: { files: number; bytes: number },
): IngestSummary {
  const summary: IngestSummary = {
    runId,
    items: results.length,
    reports: { stored: 0, duplicate: 0, foreign: 0, invalid: 0 },
    records: 0,
    tls: { stored: 0, duplicate: 0, foreign: 0, invalid: 0, rows: 0, earlierUnsupported: 0 },
    alreadyIngested: 0,
    unsupported: 0,
    invalid: [],
    foreign: [],
    quarantine: { added: added.files, bytes: added.bytes, notKept: 0 },
  };
  for (const result of results) {
    if (result.outcome === 'already-ingested') summary.alreadyIngested += 1;
    if (result.outcome === 'unsupported') summary.unsupported += 1;
    if (result.outcome === 'invalid' && result.reports.length === 0) {
      const kind: PayloadKind = result.kind === 'tls' ? 'tls' : 'aggregate';
      (kind === 'tls' ? summary.tls : summary.reports).invalid += 1;
      summary.invalid.push({ source: result.name, reason: result.reason ?? 'unknown', kind });
    }
    for (const report of result.reports) {
      const counts = report.kind === 'tls' ? summary.tls : summary.reports;
      counts[report.outcome] += 1;
      if (report.outcome === 'stored' && report.kind === 'tls') summary.tls.rows += report.records;
      else if (report.outcome === 'stored') summary.records += report.records;
      const source = report.payload.startsWith(result.name) ? report.payload : `${result.name} › ${report.payload}`;
      if (report.outcome === 'invalid') summary.invalid.push({ source, reason: report.reason ?? 'unknown', kind: report.kind });
      if (report.outcome === 'foreign')
        summary.foreign.push({ source: result.name, policyDomain: report.policyDomain ?? '', kind: report.kind });
      if (report.outcome === 'foreign' && report.kept === false) summary.quarantine.notKept += 1;
    }
  }
  if (enricher) {
    const pruned = enricher.pruned();
    summary.enrichment = { ...enricher.stats(), cachePruned: pruned.unused + pruned.failures + pruned.overCap };
  }
  return summary;
}

/** `sha256:<hex>` of bytes in memory. */
export function sha256Ref(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** Read size of sha256FileRef. */
const HASH_CHUNK = 1024 * 1024;

/**
 * `sha256:<hex>` of a file, streamed through one buffer of 64 KiB to 1 MiB (by the file's size): a
 * read stream allocates a fresh buffer per read (garbage, and ~1.5× the time for a 75 MB report).
 */
export async function sha256FileRef(path: string): Promise<string> {
  const hash = createHash('sha256');
  const file = await open(path, 'r');
  try {
    const buffer = Buffer.allocUnsafe(Math.min(Math.max((await file.stat()).size, 64 * 1024), HASH_CHUNK));
    for (;;) {
      const { bytesRead } = await file.read(buffer, 0, buffer.length, null);
      if (bytesRead === 0) break;
      hash.update(buffer.subarray(0, bytesRead));
    }
  } finally {
    await file.close();
  }
  return `sha256:${hash.digest('hex')}`;
}
