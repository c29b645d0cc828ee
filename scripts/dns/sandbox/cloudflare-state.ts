/**
 * The Cloudflare sandbox's data: zones and DNS records in memory, seeded from a zones file, and the
 * validation a record goes through on every write (create, overwrite, patch, batch, seed).
 *
 * Error codes are Cloudflare's where the real ones are known (see `CF_ERRORS`); each entry says
 * whether it was seen in real responses or is the sandbox's choice.
 */
import { createHash, randomBytes } from 'node:crypto';
import { classifyTxtContent, splitOverlongStrings, txtStrings } from './cloudflare-txt.ts';
import { inZone, normaliseName } from '../../lib/dns-name.ts';
import { parseIpv4 } from '../../lib/ip.ts';
import { utf8Length } from '../../lib/text.ts';

// ------------------------------------------------------------------------------------------------
// Errors

/** One entry of an envelope's `errors` array. */
export interface CloudflareErrorItem {
  code: number;
  message: string;
  error_chain?: { code: number; message: string }[];
  source?: { pointer: string };
}

/** A failure the handler turns into a `{ success: false, errors }` envelope with this status. */
export class SandboxApiError extends Error {
  readonly status: number;
  readonly errors: CloudflareErrorItem[];
  readonly headers: Record<string, string>;
  constructor(status: number, errors: CloudflareErrorItem[], headers: Record<string, string> = {}) {
    super(errors.map((error) => `${error.message} (${error.code})`).join('; '));
    this.name = 'SandboxApiError';
    this.status = status;
    this.errors = errors;
    this.headers = headers;
  }
}

/**
 * The codes the sandbox answers with. `seen`: in real Cloudflare responses, as quoted in public issue
 * threads (e.g. 81058 "An identical record already exists.", jeessy2/ddns-go#1378) or in the OpenAPI
 * schemas (https://github.com/cloudflare/api-schemas); `chosen`: the real code for this case is not
 * documented, so the sandbox picks one.
 */
export const CF_ERRORS = {
  /** seen: no credentials at all (400). */
  missingAuth: { code: 9106, message: 'Missing X-Auth-Key, X-Auth-Email or Authorization headers' },
  /** seen: 6003 with 6111 in its chain for a malformed Authorization header (400). */
  invalidHeaders: { code: 6003, message: 'Invalid request headers' },
  invalidAuthorizationFormat: { code: 6111, message: 'Invalid format for Authorization header' },
  /** seen: wrong or insufficient token (403). */
  authentication: { code: 10000, message: 'Authentication error' },
  /** seen: unknown path or object id (the pair together). */
  couldNotRoute: { code: 7003, message: '' },
  noRoute: { code: 7000, message: 'No route for that URI' },
  /** chosen: a method the path does not have (405). */
  methodNotAllowed: { code: 7001, message: 'Method not allowed for this path' },
  /** seen: unknown record id (404). */
  recordNotFound: { code: 81044, message: 'Record does not exist.' },
  /** seen: a create identical (name, type, content) to an existing record. */
  identicalRecord: { code: 81058, message: 'An identical record already exists.' },
  /** seen (message); chosen (when): an update that makes a record identical to another one. */
  recordExists: { code: 81057, message: 'Record already exists.' },
  /** chosen: a CNAME next to other records at one name, or the reverse. */
  cnameConflict: { code: 81053, message: 'An A, AAAA, or CNAME record with that host already exists.' },
  /** seen: the wrapper of field validation errors, with the detail in `error_chain`. */
  validation: { code: 1004, message: 'DNS Validation Error' },
  /** seen: name is invalid. */
  invalidName: { code: 9000, message: 'DNS name is invalid.' },
  /** seen (code; message updated to today's limits): TTL outside 1 | 60–86400. */
  invalidTtl: { code: 9021, message: 'Invalid TTL. Must be between 60 and 86400 seconds, or 1 for automatic.' },
  /** seen (code and message, for a control character in TXT content). */
  txtNotPrintable: { code: 9051, message: 'Invalid TXT record. Record may only contain printable ASCII!' },
  /** seen for A content; chosen for TXT content problems (unbalanced quotes, too long). */
  invalidContent: { code: 9005, message: 'Content for record is invalid.' },
  /** seen: more than 4096 octets of wire format. */
  wireTooLong: { code: 9015, message: 'Record content exceeds the allowed length of 4096 wire format bytes.' },
  /** seen (code): the TXT records at one name add up to more than 8192 characters. */
  combinedTooLong: {
    code: 83011,
    message: 'Combined content length of records with this name and type exceeds the maximum of 8192 characters.',
  },
  /** chosen: proxied=true on a type that cannot be proxied. */
  notProxiable: { code: 9004, message: 'This record type cannot be proxied.' },
  /** chosen: a body that is not JSON or not the expected shape. */
  invalidBody: { code: 9207, message: 'Request body is invalid.' },
  /** seen: rate limited (429, with retry-after). */
  rateLimited: { code: 971, message: 'Please wait and consider throttling your request speed' },
} as const;

