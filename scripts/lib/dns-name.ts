/**
 * Domain names: one lenient normaliser for comparing names (`normaliseName`), one strict parser for
 * names people write (`parseDomainName`), zone membership, and the organizational domain of RFC 7489
 * §3.2 by the Public Suffix List (`organizationalDomain`). The DNS tree walk of RFC 9989 §4.10, which
 * asks DNS instead of the list, is policy knowledge and lives in scripts/policy/orgdomain.ts.
 */
import { isIP } from 'node:net';
import { domainToASCII } from 'node:url';
import { getDomain } from 'tldts';

/**
 * A name as it compares: trimmed, lower case (DNS names are case-insensitive, RFC 4343), without the
 * root's trailing dot, and with IDN labels as A-labels (RFC 5890). Never throws: a name that is not
 * ASCII and cannot be mapped, or no name at all, gives ''. It does not validate: names from DNS
 * providers and reports are compared as they come; use `parseDomainName` for names people write.
 */
export function normaliseName(name: string | null | undefined): string {
  if (name === null || name === undefined) return '';
  let normal = name.trim().toLowerCase();
  if (normal.endsWith('.')) normal = normal.slice(0, -1);
  // Only non-ASCII names need the IDN mapping (hot in report rollups); domainToASCII returns '' for impossible names.
  if (/[^\x00-\x7f]/.test(normal)) normal = domainToASCII(normal);
  return normal;
}

const MAX_NAME_OCTETS = 253;
const MAX_LABEL_OCTETS = 63;

/**
 * A name someone wrote (a domain file, a command line), checked and in its canonical form: lower case,
 * A-labels, no trailing dot. Throws, saying why, on names DNS cannot hold (RFC 1035 §2.3.4: 63-octet
 * labels, 255-octet names, so 253 characters in text), on IP addresses and on characters other than
 * letters, digits, `-` and `_` (as in `_dmarc`), so later comparisons can be plain string equality.
 */
export function parseDomainName(name: string): string {
  const invalid = (why: string): Error => new Error(`Invalid domain name ${JSON.stringify(name)}: ${why}`);
  const withoutRootDot = name.endsWith('.') ? name.slice(0, -1) : name;
  if (withoutRootDot === '') throw invalid('it is empty');
  // domainToASCII lower-cases, maps IDN to A-labels, and returns '' for characters no host may contain.
  const ascii = domainToASCII(withoutRootDot);
  if (ascii === '') throw invalid('it contains characters a domain name cannot hold');
  if (isIP(ascii) !== 0) throw invalid('it is an IP address');
  // Letters, digits, hyphen, and underscore (as in `_dmarc`); rules out `*`, `[::1]` and the like.
  if (!/^[a-z0-9._-]+$/.test(ascii)) throw invalid(`only letters, digits, '-' and '_' are allowed in labels`);
  for (const label of ascii.split('.')) {
    if (label === '') throw invalid('it has an empty label');
    if (label.length > MAX_LABEL_OCTETS) {
      throw invalid(`label "${label}" is ${label.length} octets, more than ${MAX_LABEL_OCTETS}`);
    }
  }
  if (ascii.length > MAX_NAME_OCTETS) throw invalid(`${ascii.length} octets, more than ${MAX_NAME_OCTETS}`);
  return ascii;
}

/** Whether `name` is `zone` or below it; both normalised. An empty zone holds nothing. */
export function inZone(name: string, zone: string): boolean {
  return zone !== '' && (name === zone || name.endsWith(`.${zone}`));
}

export interface PslOptions {
  /**
   * Also treat the PSL's PRIVATE section (github.io, s3.amazonaws.com, …) as public suffixes.
   * Default false: RFC 7489 names no list section, and most receivers use the ICANN section only.
   */
  includePrivateSuffixes?: boolean;
}

const ORG_MEMO_LIMIT = 10_000;
const orgMemo = new Map<string, string | null>();

/**
 * RFC 7489 §3.2: the public suffix plus one label (`a.b.example.co.uk` → `example.co.uk`), the name
 * normalised first. `null` when the name is itself a public suffix (`co.uk`, `com`: it has no
 * registrable part, so no organizational domain), or is not a host name at all. Callers that let a
 * public suffix stand for itself (a PSD's own zone, RFC 9091) write `organizationalDomain(name) ?? name`.
 */
export function organizationalDomain(name: string, opts: PslOptions = {}): string | null {
  const domain = normaliseName(name);
  if (domain === '') return null;
  const allowPrivateDomains = opts.includePrivateSuffixes ?? false;
  const key = allowPrivateDomains ? `\u0000${domain}` : domain;
  let org = orgMemo.get(key);
  if (org === undefined) {
    org = getDomain(domain, { allowPrivateDomains }) ?? null;
    // Reports repeat a handful of domains millions of times; a bounded memo keeps tldts off the hot path.
    if (orgMemo.size >= ORG_MEMO_LIMIT) orgMemo.clear();
    orgMemo.set(key, org);
  }
  return org;
}
