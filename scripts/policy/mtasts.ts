/**
 * MTA-STS (RFC 8461) and SMTP TLS reporting (RFC 8460) as dmarcops publishes them: the policy file
 * served at https://mta-sts.<domain>/.well-known/mta-sts.txt, its id, the `_mta-sts` and `_smtp._tls`
 * TXT records; and the readers `mta-sts check` and the planner use for what is published. Pure, no I/O.
 */
import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import { getDomain } from 'tldts';
import type { MtaStsMode, MtaStsPolicy } from './model.ts';
import { clip } from '../lib/text.ts';
import { normaliseName } from '../lib/dns-name.ts';

/** RFC 8461 §3.2: "max_age … maximum value of 31557600". */
export const MAX_AGE_LIMIT = 31_557_600;
/** What dmarcops publishes when `mta_sts.max_age` is left out: one week (§3.2 expects "weeks or greater"). */
export const DEFAULT_MAX_AGE = 604_800;
/** RFC 8461 §3.1: the id is 1 to 32 letters and digits. */
export const STS_ID_PATTERN = /^[A-Za-z0-9]{1,32}$/;
const MODES: readonly MtaStsMode[] = ['enforce', 'testing', 'none'];

/** The host that serves the policy (RFC 8461 §3.3). */
export function mtaStsHost(domain: string): string {
  return `mta-sts.${domain}`;
}

/** Where senders fetch the policy (RFC 8461 §3.3): HTTPS only, this exact path. */
export function mtaStsPolicyUrl(domain: string): string {
  return `https://${mtaStsHost(domain)}/.well-known/mta-sts.txt`;
}

/**
 * The policy file, byte for byte (RFC 8461 §3.2): `version`, `mode`, one `mx` line per pattern, `max_age`,
 * each line ended by CRLF, in the order of the RFC's example. MX patterns are sorted and listed once, so
 * reordering them in the domain file changes neither the file nor its id.
 */
export function formatMtaStsPolicy(policy: Pick<MtaStsPolicy, 'mode' | 'mx' | 'maxAge'>): string {
  // sort() without a comparator orders by UTF-16 code units: the same on every machine.
  const mx = [...new Set(policy.mx.map((pattern) => pattern.toLowerCase()))].sort();
  const lines = ['version: STSv1', `mode: ${policy.mode}`, ...mx.map((pattern) => `mx: ${pattern}`), `max_age: ${policy.maxAge}`];
  return lines.map((line) => `${line}\r\n`).join('');
}

/**
 * The id derived from a policy file: the first 32 hex digits of its sha256. It changes exactly when the
 * file's bytes change, which is what RFC 8461 §3.1 asks of the id ("MUST uniquely identify a given
 * instance of a policy"); 32 hex digits are the longest id the record allows.
 */
export function policyFileId(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex').slice(0, 32);
}

/** The id published for a policy: `mta_sts.id` when the domain file sets one, else derived from the file. */
export function mtaStsId(policy: MtaStsPolicy): string {
  return policy.id ?? policyFileId(formatMtaStsPolicy(policy));
}

/** `_mta-sts.<domain>` TXT (RFC 8461 §3.1). */
export function formatStsRecord(id: string): string {
  return `v=STSv1; id=${id}`;
}

/** `_smtp._tls.<domain>` TXT (RFC 8460 §3); URIs are written as given (commas inside them percent-encoded). */
export function formatTlsRptRecord(uris: readonly string[]): string {
  return `v=TLSRPTv1; rua=${uris.map((uri) => uri.replace(/[,;]|[^\x21-\x7e]/gu, percentEncode)).join(',')}`;
}

function percentEncode(char: string): string {
  return [...new TextEncoder().encode(char)].map((octet) => `%${octet.toString(16).toUpperCase().padStart(2, '0')}`).join('');
}

/**
 * Whether a TXT value is an MTA-STS record: it starts with `v=STSv1` (case-sensitive, RFC 8461 §3.1)
 * followed by the separator or nothing. Senders discard other values at `_mta-sts`.
 */
export function isStsRecord(value: string): boolean {
  return /^v=STSv1[ \t]*(?:;|$)/.test(value);
}

/** Whether a TXT value is a TLS reporting record: `v=TLSRPTv1` first (RFC 8460 §3). */
export function isTlsRptRecord(value: string): boolean {
  return /^v=TLSRPTv1[ \t]*(?:;|$)/.test(value);
}

export interface ParsedStsRecord {
  /** The id, when the record has exactly one valid `id` field. */
  id?: string;
  problems: string[];
}

/** Read an `_mta-sts` TXT value (RFC 8461 §3.1): `v=STSv1`, an `id` of 1–32 letters and digits, other fields ignored. */
export function parseStsRecord(value: string): ParsedStsRecord {
  if (!isStsRecord(value)) return { problems: ['does not start with v=STSv1'] };
  const problems: string[] = [];
  const ids: string[] = [];
  const fields = value
    .split(';')
    .slice(1)
    .map((field) => field.replace(/^[ \t]+|[ \t]+$/g, ''));
  fields.forEach((field, index) => {
    if (field === '' && index === fields.length - 1) return; // the optional trailing separator
    const equals = field.indexOf('=');
    if (equals <= 0) problems.push(`"${field}" is not a name=value field`);
    else if (field.slice(0, equals) === 'id') ids.push(field.slice(equals + 1));
  });
  if (ids.length === 0) problems.push('has no id field');
  if (ids.length > 1) problems.push('has more than one id field');
  const id = ids.length === 1 ? ids[0] : undefined;
  if (id !== undefined && !STS_ID_PATTERN.test(id)) problems.push(`id "${id}" is not 1 to 32 letters and digits`);
  return id !== undefined && problems.length === 0 ? { id, problems } : { problems };
}