function validationError(detail: { code: number; message: string }, pointer?: string): SandboxApiError {
  const error: CloudflareErrorItem = { ...CF_ERRORS.validation, error_chain: [{ ...detail }] };
  if (pointer !== undefined) error.source = { pointer };
  return new SandboxApiError(400, [error]);
}

function plainError(status: number, detail: { code: number; message: string }, pointer?: string): SandboxApiError {
  const error: CloudflareErrorItem = { ...detail };
  if (pointer !== undefined) error.source = { pointer };
  return new SandboxApiError(status, [error]);
}

// ------------------------------------------------------------------------------------------------
// State

/** A DNS record as the API returns it. */
export interface SandboxRecord {
  id: string;
  name: string;
  type: string;
  content: string;
  ttl: number;
  proxied: boolean;
  proxiable: boolean;
  priority?: number;
  comment: string | null;
  tags: string[];
  settings: Record<string, unknown>;
  meta: Record<string, unknown>;
  /** Structured data of SRV, CAA, … records, stored as sent. */
  data?: Record<string, unknown>;
  created_on: string;
  modified_on: string;
  comment_modified_on?: string;
  tags_modified_on?: string;
}

export interface SandboxZone {
  id: string;
  name: string;
  status: 'initializing' | 'pending' | 'active' | 'moved';
  account: { id: string; name: string };
  created_on: string;
  modified_on: string;
  /** In creation order, which is the order listings use unless `order` is given. */
  records: SandboxRecord[];
}

export interface CloudflareSandboxState {
  zones: SandboxZone[];
  /** Things the real dashboard would warn about (unquoted TXT content), newest last. */
  warnings: string[];
}

/** A record in a zones file: what you would POST, plus an optional fixed id. */
export interface RecordSeed {
  type: string;
  /** Fully qualified, relative to the zone, or `@`. */
  name: string;
  content?: string;
  ttl?: number;
  proxied?: boolean;
  priority?: number;
  comment?: string;
  tags?: string[];
  data?: Record<string, unknown>;
  id?: string;
}

export interface ZoneSeed {
  name: string;
  /** 32 hex digits; by default derived from the name, so it is the same on every start. */
  id?: string;
  status?: SandboxZone['status'];
  account?: { id?: string; name?: string };
  records?: RecordSeed[];
}

/**
 * The zones file of `dmarcops sandbox cloudflare --zones FILE`:
 * `{ "zones": [{ "name": "example.com", "records": [{ "type": "TXT", "name": "_dmarc.example.com",
 * "content": "\"v=DMARC1; p=none\"", "ttl": 3600 }, { "type": "MX", "name": "example.com",
 * "content": "mx.example.com", "priority": 10 }] }] }`.
 */
export interface ZonesFile {
  zones: ZoneSeed[];
}

export interface StateOptions {
  /** TXT character-strings over 255 octets: split them like the API says it does (default), or refuse (9005). */
  txtOverlongStrings?: 'split' | 'reject';
  now?: () => Date;
}

export const DEFAULT_ACCOUNT = { id: deterministicId('account:sandbox'), name: 'Sandbox account' };

export function createSandboxState(seeds: readonly ZoneSeed[], options: StateOptions = {}): CloudflareSandboxState {
  const state: CloudflareSandboxState = { zones: [], warnings: [] };
  for (const [index, seed] of seeds.entries()) addZone(state, seed, options, `zones[${index}]`);
  return state;
}

