/**
 * DMARC TXT records: format a `DmarcRecord` canonically, parse what is published (RFC 7489 and RFC 9989),
 * and derive the records dmarcops manages for a set of domains (splitting into TXT character-strings is
 * scripts/lib/dns-txt.ts).
 * Pure functions, no I/O.
 */

import type { AlignmentMode, Disposition, DmarcRecord, DomainPolicy, ManagedRecord, PsdFlag, ReportUri, SizeLimit } from './model.ts';
import { formatStsRecord, formatTlsRptRecord, mtaStsId } from './mtasts.ts';
import { compare, unique } from '../lib/collections.ts';
import { inZone, normaliseName, organizationalDomain, parseDomainName } from '../lib/dns-name.ts';

const utf8 = new TextEncoder();

// ------------------------------------------------------------------------------------------------
// Formatting

/** The order dmarcops writes tags in, after `v=DMARC1`. */
export const DMARC_TAG_ORDER = [
  'p',
  'sp',
  'np',
  'adkim',
  'aspf',
  'pct',
  't',
  'psd',
  'rua',
  'ruf',
  'fo',
  'rf',
  'ri',
] as const satisfies readonly (keyof DmarcRecord)[];

/**
 * The record as one logical TXT value: `v=DMARC1` first, then the tags that are set in `DMARC_TAG_ORDER`,
 * separated by "; " with no trailing semicolon. The same record always gives the same bytes.
 */
export function formatDmarcRecord(record: DmarcRecord): string {
  const parts = ['v=DMARC1'];
  for (const tag of DMARC_TAG_ORDER) {
    const value = formatTagValue(record[tag]);
    if (value !== undefined) parts.push(`${tag}=${value}`);
  }
  return parts.join('; ');
}

function formatTagValue(value: DmarcRecord[keyof DmarcRecord]): string | undefined {
  if (value === undefined) return undefined;
  if (Array.isArray(value)) {
    // `rua=` with nothing after it is a syntax error, so an empty list means "no tag".
    return value.length === 0 ? undefined : value.map(formatReportUri).join(',');
  }
  return String(value);
}

function formatReportUri(reportUri: ReportUri): string {
  const size = reportUri.size === undefined ? '' : `!${reportUri.size.raw}`;
  return escapeUriDelimiters(reportUri.uri) + size;
}

/**
 * Percent-encode what would end the URI, the tag or the record if left bare: `,` and `!` (RFC 7489 §6.2),
 * `;`, whitespace, and anything outside printable ASCII. Existing `%XX` escapes are left alone.
 */
function escapeUriDelimiters(uri: string): string {
  return uri.replace(/[,!;]|[^\x21-\x7e]/gu, (char) =>
    [...utf8.encode(char)].map((octet) => `%${octet.toString(16).toUpperCase().padStart(2, '0')}`).join(''),
  );
}

// ------------------------------------------------------------------------------------------------
// Parsing

/** One `tag=value` pair as found in a record: name lower-cased, value with surrounding whitespace removed. */
export interface RecordTag {
  tag: string;
  value: string;
}

export type RecordProblemCode =
  /** The value is empty: not a DMARC record. */
  | 'empty-record'
  /** The value does not start with a `v` tag (an SPF record, `p=` first, free text): not a DMARC record. */
  | 'version-missing'
  /** `v` comes first but is not exactly `DMARC1` (it is case-sensitive): not a DMARC record. */
  | 'version-invalid'
  /** `v=DMARC1` preceded by whitespace: receivers ignore the record. */
  | 'leading-whitespace'
  /** A piece between two `;` that is not `name=value` with an alphabetic name. */
  | 'malformed-tag'
  /** A tag given more than once; the first occurrence is used. */
  | 'duplicate-tag'
  /** A known tag whose value is outside its syntax; the tag is left out of `record`. */
  | 'invalid-value'
  /** A rua/ruf entry that is not a URI; it is left out of `record`. */
  | 'invalid-uri'
  /** A `!size` suffix that is not `<digits>[kmgt]`; the URI is kept with `bytes: null`. */
  | 'invalid-size'
  /** A `!size` suffix larger than an unsigned 64-bit integer; the URI is kept with `bytes: null`. */
  | 'size-overflow';

