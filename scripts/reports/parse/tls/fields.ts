/** The field names of an RFC 8460 report (§4.4), by the object that holds them. */
export const REPORT_FIELDS = ['organization-name', 'date-range', 'contact-info', 'report-id', 'policies'];
export const DATE_RANGE_FIELDS = ['start-datetime', 'end-datetime'];
export const POLICY_ENTRY_FIELDS = ['policy', 'summary', 'failure-details'];
export const POLICY_FIELDS = ['policy-type', 'policy-string', 'policy-domain', 'mx-host'];
export const SUMMARY_FIELDS = ['total-successful-session-count', 'total-failure-session-count'];
export const DETAIL_FIELDS = [
  'result-type',
  'sending-mta-ip',
  'receiving-mx-hostname',
  'receiving-mx-helo',
  'receiving-ip',
  'failed-session-count',
  'additional-information',
  'failure-reason-code',
];

/**
 * Every name the format defines (and `version`, which some senders add). A refusal names the JSON path
 * where it happened with these names only: any other key is the document's own text, and the reason
 * of a refused input goes into the ledger, which never quotes an input's content (privacy.ts).
 */
export const KNOWN_KEYS: ReadonlySet<string> = new Set([
  ...REPORT_FIELDS,
  ...DATE_RANGE_FIELDS,
  ...POLICY_ENTRY_FIELDS,
  ...POLICY_FIELDS,
  ...SUMMARY_FIELDS,
  ...DETAIL_FIELDS,
  'version',
]);

/** A key as a refusal may name it: as written when the format defines it, else a placeholder. */
export function keyForMessage(key: string): string {
  return KNOWN_KEYS.has(key) ? key : '(other key)';
}
