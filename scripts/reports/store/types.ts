/** The store stage's public vocabulary (see index.ts for the API and the commit protocol). */
import { DmarcopsError } from '../../lib/errors.ts';
import type { AlignmentMode } from '../../policy/model.ts';
import type { ParseWarning, ReportHeader, ReportRecord } from '../parse/types.ts';
import type { ParsedTlsReport } from '../parse/tls/types.ts';

/** What the enricher knows about a source IP; every field may be missing. */
export interface Enrichment {
  ptr?: string | null;
  baseDomain?: string | null;
  name?: string | null;
  type?: string | null;
  asn?: number | null;
  asName?: string | null;
  country?: string | null;
}

export type EnrichmentSource = ReadonlyMap<string, Enrichment> | ((ip: string) => Enrichment | undefined);

export type InputKind = 'aggregate' | 'failure' | 'tls' | 'other';
export type LedgerOutcome = 'stored' | 'duplicate' | 'foreign' | 'invalid' | 'unsupported';
/**
 * Only foreign reports are kept aside (they are aggregate data): the raw bytes of invalid or
 * unsupported inputs may be anyone's mail and are never kept (see docs/dataset.md, Quarantine).
 */
export type QuarantineOutcome = 'foreign';

/** Where an input came from, for its ledger rows (all optional; null = unknown). */
export interface LedgerSource {
  /** Mailbox and folder, directory or file name. */
  sourceName?: string | null;
  /** Containers unpacked to reach the payload, outermost first. */
  sourceTrail?: readonly string[] | null;
  /** As written; the ledger keeps at most 256 characters. */
  messageId?: string | null;
  /** As written; the ledger keeps it with e-mail addresses removed (privacy.ts), at most 256 characters. */
  subject?: string | null;
  /** Size of the input in bytes (of the message or file, before unpacking). */
  sourceBytes?: number | null;
}

export interface ReportInput {
  header: ReportHeader;
  records: AsyncIterable<ReportRecord[]> | Iterable<ReportRecord[]>;
  /** Read once `records` is drained (a streamed report's warnings grow while it is read). */
  warnings: () => ParseWarning[];
  /** `sha256:<hex>` of the input's bytes (of its IMAP URL for a message too large to fetch). */
  sourceRef: string;
  enrichment?: EnrichmentSource;
  /** Alignment modes to use when the report does not state adkim/aspf (e.g. from our DomainPolicy). */
  policy?: { adkim?: AlignmentMode; aspf?: AlignmentMode };
  /** Source fields for the report's ledger row. */
  ledger?: LedgerSource;
}

/** An SMTP TLS report (RFC 8460) for the `tls/` table. */
export interface TlsReportInput {
  report: ParsedTlsReport;
  /** `sha256:<hex>` of the input's bytes (of its IMAP URL for a message too large to fetch). */
  sourceRef: string;
  /** Source fields for the report's ledger row. */
  ledger?: LedgerSource;
}

export interface AddTlsReportResult {
  outcome: 'stored' | 'duplicate';
  reportKey: string;
  /** Rows staged; 0 for a duplicate. */
  rows: number;
}

export interface AddReportResult {
  outcome: 'stored' | 'duplicate';
  reportKey: string;
  /** Rows staged; 0 for a duplicate (its records are not read). */
  records: number;
}

/** A ledger line for an input that was not stored (foreign, invalid, unsupported, or a duplicate found upstream). */
export interface LedgerEntry extends LedgerSource {
  sourceRef: string;
  kind: InputKind;
  outcome: Exclude<LedgerOutcome, 'stored'>;
  reason?: string;
  /** A readable report's header: fills report_key and the identity fields not given below. */
  header?: ReportHeader;
  reportKey?: string;
  orgName?: string;
  orgEmail?: string;
  reportId?: string;
  policyDomain?: string;
  /** Epoch seconds, as in ReportHeader. */
  dateBegin?: number | null;
  dateEnd?: number | null;
  /** Records read (e.g. of a foreign report) and the sum of their counts. */
  records?: number;
  messages?: number;
  warningCount?: number;
  /** As returned by `quarantine()`; stored relative to the dataset root. */
  quarantinePath?: string;
}