/** Add a zone and its records, validated like API writes; throws `SandboxApiError` naming the seed. */
export function addZone(state: CloudflareSandboxState, seed: ZoneSeed, options: StateOptions = {}, where = 'zone'): SandboxZone {
  const name = acceptedName(seed.name);
  if (name === undefined) throw new Error(`${where}.name: "${seed.name}" is not a domain name`);
  if (state.zones.some((zone) => zone.name === name)) throw new Error(`${where}.name: zone ${name} is given twice`);
  const id = seed.id ?? deterministicId(`zone:${name}`);
  if (!isIdentifier(id)) throw new Error(`${where}.id: a zone id is 32 lower-case hex digits, not "${id}"`);
  const now = (options.now ?? (() => new Date()))().toISOString();
  const zone: SandboxZone = {
    id,
    name,
    status: seed.status ?? 'active',
    account: { id: seed.account?.id ?? DEFAULT_ACCOUNT.id, name: seed.account?.name ?? DEFAULT_ACCOUNT.name },
    created_on: now,
    modified_on: now,
    records: [],
  };
  for (const [index, record] of (seed.records ?? []).entries()) {
    try {
      const created = buildRecord(zone, record as unknown as Record<string, unknown>, undefined, { ...options, warnings: state.warnings });
      if (record.id !== undefined) {
        if (!isIdentifier(record.id)) throw new Error(`id must be 32 lower-case hex digits, not "${record.id}"`);
        created.id = record.id;
      }
      checkConflicts(zone.records, created, 'create');
      zone.records.push(created);
    } catch (error) {
      const message = error instanceof SandboxApiError ? describeErrors(error.errors) : (error as Error).message;
      throw new Error(`${where}.records[${index}] (${record.type} ${record.name}): ${message}`, { cause: error });
    }
  }
  checkCombinedTxt(zone.records);
  state.zones.push(zone);
  return zone;
}

export function describeErrors(errors: readonly CloudflareErrorItem[]): string {
  return errors
    .map((error) => {
      const chain = (error.error_chain ?? []).map((item) => `${item.message} (${item.code})`).join('; ');
      return `${error.message} (${error.code})${chain === '' ? '' : `: ${chain}`}`;
    })
    .join('; ');
}

// ------------------------------------------------------------------------------------------------
// Names and ids

/** 32 lower-case hex digits, the shape of every Cloudflare identifier. */
export function isIdentifier(value: string): boolean {
  return /^[0-9a-f]{32}$/.test(value);
}

export function newIdentifier(): string {
  return randomBytes(16).toString('hex');
}

function deterministicId(seed: string): string {
  return createHash('sha256').update(seed).digest('hex').slice(0, 32);
}

/**
 * A name the API accepts, normalised: labels of letters, digits, `-` and `_`, a `*` only as the first
 * label (a wildcard record), at most 63 octets each and 253 in all; undefined when it is not one.
 */
export function acceptedName(name: string): string | undefined {
  const ascii = normaliseName(name);
  if (ascii === '' || ascii.length > 253) return undefined;
  const labels = ascii.split('.');
  const valid = labels.every(
    (label, index) => label.length > 0 && label.length <= 63 && (/^[a-z0-9_-]+$/.test(label) || (label === '*' && index === 0)),
  );
  return valid ? ascii : undefined;
}

/**
 * A record name as the API stores it: `@` is the apex, a trailing dot is dropped, and a name that
 * does not end in the zone is taken as relative to it (as Cloudflare does: `www` → `www.example.com`,
 * and `_dmarc.other.org` in zone example.com → `_dmarc.other.org.example.com`).
 */
export function recordName(name: string, zone: string): string | undefined {
  const trimmed = name.trim();
  if (trimmed === '@') return zone;
  const absolute = acceptedName(trimmed);
  if (absolute === undefined) return undefined;
  if (inZone(absolute, zone)) return absolute;
  return acceptedName(`${absolute}.${zone}`);
}

// ------------------------------------------------------------------------------------------------
// Record validation

