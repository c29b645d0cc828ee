/**
 * The dataset's columns, in file order: name, DuckDB type and meaning, for the records, the TLS rows
 * and the ledger. The staging SQL, the empty fallback relations of `committedRecordsSql` and
 * `committedTlsSql` and the tests all read these lists, and a test checks that docs/dataset.md
 * documents every column, so the three cannot drift apart.
 */

export interface ColumnDef {
  name: string;
  /** DuckDB type as written in SQL. */
  type: string;
  group: string;
  doc: string;
}

const DKIM_TYPE = 'STRUCT(domain VARCHAR, selector VARCHAR, result VARCHAR, human_result VARCHAR)[]';
const SPF_TYPE = 'STRUCT(domain VARCHAR, scope VARCHAR, result VARCHAR, human_result VARCHAR)[]';
const REASON_TYPE = 'STRUCT(type VARCHAR, comment VARCHAR)[]';
const WARNING_TYPE = 'STRUCT(code VARCHAR, message VARCHAR, record INTEGER, count INTEGER)[]';
const RAW_TYPE = 'MAP(VARCHAR, VARCHAR)';

const col =
  (group: string) =>
  (name: string, type: string, doc: string): ColumnDef => ({ name, type, group, doc });

const report = col('report');
const policy = col('policy');
const row = col('row');
const ident = col('identifiers');
const auth = col('auth');
const derived = col('derived');
const enrich = col('enrichment');
const prov = col('provenance');
const extras = col('extras');

/** One row per report record. The hive partition column `month` comes from the directory name. */
export const RECORD_COLUMNS: readonly ColumnDef[] = [
  report('report_key', 'VARCHAR', 'Stable report identity: sha256 (32 hex) of org, report id, policy domain, begin, end'),
  report('org_name', 'VARCHAR', 'Reporter organisation as written'),
  report('org_email', 'VARCHAR', 'Reporter contact address'),
  report('org_extra_contact', 'VARCHAR', 'extra_contact_info'),
  report('report_id', 'VARCHAR', 'Report id as written (not unique across reporters)'),
  report('date_begin', 'TIMESTAMP', 'Start of the reported range (UTC)'),
  report('date_end', 'TIMESTAMP', 'End of the reported range (UTC)'),
  report('report_schema', 'VARCHAR', 'rfc7489 | rfc9990 | draft'),
  report('generator', 'VARCHAR', 'RFC 9990 generator'),
  report('xml_namespace', 'VARCHAR', 'Root element namespace as written'),
  report('report_version', 'VARCHAR', '<version> as written'),
  report('report_errors', 'VARCHAR[]', 'report_metadata/error elements'),
  report('report_warnings', WARNING_TYPE, 'What the parser repaired or found odd in this report (complete list)'),
  report('report_extensions', 'JSON', 'RFC 9990 report-level extensions as JSON'),
  report('report_raw', RAW_TYPE, 'Original text of normalised header values, by XML path'),
  policy('policy_domain', 'VARCHAR', 'policy_published/domain (lower case)'),
  policy('policy_p', 'VARCHAR', 'p as reported'),
  policy('policy_sp', 'VARCHAR', 'sp as reported (no default applied)'),
  policy('policy_np', 'VARCHAR', 'np as reported'),
  policy('policy_adkim', 'VARCHAR', 'adkim as reported (absent = r)'),
  policy('policy_aspf', 'VARCHAR', 'aspf as reported (absent = r)'),
  policy('policy_pct', 'INTEGER', 'pct as reported (RFC 7489)'),
  policy('policy_fo', 'VARCHAR', 'fo as reported'),
  policy('policy_testing', 'VARCHAR', 'RFC 9990 testing (t)'),
  policy('policy_discovery_method', 'VARCHAR', 'RFC 9990 discovery_method (psl | treewalk)'),
  row('record_index', 'INTEGER', '0-based position of the record in the report; (report_key, record_index) is unique'),
  row('source_ip', 'VARCHAR', 'Sending IP address'),
  row('message_count', 'BIGINT', 'Messages this row stands for (null when unreadable)'),
  row('disposition', 'VARCHAR', 'Applied disposition: none | quarantine | reject | pass (RFC 9990)'),
  row('eval_dkim', 'VARCHAR', 'policy_evaluated/dkim as reported'),
  row('eval_spf', 'VARCHAR', 'policy_evaluated/spf as reported'),
  row('override_reasons', REASON_TYPE, 'policy_evaluated/reason elements'),
  ident('header_from', 'VARCHAR', 'RFC5322.From domain'),
  ident('envelope_from', 'VARCHAR', 'RFC5321.MailFrom domain'),
  ident('envelope_from_derived', 'BOOLEAN', 'True when envelope_from was copied from an SPF result by the parser'),
  ident('envelope_to', 'VARCHAR', 'Recipient domain'),
  auth('dkim_results', DKIM_TYPE, 'auth_results/dkim, in report order'),
  auth('spf_results', SPF_TYPE, 'auth_results/spf, in report order'),
  derived('dkim_aligned', 'BOOLEAN', 'A passing DKIM signature aligns with header_from under adkim'),
  derived('spf_aligned', 'BOOLEAN', 'A passing SPF MAIL FROM (or HELO for a null sender) result aligns under aspf'),
  derived('dmarc_pass', 'BOOLEAN', 'dkim_aligned OR spf_aligned'),
  enrich('source_ptr', 'VARCHAR', 'Reverse DNS name of source_ip'),
  enrich('source_base_domain', 'VARCHAR', 'Organizational domain of source_ptr'),
  enrich('source_name', 'VARCHAR', 'Known service name (e.g. Google Workspace)'),
  enrich('source_type', 'VARCHAR', 'Known service type (e.g. ESP)'),
  enrich('source_asn', 'BIGINT', 'Autonomous system number'),
  enrich('source_as_name', 'VARCHAR', 'Autonomous system name'),
  enrich('source_country', 'VARCHAR', 'ISO 3166-1 alpha-2 country'),
  extras('record_extensions', 'JSON', 'RFC 9990 record-level extensions as JSON'),
  extras('record_raw', RAW_TYPE, 'Original text of normalised record values, by path inside the record'),
  prov('ingest_run', 'VARCHAR', 'Run that stored the row'),
  prov('ingested_at', 'TIMESTAMP', 'When that run started (UTC)'),
  prov('source_ref', 'VARCHAR', 'The input the report came from: sha256 of its bytes (of the IMAP URL for a message too large to fetch)'),
];