export interface RecordProblem {
  code: RecordProblemCode;
  message: string;
  /** The tag concerned, lower-cased, when there is one. */
  tag?: string;
  /** The offending value (the whole tag value, or one URI entry), as written. */
  value?: string;
}

export interface ParsedDmarcRecord {
  /** Whether receivers treat the value as a DMARC record at all (it starts with `v=DMARC1`). */
  isDmarc: boolean;
  /** The logical value: the character-strings concatenated with no separator (RFC 7489 §6.1). */
  text: string;
  /** What receivers read from it: valid tags only, keyword values lower-cased. Empty when `!isDmarc`. */
  record: DmarcRecord;
  /** Every tag in the order written, `v` and duplicates included. Empty when `!isDmarc`. */
  tags: RecordTag[];
  /** Tags DMARC does not define; receivers ignore them (not an error). */
  unknownTags: RecordTag[];
  /** Why the value is not DMARC, or what is wrong inside it. Never thrown. */
  problems: RecordProblem[];
}

const DISPOSITIONS: readonly Disposition[] = ['none', 'quarantine', 'reject'];
const ALIGNMENT_MODES: readonly AlignmentMode[] = ['r', 's'];
const PSD_FLAGS: readonly PsdFlag[] = ['y', 'n', 'u'];
const YES_NO: readonly ('y' | 'n')[] = ['y', 'n'];
const FAILURE_OPTIONS = ['0', '1', 'd', 's'];
const KNOWN_TAGS: ReadonlySet<string> = new Set(['v', ...DMARC_TAG_ORDER]);
const UINT32_MAX = 2 ** 32 - 1;
const UINT64_MAX = 2n ** 64n - 1n;
const SIZE_UNIT_SHIFT: Readonly<Record<string, bigint>> = { '': 0n, k: 10n, m: 20n, g: 30n, t: 40n };

/** Whether a TXT value (or its character-strings) is a DMARC record, i.e. starts with `v=DMARC1` per the RFC. */
export function isDmarcRecord(value: string | string[]): boolean {
  return versionProblem(joinCharacterStrings(value)) === undefined;
}

/**
 * Read a published record tolerantly: tag names and keywords in any case, whitespace around `;`, `=`
 * and `,`, a trailing `;`, unknown tags. Anything wrong is reported in `problems`, never thrown.
 */
export function parseDmarcRecord(input: string | string[]): ParsedDmarcRecord {
  const text = joinCharacterStrings(input);
  const notDmarc = versionProblem(text);
  if (notDmarc !== undefined) {
    return { isDmarc: false, text, record: {}, tags: [], unknownTags: [], problems: [notDmarc] };
  }

  const record: DmarcRecord = {};
  const tags: RecordTag[] = [];
  const unknownTags: RecordTag[] = [];
  const problems: RecordProblem[] = [];
  const seen = new Set<string>();
  const segments = text.split(';');

  segments.forEach((segment, index) => {
    const trimmed = trimWsp(segment);
    // Only the last piece may be empty: that is the optional trailing `;`.
    if (trimmed === '' && index === segments.length - 1) return;
    const equals = trimmed.indexOf('=');
    const name = trimWsp(trimmed.slice(0, Math.max(equals, 0))).toLowerCase();
    if (equals < 0 || !/^[a-z]+$/.test(name)) {
      const message = trimmed === '' ? 'empty tag between two ";"' : `"${trimmed}" is not a tag=value pair`;
      problems.push({ code: 'malformed-tag', value: trimmed, message });
      return;
    }
    const tag = { tag: name, value: trimWsp(trimmed.slice(equals + 1)) };
    tags.push(tag);
    if (seen.has(name)) {
      problems.push({
        code: 'duplicate-tag',
        tag: name,
        value: tag.value,
        message: `${name} is given more than once; the first value is used`,
      });
      return;
    }
    seen.add(name);
    if (KNOWN_TAGS.has(name)) readKnownTag(tag, record, problems);
    else unknownTags.push(tag);
  });

  return { isDmarc: true, text, record, tags, unknownTags, problems };
}

function joinCharacterStrings(input: string | string[]): string {
  return Array.isArray(input) ? input.join('') : input;
}

