/**
 * The TLS report parser's vocabulary: one SMTP TLS report (RFC 8460 §4) as typed, normalised objects,
 * and the rows it becomes in the dataset (`reports/tls/`, docs/dataset.md "TLS reports").
 *
 * Conventions, as for DMARC reports (../types.ts):
 * - Strings are trimmed; enumerations (`policy-type`, `result-type`) are lower-cased; domain and host
 *   names are lower-cased without a trailing dot; IP addresses are written canonically. Nothing else
 *   is changed.
 * - A required string the report leaves out is `''`; an optional one is absent; a session count that
 *   is missing is `null`. Either way a warning says so.
 * - Whenever normalisation changed a value beyond trimming and case (a count written as a string, a
 *   date without a time zone, a swapped range, an `mx-host` given as one string), the original is kept
 *   in `raw` by its JSON path and a warning is recorded: never a silent change of meaning.
 */
import type { Open } from '../types.ts';

export type TlsPolicyType = 'sts' | 'tlsa' | 'no-policy-found';

/** RFC 8460 §4.3: negotiation failures (§4.3.1), policy failures (§4.3.2), general failures (§4.3.3). */
export type TlsResultType =
  | 'starttls-not-supported'
  | 'certificate-host-mismatch'
  | 'certificate-expired'
  | 'certificate-not-trusted'
  | 'validation-failure'
  | 'tlsa-invalid'
  | 'dnssec-invalid'
  | 'dane-required'
  | 'sts-policy-fetch-error'
  | 'sts-policy-invalid'
  | 'sts-webpki-invalid';

export interface TlsReportHeader {
  /** `organization-name`: who sent the report. */
  orgName: string;
  /** `report-id`. */
  reportId: string;
  /** `contact-info`, when given. */
  contactInfo?: string;
  /** `date-range`, epoch seconds (UTC). */
  dateBegin: number;
  dateEnd: number;
  /** Original text of normalised values, keyed by JSON path (`date-range/start-datetime`). */
  raw?: Record<string, string>;
}

export interface TlsFailureDetail {
  resultType: Open<TlsResultType>;
  sendingMtaIp?: string;
  receivingMxHostname?: string;
  receivingMxHelo?: string;
  receivingIp?: string;
  /** `failed-session-count`. */
  failedSessions: number;
  additionalInformation?: string;
  failureReasonCode?: string;
}

export interface TlsPolicy {
  policyType: Open<TlsPolicyType>;
  policyDomain: string;
  /** `policy-string`: the policy the sender saw, line by line (MTA-STS) or record by record (TLSA). */
  policyString?: string[];
  /** `mx-host`: the MX patterns of the policy (MTA-STS). */
  mxHost?: string[];
  /** `summary/total-successful-session-count`; null when the report leaves it out. */
  successfulSessions: number | null;
  /** `summary/total-failure-session-count`; null when the report leaves it out. */
  failedSessions: number | null;
  failureDetails: TlsFailureDetail[];
}

export type TlsWarningCode =
  | 'byte-order-mark'
  | 'duplicate-key'
  | 'unknown-field'
  | 'missing-field'
  | 'empty-value'
  | 'value-case'
  | 'value-shape'
  | 'nonstandard-value'
  | 'date-without-zone'
  | 'fractional-date'
  | 'date-range-reversed'
  | 'invalid-ip'
  | 'zero-sessions'
  | 'count-mismatch'
  | 'duplicate-failure-detail'
  | 'several-policy-domains'
  | 'no-policies'
  | 'version-field'
  | 'too-many-warnings';

export interface TlsParseWarning {
  code: TlsWarningCode;
  message: string;
  /** 0-based index of the first policy concerned; absent for the report as a whole. */
  policy?: number;
  /** How many times this exact warning occurred (it is recorded once per report). */
  count: number;
}

export interface TlsParseStats {
  /** Bytes of JSON read (after decompression). */
  bytes: number;
  /** True when the input was gzip and the parser decompressed it. */
  gzip: boolean;
  policies: number;
  failureDetails: number;
  successfulSessions: number;
  failedSessions: number;
}

export interface ParsedTlsReport {
  name: string;
  header: TlsReportHeader;
  policies: TlsPolicy[];
  /** The distinct policy domains, sorted: what decides whether the report is ours or foreign. */
  policyDomains: string[];
  warnings: TlsParseWarning[];
  stats: TlsParseStats;
}

export interface TlsParseLimits {
  /** Largest JSON document, after decompression (default 32 MiB). */
  maxBytes: number;
  /** Deepest nesting of objects and arrays (default 16; a report needs 5). */
  maxDepth: number;
  /** Longest string, key or value, in characters as written (default 16,384). */
  maxStringChars: number;
  /** Most keys in one object (default 256). */
  maxKeys: number;
  /** Most policies in one report (default 10,000). */
  maxPolicies: number;
  /** Most failure details in one report, all policies together (default 100,000). */
  maxFailureDetails: number;
  /** Most entries of one `policy-string` or `mx-host` list (default 1,000). */
  maxListItems: number;
}

export interface TlsParseOptions extends Partial<TlsParseLimits> {
  /** Names the input in error messages (e.g. the payload name). */
  name?: string;
}

/**
 * One row of the TLS dataset (`reports/tls/month=YYYY-MM/`): per policy of a report, one `summary` row
 * with its session totals, and one `failure` row per failure detail. Keys are the Parquet column names,
 * so the row goes to the store, and the SQL reads it, under one name (docs/dataset.md).
 */
export interface TlsReportRow {
  report_key: string;
  org_name: string;
  contact_info: string | null;
  report_id: string;
  /** Epoch seconds (UTC); the store writes TIMESTAMP. */
  date_begin: number;
  date_end: number;
  report_warnings: { code: string; message: string; policy: number | null; count: number }[];
  /** Original text of normalised values, by JSON path: the report's own, and this row's policy's and failure detail's. */
  report_raw: Record<string, string>;
  policy_index: number;
  policy_type: string;
  policy_domain: string;
  policy_string: string[] | null;
  mx_host: string[] | null;
  row_kind: 'summary' | 'failure';
  /** 0-based index of the failure detail in its policy; null on summary rows. */
  detail_index: number | null;
  /** Summary rows: `total-successful-session-count`; null on failure rows. */
  successful_sessions: number | null;
  /** Summary rows: `total-failure-session-count`; failure rows: `failed-session-count`. */
  failed_sessions: number | null;
  result_type: string | null;
  sending_mta_ip: string | null;
  receiving_mx_hostname: string | null;
  receiving_mx_helo: string | null;
  receiving_ip: string | null;
  failure_reason_code: string | null;
  additional_information: string | null;
}
