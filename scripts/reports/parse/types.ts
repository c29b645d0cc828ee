/**
 * The parse stage's vocabulary: one DMARC aggregate report (RFC 7489 Appendix C, RFC 9990 and the
 * drafts between them) as typed, normalised objects ready for the dataset (docs/dataset.md).
 *
 * Conventions, so that consumers never have to guess:
 * - Values are trimmed; enumerations are lowercased. Domains are lowercased (they are
 *   case-insensitive), nothing else is.
 * - A required string the report leaves out or leaves empty is `''`; a required enumeration or
 *   number that is missing or unreadable is `null`. Either way a warning says so.
 * - Optional elements that are absent (or empty) are left `undefined`.
 * - Whenever normalisation changed a value beyond trimming and domain case (case of an enumeration,
 *   `hardfail`→`fail`, a fractional date, a swapped range…), the original text is kept in `raw`,
 *   keyed by its XML path, and a warning is recorded: never a silent change of meaning.
 */

/** An enumeration that also admits the values real reporters send outside it (lowercased). */
export type Open<T extends string> = T | (string & {});

export type ReportSchema = 'rfc7489' | 'rfc9990' | 'draft';
export type PolicyDisposition = 'none' | 'quarantine' | 'reject';
/** RFC 9990 adds `pass`: the message passed DMARC under an enforcing policy. */
export type AppliedDisposition = PolicyDisposition | 'pass';
export type DmarcResult = 'pass' | 'fail';
export type AlignmentMode = 'r' | 's';
export type DkimResult = 'none' | 'pass' | 'fail' | 'policy' | 'neutral' | 'temperror' | 'permerror';
export type SpfResult = 'none' | 'neutral' | 'pass' | 'fail' | 'softfail' | 'temperror' | 'permerror' | 'policy';
export type SpfScope = 'mfrom' | 'helo';
/** RFC 7489 and RFC 9990 together (`forwarded`/`sampled_out` are 7489 only, `policy_test_mode` 9990 only). */
export type OverrideType =
  | 'forwarded'
  | 'sampled_out'
  | 'trusted_forwarder'
  | 'mailing_list'
  | 'local_policy'
  | 'policy_test_mode'
  | 'other';

/** `policy_published`: the policy the reporter saw, which can lag behind DNS. Defaults are not applied. */
export interface PolicyPublished {
  domain: string;
  p: Open<PolicyDisposition> | null;
  sp?: Open<PolicyDisposition>;
  np?: Open<PolicyDisposition>;
  adkim?: Open<AlignmentMode>;
  aspf?: Open<AlignmentMode>;
  /** RFC 7489 only (gone in RFC 9990). */
  pct?: number;
  fo?: string;
  /** RFC 9990 `testing` (the `t` tag). */
  testing?: Open<'y' | 'n'>;
  /** RFC 9990 `discovery_method`. */
  discoveryMethod?: Open<'psl' | 'treewalk'>;
}

export interface ReportHeader {
  orgName: string;
  email: string;
  extraContactInfo?: string;
  reportId: string;
  /** Epoch seconds (UTC); `null` when the report's value can't be read. */
  dateBegin: number | null;
  dateEnd: number | null;
  errors: string[];
  /** RFC 9990 `generator`. */
  generator?: string;
  schema: ReportSchema;
  /** The namespace of the root element as written, e.g. `urn:ietf:params:xml:ns:dmarc-2.0`. */
  xmlNamespace?: string;
  /** `<version>` as written; not used to pick the schema. */
  version?: string;
  policy: PolicyPublished;
  /** RFC 9990 top-level `<extension>`, as plain data (see `ReportRecord.extensions`). */
  extensions?: Record<string, unknown>;
  /** Original text of normalised values, keyed by XML path (`report_metadata/date_range/begin`). */
  raw?: Record<string, string>;
}

export interface OverrideReason {
  type: Open<OverrideType> | null;
  comment?: string;
}

export interface DkimAuthResult {
  domain: string;
  selector?: string;
  result: Open<DkimResult> | null;
  humanResult?: string;
}

export interface SpfAuthResult {
  domain: string;
  scope?: Open<SpfScope>;
  result: Open<SpfResult> | null;
  humanResult?: string;
}