/** WSP in the RFC grammar is space and tab only. */
function trimWsp(text: string): string {
  return text.replace(/^[ \t]+|[ \t]+$/g, '');
}

/** Why the value is not a DMARC record, or nothing when it is. */
function versionProblem(text: string): RecordProblem | undefined {
  if (trimWsp(text) === '') return { code: 'empty-record', message: 'the TXT value is empty' };
  const first = text.split(';', 1)[0] ?? '';
  const equals = first.indexOf('=');
  if (equals < 0 || trimWsp(first.slice(0, equals)).toLowerCase() !== 'v') {
    return { code: 'version-missing', message: 'a DMARC record must start with v=DMARC1' };
  }
  const version = trimWsp(first.slice(equals + 1));
  if (version !== 'DMARC1') {
    return {
      code: 'version-invalid',
      tag: 'v',
      value: version,
      message: `v must be exactly "DMARC1" (case-sensitive), not "${version}"`,
    };
  }
  if (/^[ \t]/.test(text)) {
    return { code: 'leading-whitespace', message: 'the record starts with whitespace, so receivers ignore it' };
  }
  return undefined;
}

function readKnownTag({ tag, value }: RecordTag, record: DmarcRecord, problems: RecordProblem[]): void {
  const invalid = (expected: string): void => {
    problems.push({ code: 'invalid-value', tag, value, message: `${tag}="${value}" is not ${expected}` });
  };
  switch (tag) {
    case 'v':
      return; // checked by versionProblem
    case 'p':
    case 'sp':
    case 'np': {
      const disposition = keyword(value, DISPOSITIONS);
      if (disposition === undefined) invalid('none, quarantine or reject');
      else record[tag] = disposition;
      return;
    }
    case 'adkim':
    case 'aspf': {
      const mode = keyword(value, ALIGNMENT_MODES);
      if (mode === undefined) invalid('r or s');
      else record[tag] = mode;
      return;
    }
    case 't': {
      const flag = keyword(value, YES_NO);
      if (flag === undefined) invalid('y or n');
      else record.t = flag;
      return;
    }
    case 'psd': {
      const flag = keyword(value, PSD_FLAGS);
      if (flag === undefined) invalid('y, n or u');
      else record.psd = flag;
      return;
    }
    case 'pct':
      // The ABNF allows three digits; the prose limits it to a percentage.
      if (/^\d{1,3}$/.test(value) && Number(value) <= 100) record.pct = Number(value);
      else invalid('a whole number from 0 to 100');
      return;
    case 'ri':
      if (/^\d{1,10}$/.test(value) && Number(value) <= UINT32_MAX) record.ri = Number(value);
      else invalid('a number of seconds that fits in 32 bits');
      return;
    case 'fo': {
      const options = keywordList(value);
      if (options.every((option) => FAILURE_OPTIONS.includes(option))) record.fo = options.join(':');
      else invalid('a colon-separated list of 0, 1, d and s');
      return;
    }
    case 'rf': {
      const formats = keywordList(value);
      if (formats.every((format) => /^[a-z0-9-]*[a-z0-9]$/.test(format))) record.rf = formats.join(':');
      else invalid('a colon-separated list of report format names');
      return;
    }
    case 'rua':
    case 'ruf': {
      const uris = readUriList(tag, value, problems);
      if (uris.length > 0) record[tag] = uris;
      return;
    }
  }
}

function keyword<T extends string>(value: string, allowed: readonly T[]): T | undefined {
  const lower = value.toLowerCase();
  return allowed.find((candidate) => candidate === lower);
}

/** `a:b:c` with optional whitespace around the colons, lower-cased (keywords are case-insensitive). */
function keywordList(value: string): string[] {
  return value.toLowerCase().split(/[ \t]*:[ \t]*/);
}