const TLS_WARNING_TYPE = 'STRUCT(code VARCHAR, message VARCHAR, policy INTEGER, count INTEGER)[]';
const tlsReport = col('report');
const tlsPolicy = col('policy');
const tlsRow = col('row');

/**
 * One row per policy of an SMTP TLS report (`summary`) and per failure detail (`failure`), RFC 8460 §4.4.
 * The names are the keys of `TlsReportRow` (parse/tls/types.ts) plus provenance; `month` comes from
 * the directory name, as for records.
 */
export const TLS_COLUMNS: readonly ColumnDef[] = [
  tlsReport('report_key', 'VARCHAR', 'Stable report identity: sha256 (32 hex) of organisation, report id, policy domains, begin, end'),
  tlsReport('org_name', 'VARCHAR', 'organization-name: the sending organisation that reports'),
  tlsReport('contact_info', 'VARCHAR', 'contact-info'),
  tlsReport('report_id', 'VARCHAR', 'report-id as written'),
  tlsReport('date_begin', 'TIMESTAMP', 'date-range/start-datetime (UTC, to the second)'),
  tlsReport('date_end', 'TIMESTAMP', 'date-range/end-datetime (UTC, to the second)'),
  tlsReport('report_warnings', TLS_WARNING_TYPE, 'What the parser normalised or found odd in the report (policy = first policy concerned)'),
  tlsReport('report_raw', RAW_TYPE, 'Original text of normalised values, by JSON path'),
  tlsPolicy('policy_index', 'INTEGER', '0-based position of the policy in the report'),
  tlsPolicy('policy_type', 'VARCHAR', 'sts | tlsa | no-policy-found (lower case)'),
  tlsPolicy('policy_domain', 'VARCHAR', 'policy-domain (lower case)'),
  tlsPolicy('policy_string', 'VARCHAR[]', 'The policy the sender saw, line by line (MTA-STS) or record by record (TLSA)'),
  tlsPolicy('mx_host', 'VARCHAR[]', "The policy's MX patterns (lower case)"),
  tlsRow('row_kind', 'VARCHAR', 'summary | failure'),
  tlsRow('detail_index', 'INTEGER', '0-based position of the failure detail in its policy; null on summary rows'),
  tlsRow('successful_sessions', 'BIGINT', 'Summary rows: total-successful-session-count'),
  tlsRow('failed_sessions', 'BIGINT', 'Summary rows: total-failure-session-count; failure rows: failed-session-count'),
  tlsRow('result_type', 'VARCHAR', 'Failure rows: result-type (RFC 8460 §4.3)'),
  tlsRow('sending_mta_ip', 'VARCHAR', 'Failure rows: sending-mta-ip (canonical when an IP address)'),
  tlsRow('receiving_mx_hostname', 'VARCHAR', 'Failure rows: receiving-mx-hostname (lower case)'),
  tlsRow('receiving_mx_helo', 'VARCHAR', 'Failure rows: receiving-mx-helo'),
  tlsRow('receiving_ip', 'VARCHAR', 'Failure rows: receiving-ip (canonical)'),
  tlsRow('failure_reason_code', 'VARCHAR', 'Failure rows: failure-reason-code'),
  tlsRow('additional_information', 'VARCHAR', 'Failure rows: additional-information (text from the sender: untrusted)'),
  prov('ingest_run', 'VARCHAR', 'Run that stored the row'),
  prov('ingested_at', 'TIMESTAMP', 'When that run started (UTC)'),
  prov('source_ref', 'VARCHAR', 'The input the report came from: sha256 of its bytes (of the IMAP URL for a message too large to fetch)'),
];

