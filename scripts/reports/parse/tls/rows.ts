/**
 * A parsed TLS report → its dataset rows and its identity. Per policy one `summary` row (the session
 * totals) and one `failure` row per failure detail: successful sessions per day are the sum of
 * `successful_sessions`, failures by type the sum of `failed_sessions` over failure rows.
 */
import { reportKey } from '../../store/key.ts';
import type { ParsedTlsReport, TlsReportRow } from './types.ts';

/**
 * `report_key` of a TLS report: the same hash and normalisation as an aggregate report's
 * (store/key.ts: reporter, report id, policy domain, begin, end), the policy domains joined when a
 * report covers several. A second copy of a report (another relay, another mailbox) gets the same key.
 */
export function tlsReportKey(report: Pick<ParsedTlsReport, 'header' | 'policyDomains'>): string {
  const { orgName, reportId, dateBegin, dateEnd } = report.header;
  return reportKey({ orgName, reportId, dateBegin, dateEnd, policy: { domain: report.policyDomains.join(',') } });
}

/**
 * The report's rows. `report_raw` of a row holds the original text of what was normalised in the
 * report's own fields and in that row's policy and failure detail, not in the others': the RFC 8460
 * example alone writes every IPv6 address non-canonically, so a report-wide map on every row would
 * grow with the square of the failure details.
 */
export function tlsReportRows(report: ParsedTlsReport): TlsReportRow[] {
  const { header } = report;
  const raw = rawByPlace(header.raw ?? {});
  const base = {
    report_key: tlsReportKey(report),
    org_name: header.orgName,
    contact_info: header.contactInfo ?? null,
    report_id: header.reportId,
    date_begin: header.dateBegin,
    date_end: header.dateEnd,
    report_warnings: report.warnings.map((warning) => ({
      code: warning.code,
      message: warning.message,
      policy: warning.policy ?? null,
      count: warning.count,
    })),
  };
  const rows: TlsReportRow[] = [];
  report.policies.forEach((policy, policyIndex) => {
    const policyColumns = {
      policy_index: policyIndex,
      policy_type: policy.policyType,
      policy_domain: policy.policyDomain,
      policy_string: policy.policyString ?? null,
      mx_host: policy.mxHost ?? null,
    };
    const policyRaw = { ...raw.report, ...raw.policies.get(policyIndex) };
    rows.push({
      ...base,
      report_raw: policyRaw,
      ...policyColumns,
      row_kind: 'summary',
      detail_index: null,
      successful_sessions: policy.successfulSessions,
      failed_sessions: policy.failedSessions,
      result_type: null,
      sending_mta_ip: null,
      receiving_mx_hostname: null,
      receiving_mx_helo: null,
      receiving_ip: null,
      failure_reason_code: null,
      additional_information: null,
    });
    policy.failureDetails.forEach((detail, detailIndex) => {
      rows.push({
        ...base,
        report_raw: { ...policyRaw, ...raw.details.get(`${policyIndex}/${detailIndex}`) },
        ...policyColumns,
        row_kind: 'failure',
        detail_index: detailIndex,
        successful_sessions: null,
        failed_sessions: detail.failedSessions,
        result_type: detail.resultType,
        sending_mta_ip: detail.sendingMtaIp ?? null,
        receiving_mx_hostname: detail.receivingMxHostname ?? null,
        receiving_mx_helo: detail.receivingMxHelo ?? null,
        receiving_ip: detail.receivingIp ?? null,
        failure_reason_code: detail.failureReasonCode ?? null,
        additional_information: detail.additionalInformation ?? null,
      });
    });
  });
  return rows;
}

/** Raw values by where they belong: the report's own fields, a policy (by index), a failure detail (`policy/detail`). */
function rawByPlace(raw: Readonly<Record<string, string>>): {
  report: Record<string, string>;
  policies: Map<number, Record<string, string>>;
  details: Map<string, Record<string, string>>;
} {
  const places = {
    report: {} as Record<string, string>,
    policies: new Map<number, Record<string, string>>(),
    details: new Map<string, Record<string, string>>(),
  };
  for (const [path, value] of Object.entries(raw)) {
    const at = /^policies\[(\d+)\](?:\/failure-details\[(\d+)\])?\//.exec(path);
    if (at === null) places.report[path] = value;
    else if (at[2] === undefined) add(places.policies, Number(at[1]), path, value);
    else add(places.details, `${at[1]}/${at[2]}`, path, value);
  }
  return places;
}

function add<K>(map: Map<K, Record<string, string>>, key: K, path: string, value: string): void {
  const entries = map.get(key) ?? {};
  entries[path] = value;
  map.set(key, entries);
}