export interface ParsedPolicyFile {
  version?: string;
  mode?: string;
  mx: string[];
  maxAge?: number;
  /** Why senders would refuse it (RFC 8461 §3.2), empty when it is a valid policy. */
  problems: string[];
  /** How lines end: RFC 8461 §3.2 writes CRLF; its grammar also accepts LF. */
  lineEnds: 'crlf' | 'lf' | 'mixed' | 'none';
}

/** Read a policy file as senders do (RFC 8461 §3.2): key/value lines, unknown keys ignored. */
export function parseMtaStsPolicy(text: string): ParsedPolicyFile {
  const crlf = (text.match(/\r\n/g) ?? []).length;
  const lf = (text.match(/\n/g) ?? []).length - crlf;
  const lineEnds = crlf > 0 && lf > 0 ? 'mixed' : crlf > 0 ? 'crlf' : lf > 0 ? 'lf' : 'none';
  const result: ParsedPolicyFile = { mx: [], problems: [], lineEnds };
  const seen = new Set<string>();
  for (const line of text.split(/\r?\n/)) {
    if (line.trim() === '') continue;
    const colon = line.indexOf(':');
    if (colon <= 0) {
      result.problems.push(`line "${clip(line)}" is not key: value`);
      continue;
    }
    const key = line.slice(0, colon);
    const value = line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, '');
    if (key !== 'mx' && seen.has(key) && ['version', 'mode', 'max_age'].includes(key))
      result.problems.push(`${key} appears more than once`);
    seen.add(key);
    if (key === 'version') result.version = value;
    else if (key === 'mode') result.mode = value;
    else if (key === 'mx') result.mx.push(value.toLowerCase());
    else if (key === 'max_age') {
      if (/^\d{1,10}$/.test(value) && Number(value) <= MAX_AGE_LIMIT) result.maxAge = Number(value);
      else result.problems.push(`max_age "${clip(value)}" is not a number of seconds from 0 to ${MAX_AGE_LIMIT}`);
    }
  }
  if (result.version !== 'STSv1')
    result.problems.push(result.version === undefined ? 'no version: STSv1 line' : `version "${clip(result.version)}" is not STSv1`);
  if (result.mode === undefined) result.problems.push('no mode line');
  else if (!MODES.includes(result.mode as MtaStsMode)) result.problems.push(`mode "${clip(result.mode)}" is not enforce, testing or none`);
  if (!seen.has('max_age')) result.problems.push('no max_age line');
  if (result.mx.length === 0 && result.mode !== 'none') result.problems.push('no mx line (required unless mode is none)');
  return result;
}

/**
 * Why an `mx` pattern is not one senders can use, or null (RFC 8461 §3.2 and §4.1: a domain name, or
 * `*.` and a domain name, the wildcard standing for exactly one left-most label).
 */
export function mxPatternProblem(pattern: string): string | null {
  if (pattern !== pattern.trim()) return 'has spaces around it';
  if (pattern.endsWith('.')) return 'ends with a dot: write the name without it';
  if (isIP(pattern.replace(/^\[|\]$/g, '')) !== 0) return 'is an IP address; MTA-STS matches MX host names';
  const wildcard = pattern.startsWith('*.');
  const name = wildcard ? pattern.slice(2) : pattern;
  if (name.includes('*')) return 'has a * that is not the whole left-most label (*.example.net)';
  if (!/^[\x21-\x7e]+$/.test(name)) return 'is not ASCII: write an internationalised name in its xn-- form';
  const labels = name.split('.');
  if (labels.length < 2)
    return wildcard ? 'the wildcard must stand before a domain of two labels or more' : 'is not a fully qualified host name';
  for (const label of labels) {
    if (label === '') return 'has an empty label';
    if (label.length > 63) return `label "${label}" is longer than 63 characters`;
    if (!/^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$/.test(label)) return `label "${label}" is not letters, digits and inner hyphens`;
  }
  if (name.length > 253) return 'is longer than 253 characters';
  if (wildcard && getDomain(name, { allowPrivateDomains: true }) === null) return `matches every host under the public suffix ${name}`;
  return null;
}

/** Whether an MX host matches a pattern (RFC 8461 §4.1): equal, or `*.` plus exactly one more left-most label. */
export function mxMatches(host: string, pattern: string): boolean {
  const name = normaliseName(host);
  const want = pattern.toLowerCase();
  if (!want.startsWith('*.')) return name === want;
  const suffix = want.slice(1); // ".example.net"
  return name.endsWith(suffix) && !name.slice(0, -suffix.length).includes('.') && name.length > suffix.length;
}