/**
 * Why the store refused a report: what it would store is too big (`rows-too-large`, a catalogue code
 * of the report refusals). The pipeline records the input as invalid with this as the reason; the
 * run goes on.
 */
export class StoreRefusal extends DmarcopsError {
  declare readonly code: 'rows-too-large';

  constructor(code: 'rows-too-large', message: string) {
    super(code, message);
    this.name = 'StoreRefusal';
  }
}

/** A ledger row as read back by `findReports`. */
export interface LedgerRow {
  ingestRun: string;
  seq: number;
  ingestedAt: Date;
  sourceRef: string;
  kind: InputKind;
  outcome: LedgerOutcome;
  reason: string | null;
  reportKey: string | null;
  orgName: string | null;
  orgEmail: string | null;
  reportId: string | null;
  policyDomain: string | null;
  dateBegin: Date | null;
  dateEnd: Date | null;
  month: string | null;
  records: number | null;
  messages: number | null;
  warningCount: number | null;
  sourceName: string | null;
  sourceTrail: string[] | null;
  /** Null in ledger parts written before the column existed. */
  sourceBytes: number | null;
  messageId: string | null;
  subject: string | null;
  quarantinePath: string | null;
}

export interface ReportQuery {
  /** Case-insensitive substring of org_name (`google` matches `google.com`). */
  org?: string;
  /** Policy domain, exact (case-insensitive). */
  domain?: string;
  /** A UTC day `YYYY-MM-DD` (or a Date): reports whose range overlaps it. */
  day?: string | Date;
  outcome?: LedgerOutcome | LedgerOutcome[];
  /** What the input was: `aggregate`, `tls`, `failure` or `other`. */
  kind?: InputKind | InputKind[];
}

export interface PartSummary {
  table: 'records' | 'tls';
  month: string;
  /** Path of the part file. */
  path: string;
  records: number;
}

export interface CommitOptions {
  /**
   * Enrichment by source IP, looked up once for the whole run (see `RunWriter.sourceIps()`). Fills
   * the enrichment columns of rows whose report had no `enrichment` of its own. IPs staged already
   * by `RunWriter.addEnrichment` keep what was staged.
   */
  enrichment?: EnrichmentSource;
}

export interface RunSummary {
  runId: string;
  ingestedAt: Date;
  /** False when the run had nothing to write (no ledger entries): nothing was committed. */
  committed: boolean;
  stored: number;
  duplicates: number;
  /** Ledger rows written (one per input item). */
  ledgerEntries: number;
  records: number;
  /** TLS reports stored and rows written to tls/ (their parts are in `parts` too). */
  tls: { stored: number; duplicates: number; rows: number };
  parts: PartSummary[];
  ledgerPath: string | null;
}

export interface CompactResult {
  table: 'records' | 'tls';
  month: string;
  /** False when there was nothing to merge (fewer than two committed files). */
  compacted: boolean;
  /** Files merged (paths relative to the dataset root). */
  inputs: string[];
  output: string | null;
  rows: number;
  bytesBefore: number;
  bytesAfter: number;
}

export interface RecoverResult {
  /** Staging directories of runs that never committed. */
  staging: string[];
  /** Temporary files (`*.tmp`). */
  temporary: string[];
  /** Record and TLS parts of runs with no ledger part (uncommitted). */
  uncommittedParts: string[];
  /** Compactions finished (their inputs deleted) or undone (their manifest dropped). */
  compactionsFinished: string[];
  compactionsUndone: string[];
}

/** Names of the protocol steps, reported through `DatasetOptions.onStep` (tests kill the process there). */
export type ProtocolStep =
  | 'run:staged'
  | 'run:part-written'
  | 'run:part-renamed'
  | 'run:tls-part-written'
  | 'run:tls-part-renamed'
  | 'run:ledger-written'
  | 'run:committed'
  | 'run:cleaned'
  | 'compact:written'
  | 'compact:manifest'
  | 'compact:committed'
  | 'compact:inputs-removed'
  | 'compact:done';