function readUriList(tag: string, value: string, problems: RecordProblem[]): ReportUri[] {
  const uris: ReportUri[] = [];
  for (const entry of value.split(/[ \t]*,[ \t]*/)) {
    // A bare `!` cannot be part of the URI (it must be percent-encoded), so the first one starts the size.
    const bang = entry.indexOf('!');
    const uri = bang < 0 ? entry : entry.slice(0, bang);
    if (!/^[a-z][a-z0-9+.-]*:[\x21-\x7e]+$/i.test(uri)) {
      problems.push({ code: 'invalid-uri', tag, value: entry, message: `${tag} entry "${entry}" is not a URI` });
      continue;
    }
    if (bang < 0) {
      uris.push({ uri });
      continue;
    }
    const { limit, problem } = readSizeLimit(entry.slice(bang + 1));
    uris.push({ uri, size: limit });
    if (problem !== undefined) problems.push({ code: problem.code, tag, value: entry, message: problem.message });
  }
  return uris;
}

/** `<digits>[kmgt]`, units being powers of two (RFC 7489 §6.4); the result must fit in 64 bits. */
function readSizeLimit(raw: string): { limit: SizeLimit; problem?: Pick<RecordProblem, 'code' | 'message'> } {
  const match = /^(\d+)([kmgt]?)$/i.exec(raw);
  if (match === null) {
    const message = `size limit "!${raw}" is not <digits>[k|m|g|t]`;
    return { limit: { raw, bytes: null }, problem: { code: 'invalid-size', message } };
  }
  const shift = SIZE_UNIT_SHIFT[(match[2] ?? '').toLowerCase()] ?? 0n;
  const bytes = BigInt(match[1] ?? '0') << shift;
  if (bytes > UINT64_MAX) {
    const message = `size limit "!${raw}" does not fit in 64 bits`;
    return { limit: { raw, bytes: null }, problem: { code: 'size-overflow', message } };
  }
  return { limit: { raw, bytes } };
}

// ------------------------------------------------------------------------------------------------
// What dmarcops publishes

/**
 * The record dmarcops publishes for a domain: only what differs from the receivers' defaults, so the
 * record stays short and reads as a list of decisions. Failure reporting (ruf, fo, rf) is never published.
 */
export function policyRecord(policy: DomainPolicy): DmarcRecord {
  const record: DmarcRecord = { p: policy.p };
  const effectiveSp = policy.sp ?? policy.p;
  if (effectiveSp !== policy.p) record.sp = effectiveSp;
  if (policy.np !== undefined && policy.np !== effectiveSp) record.np = policy.np;
  if (policy.adkim === 's') record.adkim = 's';
  if (policy.aspf === 's') record.aspf = 's';
  if (policy.pct !== undefined && policy.pct !== 100) record.pct = policy.pct;
  if (policy.testing) record.t = 'y';
  if (policy.psd !== undefined && policy.psd !== 'u') record.psd = policy.psd;
  if (policy.rua.length > 0) record.rua = policy.rua.map((reportUri) => ({ ...reportUri }));
  if (policy.ri !== undefined && policy.ri !== 86400) record.ri = policy.ri;
  return record;
}

/** A rua host in another Organizational Domain, which must publish an authorisation (RFC 7489 §7.1). */
export interface ExternalReportDestination {
  /** The destination host, lower-case A-label, e.g. `dmarc.example.net`. */
  host: string;
  /** Where the authorisation goes: `<policy-domain>._report._dmarc.<host>`. */
  recordName: string;
  /** The rua URIs of the policy that report to this host. */
  uris: string[];
}

/**
 * The rua hosts of a policy whose Organizational Domain (ICANN section of the PSL) differs from the
 * policy domain's, whether or not dmarcops manages their zone.
 */
export function externalReportDestinations(policy: DomainPolicy): ExternalReportDestination[] {
  // A public suffix (a PSD's own policy, RFC 9091) stands for itself: it has no registrable part.
  const policyOrg = organizationalDomain(policy.domain) ?? policy.domain;
  const byHost = new Map<string, ExternalReportDestination>();
  for (const { uri } of policy.rua) {
    for (const host of reportUriHosts(uri)) {
      if ((organizationalDomain(host) ?? host) === policyOrg) continue;
      const destination = byHost.get(host);
      if (destination === undefined) {
        byHost.set(host, { host, recordName: `${policy.domain}._report._dmarc.${host}`, uris: [uri] });
      } else if (!destination.uris.includes(uri)) {
        destination.uris.push(uri);
      }
    }
  }
  return [...byHost.values()];
}