export interface ReportRecord {
  sourceIp: string;
  count: number | null;
  disposition: Open<AppliedDisposition> | null;
  evalDkim: Open<DmarcResult> | null;
  evalSpf: Open<DmarcResult> | null;
  reasons: OverrideReason[];
  headerFrom: string;
  /** Absent when the report has none and there is no SPF domain to derive it from. */
  envelopeFrom?: string;
  /** True when `envelopeFrom` was copied from an SPF result because the report left it out. */
  envelopeFromDerived?: boolean;
  envelopeTo?: string;
  dkim: DkimAuthResult[];
  spf: SpfAuthResult[];
  /**
   * Record-level elements outside the schema (RFC 9990 namespaced extensions), as plain data
   * keyed by local name: text-only elements become strings, others objects, repeats arrays.
   */
  extensions?: Record<string, unknown>;
  /** Original text of normalised values, keyed by path inside the record (`auth_results/spf[0]/result`). */
  raw?: Record<string, string>;
}

export type WarningCode =
  | 'xml-declaration-not-at-start'
  | 'junk-before-root'
  | 'trailing-content'
  | 'stray-schema-tag'
  | 'stray-markup'
  | 'repaired-markup'
  | 'unknown-entity'
  | 'encoding'
  | 'invalid-utf8'
  | 'unknown-element'
  | 'duplicate-element'
  | 'unexpected-text'
  | 'missing-element'
  | 'empty-value'
  | 'header-after-records'
  | 'version-misplaced'
  | 'identities-element'
  | 'value-case'
  | 'value-alias'
  | 'nonstandard-value'
  | 'invalid-number'
  | 'invalid-date'
  | 'fractional-date'
  | 'date-range-reversed'
  | 'date-implausible'
  | 'invalid-source-ip'
  | 'empty-reason'
  | 'text-reason'
  | 'envelope-from-derived'
  | 'spf-scope-missing'
  | 'missing-policy-domain'
  | 'truncated'
  | 'text-clipped'
  | 'too-many-warnings';

export interface ParseWarning {
  code: WarningCode;
  message: string;
  /** 0-based index of the first record concerned; absent for the header and the document. */
  record?: number;
  /** How many times this exact warning occurred (it is recorded once per report). */
  count: number;
}

export interface ParseStats {
  /** Bytes of XML read (after decompression); 0 when the input was given as text. */
  bytes: number;
  records: number;
  /** Sum of `count` over the records. */
  messages: number;
  /** Records read by the fast path and by fast-xml-parser (the fallback). */
  fastPath: number;
  fallback: number;
  /** The character encoding the bytes were decoded with (WHATWG name, e.g. `windows-1252`). */
  encoding: string;
}

export interface ParseOptions {
  /** Names the input in error messages (e.g. the payload name). */
  name?: string;
  /**
   * Records per batch delivered by `parseReport` (default 512). Small batches die young, which keeps
   * the garbage collector (and RSS) calm; the appender does not need them any bigger.
   */
  batchSize?: number;
  /** Cap on one top-level element (a record, report_metadata…) in characters; default 1 MiB. */
  maxElementChars?: number;
  /**
   * Records kept while waiting for a header that comes after them (default 20,000). Past that, the
   * header is settled with what was seen so far, or the report is refused if nothing was.
   */
  maxPendingRecords?: number;
  /** Use the hand-written fast path for records (default true); false = fast-xml-parser for all. */
  fastPath?: boolean;
  /** Keep the complete records of a truncated document (with a `truncated` warning) instead of failing. */
  salvageTruncated?: boolean;
}

/** A report being read: the header is known, the records arrive in batches. */
export interface ReportStream {
  readonly name: string;
  readonly header: ReportHeader;
  /** Grows while `records` is read; complete once it is drained. */
  readonly warnings: ParseWarning[];
  /** Final once `records` is drained. */
  readonly stats: ParseStats;
  /** Batches of records, in document order; can be iterated once. Throws `ParseError` on a broken document. */
  readonly records: AsyncIterable<ReportRecord[]>;
}

/** A whole report in memory (small inputs, tests). */
export interface ParsedReport {
  name: string;
  header: ReportHeader;
  records: ReportRecord[];
  warnings: ParseWarning[];
  stats: ParseStats;
}