const RECORD_TYPES = new Set([
  'A',
  'AAAA',
  'CAA',
  'CERT',
  'CNAME',
  'DNSKEY',
  'DS',
  'HTTPS',
  'LOC',
  'MX',
  'NAPTR',
  'NS',
  'OPENPGPKEY',
  'PTR',
  'SMIMEA',
  'SRV',
  'SSHFP',
  'SVCB',
  'TLSA',
  'TXT',
  'URI',
]);
const PROXIABLE = new Set(['A', 'AAAA', 'CNAME']);
const DATA_TYPES = new Set(['CAA', 'CERT', 'DNSKEY', 'DS', 'HTTPS', 'LOC', 'NAPTR', 'SMIMEA', 'SRV', 'SSHFP', 'SVCB', 'TLSA', 'URI']);

interface BuildOptions extends StateOptions {
  warnings?: string[];
  /** JSON pointer of the operation in a batch body, for `errors[].source`. */
  pointer?: string;
}

/**
 * Validate a write and return the record it makes. `existing` is the record a PUT replaces or a
 * PATCH merges into (`mode` says which); without it the body creates a record.
 */
export function buildRecord(
  zone: SandboxZone,
  body: Record<string, unknown>,
  existing: SandboxRecord | undefined,
  options: BuildOptions = {},
  mode: 'create' | 'put' | 'patch' = 'create',
): SandboxRecord {
  const pointer = options.pointer;
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw plainError(400, CF_ERRORS.invalidBody, pointer);
  const merged: Record<string, unknown> =
    mode === 'patch' && existing !== undefined ? { ...recordFields(existing), ...stripUndefined(body) } : body;

  const type = merged.type;
  if (typeof type !== 'string' || !RECORD_TYPES.has(type.toUpperCase())) {
    throw validationError(
      { code: CF_ERRORS.validation.code, message: `type ${JSON.stringify(type ?? null)} is not a DNS record type the API supports` },
      pointer,
    );
  }
  const upperType = type.toUpperCase();
  if (existing !== undefined && existing.type !== upperType) {
    throw validationError(
      {
        code: CF_ERRORS.validation.code,
        message: `the type of a record cannot be changed (${existing.type} → ${upperType}): delete it and create a new one`,
      },
      pointer,
    );
  }

  if (typeof merged.name !== 'string') throw validationError({ ...CF_ERRORS.invalidName }, pointer);
  const name = recordName(merged.name, zone.name);
  if (name === undefined) throw validationError({ ...CF_ERRORS.invalidName }, pointer);

  const ttl = merged.ttl ?? 1;
  if (typeof ttl !== 'number' || !Number.isInteger(ttl) || !(ttl === 1 || (ttl >= 60 && ttl <= 86400))) {
    throw validationError({ ...CF_ERRORS.invalidTtl }, pointer);
  }

  const proxied = merged.proxied ?? false;
  if (typeof proxied !== 'boolean') throw plainError(400, CF_ERRORS.invalidBody, pointer);
  if (proxied && !PROXIABLE.has(upperType)) throw plainError(400, CF_ERRORS.notProxiable, pointer);

  const comment = merged.comment ?? null;
  if (comment !== null && (typeof comment !== 'string' || /[\r\n]/.test(comment))) {
    throw validationError({ code: CF_ERRORS.validation.code, message: 'comment must be a string without line breaks' }, pointer);
  }
  const tags = merged.tags ?? [];
  if (!Array.isArray(tags) || !tags.every((tag) => typeof tag === 'string' && /^[A-Za-z0-9_-]+:/.test(tag))) {
    throw validationError(
      { code: CF_ERRORS.validation.code, message: 'tags must be strings of the form name:value (name: letters, digits, - and _)' },
      pointer,
    );
  }

  let content = merged.content;
  let data: Record<string, unknown> | undefined;
  if (DATA_TYPES.has(upperType) && merged.data !== undefined) {
    if (typeof merged.data !== 'object' || merged.data === null) throw plainError(400, CF_ERRORS.invalidBody, pointer);
    data = merged.data as Record<string, unknown>;
    if (content === undefined) content = Object.values(data).join(' ');
  }
  if (typeof content !== 'string') {
    throw plainError(400, { code: CF_ERRORS.invalidContent.code, message: `Content for ${upperType} record is invalid.` }, pointer);
  }
  const storedContent = validateContent(upperType, content, name, { ...options, pointer });

  let priority: number | undefined;
  if (upperType === 'MX' || upperType === 'URI' || merged.priority !== undefined) {
    const value = merged.priority;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 65535) {
      throw validationError({ code: CF_ERRORS.validation.code, message: `${upperType} records need a priority from 0 to 65535` }, pointer);
    }
    priority = value;
  }

  const now = (options.now ?? (() => new Date()))().toISOString();
  const record: SandboxRecord = {
    id: existing?.id ?? newIdentifier(),
    name,
    type: upperType,
    content: storedContent,
    ttl,
    proxied,
    proxiable: PROXIABLE.has(upperType),
    comment: comment as string | null,
    tags: [...(tags as string[])],
    settings: typeof merged.settings === 'object' && merged.settings !== null ? { ...(merged.settings as Record<string, unknown>) } : {},
    meta: {},
    created_on: existing?.created_on ?? now,
    modified_on: now,
  };
  if (priority !== undefined) record.priority = priority;
  if (data !== undefined) record.data = data;
  if (record.comment !== null)
    record.comment_modified_on = existing?.comment === record.comment ? (existing.comment_modified_on ?? now) : now;
  if (record.tags.length > 0)
    record.tags_modified_on = sameList(existing?.tags ?? [], record.tags) ? (existing?.tags_modified_on ?? now) : now;
  return record;
}