/**
 * The destination hosts of a report URI, lower-case A-labels: the domain of each address of a `mailto:`
 * (which has no authority, RFC 7489 §7.1 step 1), else the URI's host. IP literals and junk give nothing.
 */
export function reportUriHosts(uri: string): string[] {
  const colon = uri.indexOf(':');
  const scheme = uri.slice(0, Math.max(colon, 0)).toLowerCase();
  let candidates: string[];
  if (scheme === 'mailto') {
    const addresses = percentDecode(uri.slice(colon + 1).split('?')[0] ?? '').split(',');
    candidates = addresses.filter((address) => address.includes('@')).map((address) => address.slice(address.lastIndexOf('@') + 1));
  } else {
    candidates = URL.canParse(uri) ? [new URL(uri).hostname] : [];
  }
  return unique(candidates.flatMap((candidate) => domainNameOrNothing(candidate.trim())));
}

function percentDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text; // a stray `%` that is not an escape: take the text as written
  }
}

/** The host as a checked domain name, or nothing for IP literals and junk (a report is never sent there). */
function domainNameOrNothing(host: string): string[] {
  try {
    return [parseDomainName(host)];
  } catch {
    return [];
  }
}

/**
 * Every DNS record dmarcops manages for these policies: each domain's `_dmarc` TXT, its `_mta-sts` TXT
 * (with `mta_sts`) and `_smtp._tls` TXT (with `tls_reports`) in the same zone, plus the
 * `_report._dmarc` authorisations for external rua hosts that lie in a zone one of the policies manages.
 * Duplicates are dropped and the result is sorted by zone, then name.
 */
export function managedRecords(policies: DomainPolicy[]): ManagedRecord[] {
  const records: ManagedRecord[] = [];
  for (const policy of policies) {
    records.push({
      zone: policy.dns.zone,
      name: `_dmarc.${policy.domain}`,
      type: 'TXT',
      ttl: policy.dns.ttl,
      values: [formatDmarcRecord(policyRecord(policy))],
      provider: policy.dns.provider,
      purpose: 'policy',
      domain: policy.domain,
    });
    // In the zone of the domain's own _dmarc record: the same parent holds all three names.
    const ownRecord = (name: string, value: string, purpose: ManagedRecord['purpose']): ManagedRecord => ({
      zone: policy.dns.zone,
      name,
      type: 'TXT',
      ttl: policy.dns.ttl,
      values: [value],
      provider: policy.dns.provider,
      purpose,
      domain: policy.domain,
    });
    if (policy.mtaSts !== undefined)
      records.push(ownRecord(`_mta-sts.${policy.domain}`, formatStsRecord(mtaStsId(policy.mtaSts)), 'mta-sts'));
    if (policy.tlsRpt !== undefined && policy.tlsRpt.length > 0)
      records.push(ownRecord(`_smtp._tls.${policy.domain}`, formatTlsRptRecord(policy.tlsRpt), 'tls-rpt'));
    for (const destination of externalReportDestinations(policy)) {
      const manager = zoneManager(destination.host, policies);
      if (manager === undefined) continue; // the linter warns about unmanaged destinations
      records.push({
        zone: manager.dns.zone,
        name: destination.recordName,
        type: 'TXT',
        ttl: manager.dns.ttl,
        values: ['v=DMARC1'],
        provider: manager.dns.provider,
        purpose: 'report-authorization',
        domain: policy.domain,
      });
    }
  }
  const unique = new Map(records.map((record) => [JSON.stringify(record), record]));
  return [...unique.entries()]
    .sort(([keyA, a], [keyB, b]) => compare(a.zone, b.zone) || compare(a.name, b.name) || compare(keyA, keyB))
    .map(([, record]) => record);
}

/** The policy whose zone holds `host`; with nested zones the most specific one wins. */
function zoneManager(host: string, policies: DomainPolicy[]): DomainPolicy | undefined {
  let best: { policy: DomainPolicy; zone: string } | undefined;
  for (const policy of policies) {
    const zone = normaliseName(policy.dns.zone);
    if (inZone(host, zone) && (best === undefined || zone.length > best.zone.length)) best = { policy, zone };
  }
  return best?.policy;
}
