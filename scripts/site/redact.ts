/**
 * What a redacted build (the default: `site build` without `--show-addresses` or `--private`) shows
 * instead of addresses. Redacted: source IP addresses, PTR host names and PTR base domains (a third
 * party's host), SPF HELO names (host names), e-mail addresses (reporters' `org_email`; any address
 * inside free text such as a reporter's org name, report id or error text). Kept: declared senders,
 * named services from our own map, AS numbers and names, countries, DKIM and SPF domains, From and
 * envelope domains (domains, not hosts), and every figure.
 *
 * The rollups (./rollups/) decide per field; these helpers cover free text, which may quote anything
 * a report carried.
 */
import { isIP } from 'node:net';

export const REDACTED = 'redacted';

/** Runs of characters an IP address is made of, with at least one separator (candidates, checked with isIP). */
const ADDRESS_LIKE = /[0-9a-f]*[.:][0-9a-f.:]*(?:%[\w.-]+)?/gi;
/** What every IPv4 (digit.digit) or IPv6 address (a hex digit next to a colon) holds. */
const MAY_HOLD_ADDRESS = /\d\.\d|[0-9a-f]:|:[0-9a-f]/i;
/** An e-mail address (loosely: anything@domain.tld), the domain captured. */
const EMAIL = /[^\s@<>"'()[\],;:]+@([^\s@<>"'()[\],;:]+\.[^\s@<>"'()[\],;:]+)/g;

/** The text with IP addresses replaced by "redacted" and e-mail addresses by "(address at <domain>)". */
export function scrubText(text: string): string {
  // Report pages scrub millions of short strings: most hold neither an "@" nor what an address needs.
  const withoutEmails = text.includes('@') ? text.replace(EMAIL, (_, domain: string) => `(address at ${domain})`) : text;
  if (!MAY_HOLD_ADDRESS.test(withoutEmails)) return withoutEmails;
  return withoutEmails.replace(ADDRESS_LIKE, (token) => {
    if (isAddress(token)) return REDACTED;
    // Trailing punctuation: "sent from 192.0.2.1." keeps its full stop.
    const trimmed = token.replace(/[.:]+$/, '');
    return trimmed !== token && isAddress(trimmed) ? `${REDACTED}${token.slice(trimmed.length)}` : token;
  });
}

/** An IPv4 or IPv6 address (a `%zone` suffix allowed), or a dotted quad with leading zeros as some reporters write them. */
function isAddress(token: string): boolean {
  const bare = token.replace(/%[\w.-]+$/, '');
  return isIP(bare) !== 0 || /^\d{1,3}(?:\.\d{1,3}){3}$/.test(bare);
}

/** A parser warning as a redacted build shows it: quoted source IPs (which may not even parse) are hidden. */
export function scrubWarning(warning: { code: string; message: string }): { code: string; message: string } {
  if (warning.code === 'invalid-source-ip')
    return { code: warning.code, message: '<row/source_ip> is not an IP address; kept as written (value redacted)' };
  return { code: warning.code, message: scrubText(warning.message) };
}

/** The network an address belongs to, as redacted builds name a host: "redacted (AS15169 GOOGLE, US)". */
export function networkLabel(asn: number | null, asName: string | null, country: string | null): string {
  const network = asn === null ? null : `AS${asn}${asName ? ` ${asName}` : ''}`;
  const parts = [network, country].filter((part) => part !== null && part !== '');
  return parts.length === 0 ? `${REDACTED} (unknown network)` : `${REDACTED} (${parts.join(', ')})`;
}