function validateContent(type: string, content: string, name: string, options: BuildOptions): string {
  const pointer = options.pointer;
  const invalid = (message: string) => plainError(400, { code: CF_ERRORS.invalidContent.code, message }, pointer);
  switch (type) {
    case 'A':
      if (parseIpv4(content) === -1) throw invalid('Content for A record must be a valid IPv4 address.');
      return content;
    case 'AAAA':
      if (!isIPv6(content)) throw invalid('Content for AAAA record must be a valid IPv6 address.');
      return content;
    case 'CNAME':
    case 'MX':
    case 'NS':
    case 'PTR': {
      const target = content === '.' && type === 'MX' ? '.' : acceptedName(content);
      if (target === undefined) throw invalid(`Content for ${type} record must be a valid hostname.`);
      return target;
    }
    case 'TXT':
      return validateTxt(content, name, options);
    default:
      if (content === '') throw invalid(`Content for ${type} record is invalid.`);
      return content;
  }
}

function validateTxt(content: string, name: string, options: BuildOptions): string {
  const pointer = options.pointer;
  const invalid = (message: string) => plainError(400, { code: CF_ERRORS.invalidContent.code, message }, pointer);
  if (content === '') throw invalid('Content for TXT record must not be empty.');
  if ([...content].length > 2048) throw invalid('Content for TXT record must be at most 2048 characters.');
  const parsed = classifyTxtContent(content);
  if (parsed.form === 'invalid') throw invalid(`Content for TXT record is invalid: inconsistent quotation marks (${parsed.reason}).`);
  const texts = parsed.form === 'quoted' ? parsed.strings.map((string) => string.text) : [parsed.text];
  if (texts.some((text) => /[\x00-\x08\x0a-\x1f\x7f]/.test(text))) throw validationError({ ...CF_ERRORS.txtNotPrintable }, pointer);
  let stored = content;
  if (parsed.form === 'quoted') {
    const overlong = parsed.strings.filter((string) => string.octets.length > 255);
    if (overlong.length > 0) {
      if (options.txtOverlongStrings === 'reject') {
        throw invalid(
          `Content for TXT record is invalid: a character-string is ${overlong[0]?.octets.length} bytes; each may have at most 255.`,
        );
      }
      stored = splitOverlongStrings(parsed.strings);
    }
  } else {
    options.warnings?.push(
      `${name}: TXT content is not in quotation marks; the dashboard warns about it ` +
        `(stored as sent): ${JSON.stringify(content.length > 60 ? `${content.slice(0, 57)}...` : content)}`,
    );
  }
  const wire = txtStrings(stored).reduce((sum, text) => sum + 1 + utf8Length(text), 0) + utf8Length(name) + 12;
  if (wire > 4096) throw plainError(400, CF_ERRORS.wireTooLong, pointer);
  return stored;
}

