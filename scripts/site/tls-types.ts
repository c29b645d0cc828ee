/**
 * The RFC 8460 result types as the TLS section reads them: which ones an enforced MTA-STS policy turns
 * into refused deliveries, and what each means. No imports: the browser's views use it too.
 */

/**
 * Result types (RFC 8460 §4.3) that an enforced policy turns into refused deliveries: RFC 8461 §5 has
 * a sender in enforce mode refuse an MX host without STARTTLS or whose certificate does not validate
 * for its name (§4.2); "validation-failure" is the general case.
 */
export const BLOCKING_RESULT_TYPES: readonly string[] = [
  'starttls-not-supported',
  'certificate-host-mismatch',
  'certificate-expired',
  'certificate-not-trusted',
  'validation-failure',
];
/** Result types of fetching and reading the policy itself (RFC 8460 §4.3, "MTA-STS-specific policy failures"): senders that hit them do not apply it. */
export const POLICY_RESULT_TYPES: readonly string[] = ['sts-policy-fetch-error', 'sts-policy-invalid', 'sts-webpki-invalid'];

/** What each RFC 8460 §4.3 result type means, in a sentence (the pages' help text). */
export const RESULT_TYPE_MEANINGS: Readonly<Record<string, string>> = {
  'starttls-not-supported': 'The MX host did not offer STARTTLS: the mail would go in clear text.',
  'certificate-host-mismatch': 'The certificate of the MX host is not valid for its name.',
  'certificate-expired': 'The certificate of the MX host has expired.',
  'certificate-not-trusted': 'The certificate of the MX host does not chain to a CA the sender trusts.',
  'validation-failure': 'The sender could not validate the MX host (a general failure; the reason code may say more).',
  'tlsa-invalid': 'DANE: the TLSA records of the MX host are invalid.',
  'dnssec-invalid': 'DANE: the DNSSEC signatures could not be validated.',
  'dane-required': 'DANE: the sender requires DANE, and the MX host has no usable TLSA record.',
  'sts-policy-fetch-error': 'The sender could not fetch the MTA-STS policy file.',
  'sts-policy-invalid': 'The MTA-STS policy file the sender fetched is not a valid policy.',
  'sts-webpki-invalid': 'The certificate of the MTA-STS policy host (mta-sts.<domain>) did not validate.',
};

/** What enforce does with a failure of this type: refuse delivery to the MX host, not apply the policy at all, or neither (DANE, unknown). */
export function underEnforce(type: string): 'refused' | 'policy-not-applied' | 'other' {
  return BLOCKING_RESULT_TYPES.includes(type) ? 'refused' : POLICY_RESULT_TYPES.includes(type) ? 'policy-not-applied' : 'other';
}