const ledger = col('ledger');

/** One row per input item a run saw. */
export const LEDGER_COLUMNS: readonly ColumnDef[] = [
  ledger('ingest_run', 'VARCHAR', 'Run that saw the item'),
  ledger('seq', 'INTEGER', 'Order of the item within its run'),
  ledger('ingested_at', 'TIMESTAMP', 'When that run started (UTC)'),
  ledger('source_ref', 'VARCHAR', 'sha256 of the input (of the IMAP URL for a message too large to fetch)'),
  ledger('source_bytes', 'BIGINT', 'Size of the input in bytes (null when unknown, and in parts written before the column existed)'),
  ledger('kind', 'VARCHAR', 'aggregate | failure | tls | other'),
  ledger('outcome', 'VARCHAR', 'stored | duplicate | foreign | invalid | unsupported'),
  ledger('reason', 'VARCHAR', 'Why (error code and message) for anything but stored'),
  ledger('report_key', 'VARCHAR', 'report_key when the item was a readable report'),
  ledger('org_name', 'VARCHAR', 'Reporter organisation'),
  ledger('org_email', 'VARCHAR', 'Reporter contact address'),
  ledger('report_id', 'VARCHAR', 'Report id'),
  ledger('policy_domain', 'VARCHAR', 'Policy domain of the report'),
  ledger('date_begin', 'TIMESTAMP', 'Start of the reported range (UTC)'),
  ledger('date_end', 'TIMESTAMP', 'End of the reported range (UTC)'),
  ledger('month', 'VARCHAR', 'Partition the rows went to (YYYY-MM, or unknown for implausible dates; stored reports only)'),
  ledger('records', 'BIGINT', 'Rows stored in records/ or tls/ (null when not read)'),
  ledger('messages', 'BIGINT', 'Sum of message_count over those rows (TLS reports: their successful and failed sessions)'),
  ledger('warning_count', 'INTEGER', 'Parser warnings for the report'),
  ledger('source_name', 'VARCHAR', 'Source: mailbox/folder, directory, file name'),
  ledger('source_trail', 'VARCHAR[]', 'Containers unpacked to reach it (message > attachment > zip member)'),
  ledger('message_id', 'VARCHAR', 'Message-ID of the carrying email'),
  ledger('subject', 'VARCHAR', 'Subject of the carrying email, e-mail addresses removed'),
  ledger('quarantine_path', 'VARCHAR', 'Where a foreign report was kept (relative to the dataset root)'),
];