/**
 * 81058 when `candidate` would duplicate another record (same name, type and content; TXT compared
 * by the strings it publishes, so `"a"` and `a` are the same record); 81053 for CNAME conflicts.
 */
export function checkConflicts(
  records: readonly SandboxRecord[],
  candidate: SandboxRecord,
  mode: 'create' | 'update',
  pointer?: string,
): void {
  const others = records.filter((record) => record.id !== candidate.id && record.name === candidate.name);
  const key = contentKey(candidate);
  if (others.some((record) => record.type === candidate.type && contentKey(record) === key)) {
    throw plainError(400, mode === 'create' ? CF_ERRORS.identicalRecord : CF_ERRORS.recordExists, pointer);
  }
  const cname = candidate.type === 'CNAME' ? others.length > 0 : others.some((record) => record.type === 'CNAME');
  if (cname) throw plainError(400, CF_ERRORS.cnameConflict, pointer);
}

/** 83011 when the TXT records at one name add up to more than 8192 characters of content. */
export function checkCombinedTxt(records: readonly SandboxRecord[], pointer?: string): void {
  const totals = new Map<string, number>();
  for (const record of records) {
    if (record.type !== 'TXT') continue;
    totals.set(record.name, (totals.get(record.name) ?? 0) + txtStrings(record.content).join('').length);
  }
  for (const total of totals.values()) if (total > 8192) throw plainError(400, CF_ERRORS.combinedTooLong, pointer);
}

function contentKey(record: SandboxRecord): string {
  if (record.type === 'TXT') return JSON.stringify(txtStrings(record.content));
  return JSON.stringify([record.content.toLowerCase(), record.priority ?? null, record.data ?? null]);
}

function recordFields(record: SandboxRecord): Record<string, unknown> {
  const fields: Record<string, unknown> = {
    type: record.type,
    name: record.name,
    content: record.content,
    ttl: record.ttl,
    proxied: record.proxied,
    comment: record.comment,
    tags: record.tags,
    settings: record.settings,
  };
  if (record.priority !== undefined) fields.priority = record.priority;
  if (record.data !== undefined) fields.data = record.data;
  return fields;
}

function stripUndefined(body: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(body).filter(([, value]) => value !== undefined));
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((value, index) => value === b[index]);
}

function isIPv6(text: string): boolean {
  if (!/^[0-9a-fA-F:.]+$/.test(text) || !text.includes(':')) return false;
  try {
    return new URL(`http://[${text}]/`).hostname.length > 2;
  } catch {
    return false;
  }
}

/** The record as a JSON response carries it (a copy, so callers cannot change the state). */
export function recordView(record: SandboxRecord): SandboxRecord {
  return structuredClone(record);
}

export function zoneView(zone: SandboxZone): Record<string, unknown> {
  return {
    id: zone.id,
    name: zone.name,
    status: zone.status,
    paused: false,
    type: 'full',
    development_mode: 0,
    name_servers: ['ada.ns.cloudflare.com', 'bob.ns.cloudflare.com'],
    original_name_servers: null,
    original_registrar: null,
    original_dnshost: null,
    created_on: zone.created_on,
    modified_on: zone.modified_on,
    activated_on: zone.status === 'active' ? zone.created_on : null,
    meta: { step: 2, custom_certificate_quota: 0, page_rule_quota: 3, phishing_detected: false },
    owner: { id: null, type: 'user', email: null },
    account: { ...zone.account },
    tenant: { id: null, name: null },
    tenant_unit: { id: null },
    permissions: ['#dns_records:edit', '#dns_records:read', '#zone:read'],
    plan: {
      id: '0feeeeeeeeeeeeeeeeeeeeeeeeeeeeee',
      name: 'Free Website',
      price: 0,
      currency: 'USD',
      frequency: '',
      is_subscribed: false,
      can_subscribe: false,
      legacy_id: 'free',
      legacy_discount: false,
      externally_managed: false,
    },
  };
}
