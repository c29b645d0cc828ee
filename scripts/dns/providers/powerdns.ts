/**
 * PowerDNS Authoritative through its HTTP API (`/api/v1`), with Node's fetch and no dependencies.
 *
 * - `listTxt`: one `GET /servers/{id}/zones/{zone}` per call; the TXT RRsets at the names asked for are
 *   parsed from PowerDNS's presentation format (`"a" "b"`, `\"`, `\\`, `\DDD`) into `strings` and the
 *   joined `value`. Disabled records are not served, so they are not listed.
 * - `applyZone`: PowerDNS changes whole RRsets (name + type), so each change becomes one RRset in ONE
 *   `PATCH` per zone, which PowerDNS applies in one transaction (all or nothing). The RRset is REPLACEd
 *   with the wanted records plus every record there that is not ours, copied byte for byte (content and
 *   `disabled` flag); when nothing is left it is DELETEd. Values are written as quoted
 *   character-strings of at most 255 octets (`splitCharacterStrings` + `formatZoneFileTxt`).
 *
 * Which records at a name are ours: the change's `before` values plus any record of the name's kind
 * (`v=DMARC1`, `v=STSv1` at `_mta-sts`, `v=TLSRPTv1` at `_smtp._tls`: see owned.ts).
 * Because PowerDNS keeps content as it was written (not normalised) and has `disabled` records that
 * `listTxt` does not return, `applyZone` reads the zone once more before the PATCH instead of
 * rebuilding the kept records from `current`. That read also guards against a stale plan: when the
 * records we own at a name are neither the change's `before` (not applied yet) nor its `after`
 * (applied already: that name is skipped), nothing is written and the error says what changed.
 *
 * The SOA serial is bumped by PowerDNS itself according to the zone's SOA-EDIT-API (for example
 * `DEFAULT`); this provider never edits the SOA. The API key is sent in `X-API-Key` and never appears
 * in an error message.
 */
import { decodeTxtStrings, formatZoneFileTxt, parseTxtContent, splitCharacterStrings } from '../../lib/dns-txt.ts';
import { DmarcopsError } from '../../lib/errors.ts';
import { isOwnedValue, KIND_LABEL, recordKind } from '../owned.ts';
import type { DnsProvider, RecordChange, TxtRecord } from '../types.ts';
import { clip, plural } from '../../lib/text.ts';
import { sameMultiset } from '../../lib/collections.ts';
import { inZone, normaliseName } from '../../lib/dns-name.ts';

export interface PowerDnsConfig {
  /** The API's base URL, e.g. `http://127.0.0.1:8081` (a trailing `/api/v1` is accepted too). */
  apiUrl: string;
  apiKey: string;
  /** PowerDNS's server id; `localhost` for an Authoritative server. */
  serverId: string;
}

export interface PowerDnsProviderOptions extends PowerDnsConfig {
  /** Replaces the global fetch (tests count requests with it). */
  fetch?: typeof fetch;
  /** Per request (default 30 s). */
  timeoutMs?: number;
}

/**
 * An HTTP error answered by the PowerDNS API. The message carries the status and PowerDNS's `error`;
 * the code: the key refused (401, 403), no such zone (404), or another failure.
 */
export class PowerDnsApiError extends DmarcopsError {
  readonly status: number;
  readonly method: string;
  readonly path: string;
  /** PowerDNS's `error` text (or the body when it is not JSON). */
  readonly detail: string;

  constructor(message: string, details: { status: number; method: string; path: string; detail: string }) {
    const { status } = details;
    super(status === 401 || status === 403 ? 'dns-provider-auth' : status === 404 ? 'dns-zone-not-found' : 'dns-provider-failed', message);
    this.name = 'PowerDnsApiError';
    this.status = details.status;
    this.method = details.method;
    this.path = details.path;
    this.detail = details.detail;
  }
}

const DEFAULT_TIMEOUT_MS = 30_000;

// ------------------------------------------------------------------------------------------------
// Configuration

/**
 * The provider's settings from the environment: `PDNS_API_URL`, `PDNS_API_KEY` (required) and
 * `PDNS_SERVER_ID` (default `localhost`). The error names the missing variables, never a value.
 */
export function powerDnsConfigFromEnv(env: Readonly<Record<string, string | undefined>> = process.env): PowerDnsConfig {
  const apiUrl = env.PDNS_API_URL?.trim() ?? '';
  const apiKey = env.PDNS_API_KEY?.trim() ?? '';
  const missing = [apiUrl === '' ? 'PDNS_API_URL' : undefined, apiKey === '' ? 'PDNS_API_KEY' : undefined].filter(
    (name): name is string => name !== undefined,
  );
  if (missing.length > 0) {
    throw new DmarcopsError(
      'dns-provider-config',
      `PowerDNS provider: missing environment variable${missing.length === 1 ? '' : 's'} ${missing.join(' and ')} ` +
        '(PDNS_API_URL is the API base URL such as http://127.0.0.1:8081, PDNS_API_KEY its api-key; PDNS_SERVER_ID defaults to localhost)',
    );
  }
  apiBase(apiUrl); // fail early on a malformed URL
  const serverId = env.PDNS_SERVER_ID?.trim() || 'localhost';
  return { apiUrl, apiKey, serverId };
}

/** For `providers/index.ts`: the provider configured from the environment. */
export function providerFromEnv(env: Readonly<Record<string, string | undefined>> = process.env): DnsProvider {
  return createPowerDnsProvider(powerDnsConfigFromEnv(env));
}

/** `http://host:8081/api/v1/` → `http://host:8081/api/v1`; refuses anything but http(s) and credentials in the URL. */
function apiBase(apiUrl: string): { base: string; shown: string } {
  let url: URL;
  try {
    url = new URL(apiUrl);
  } catch {
    throw new DmarcopsError(
      'dns-provider-config',
      `PowerDNS provider: PDNS_API_URL is not a URL (expected something like http://127.0.0.1:8081)`,
    );
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new DmarcopsError('dns-provider-config', `PowerDNS provider: PDNS_API_URL must be http:// or https://, not ${url.protocol}`);
  }
  if (url.username !== '' || url.password !== '') {
    throw new DmarcopsError(
      'dns-provider-config',
      'PowerDNS provider: PDNS_API_URL must not contain credentials; put the key in PDNS_API_KEY',
    );
  }
  const path = url.pathname.replace(/\/+$/, '').replace(/\/api\/v1$/, '');
  return { base: `${url.origin}${path}/api/v1`, shown: url.origin };
}

// ------------------------------------------------------------------------------------------------
// The provider

interface ApiRecord {
  content: string;
  disabled: boolean;
}

interface ApiRrset {
  name: string;
  type: string;
  ttl: number;
  records: ApiRecord[];
}

interface ApiZone {
  name: string;
  rrsets: ApiRrset[];
}

type PatchRrset =
  | { name: string; type: 'TXT'; ttl: number; changetype: 'REPLACE'; records: ApiRecord[] }
  | { name: string; type: 'TXT'; changetype: 'DELETE' };

export function createPowerDnsProvider(options: PowerDnsProviderOptions): DnsProvider {
  const { apiKey } = options;
  if (typeof apiKey !== 'string' || apiKey === '')
    throw new DmarcopsError('dns-provider-config', 'PowerDNS provider: the API key is empty');
  const serverId = options.serverId || 'localhost';
  const { base, shown } = apiBase(options.apiUrl);
  const fetchImpl = options.fetch ?? fetch;
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const serverPath = `/servers/${encodeURIComponent(serverId)}`;

  async function call(method: 'GET' | 'PATCH', path: string, what: string, body?: unknown): Promise<unknown> {
    const headers: Record<string, string> = { 'X-API-Key': apiKey, Accept: 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    let response: Response;
    try {
      response = await fetchImpl(`${base}${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (error) {
      const cause = error as Error & { cause?: { code?: string; message?: string } };
      const reason =
        cause.name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : (cause.cause?.code ?? cause.cause?.message ?? cause.message);
      throw new DmarcopsError('dns-provider-failed', `PowerDNS API at ${shown}: ${what} failed: ${redact(reason, apiKey)}`, {
        cause: error,
      });
    }
    const text = await response.text();
    if (!response.ok) {
      const detail = redact(errorText(text), apiKey);
      const hint =
        response.status === 401 || response.status === 403
          ? ' (check PDNS_API_KEY; the key is not shown)'
          : response.status === 404
            ? ` (is the zone on PowerDNS server ${serverId}? check PDNS_SERVER_ID and the zone name)`
            : '';
      throw new PowerDnsApiError(
        `PowerDNS API at ${shown}: ${what} failed: HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ''}` +
          `${detail === '' ? '' : `: ${detail}`}${hint}`,
        { status: response.status, method, path, detail },
      );
    }
    if (text.trim() === '') return undefined;
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw new DmarcopsError('dns-provider-failed', `PowerDNS API at ${shown}: ${what}: the answer is not JSON`);
    }
  }

  async function getZone(zone: string): Promise<ApiZone> {
    const answer = await call('GET', `${serverPath}/zones/${powerDnsZoneId(zone)}`, `reading zone ${zone}`);
    return checkZone(answer, zone);
  }

  // One zone written at a time per server: PowerDNS on gsqlite3 (the packaged default) answers
  // concurrent PATCHes to different zones with HTTP 500 "database is locked" (SQLITE_BUSY).
  let writing: Promise<unknown> = Promise.resolve();
  function serially<T>(task: () => Promise<T>): Promise<T> {
    const result = writing.then(task, task);
    writing = result.catch(() => undefined);
    return result;
  }

  return {
    name: 'powerdns',

    async listTxt(zoneName, names) {
      const zone = normaliseName(zoneName);
      if (zone === '') throw new Error('PowerDNS provider: empty zone name');
      if (names.length === 0) return [];
      const wanted = new Set(names.map(normaliseName));
      const records: TxtRecord[] = [];
      for (const rrset of (await getZone(zone)).rrsets) {
        const name = normaliseName(rrset.name);
        if (rrset.type !== 'TXT' || !wanted.has(name)) continue;
        for (const record of rrset.records) {
          if (record.disabled) continue;
          const { strings, value } = readTxtContent(record.content);
          records.push({ name, ttl: rrset.ttl, value, strings });
        }
      }
      return records;
    },

    applyZone(zoneName, changes, _current) {
      return serially(() => applyZoneNow(zoneName, changes));
    },
  };

  async function applyZoneNow(zoneName: string, changes: readonly RecordChange[]): Promise<void> {
    const zone = normaliseName(zoneName);
    if (zone === '') throw new Error('PowerDNS provider: empty zone name');
    if (changes.length === 0) return;
    checkChanges(zone, changes);

    // Read again: the kept records must go back exactly as stored (see the module comment).
    const live = await getZone(zone);
    const liveTxt = new Map<string, ApiRrset>();
    for (const rrset of live.rrsets) if (rrset.type === 'TXT') liveTxt.set(normaliseName(rrset.name), rrset);

    const rrsets: PatchRrset[] = [];
    const drift: string[] = [];
    for (const change of changes) {
      const name = normaliseName(change.name);
      const result = rrsetFor(change, name, liveTxt.get(name));
      if (result.drift !== undefined) drift.push(result.drift);
      else if (result.rrset !== undefined) rrsets.push(result.rrset);
    }
    if (drift.length > 0) {
      throw new DmarcopsError(
        'dns-zone-changed',
        `PowerDNS zone ${zone} changed since it was planned, nothing written: ${drift.join('; ')}; plan again`,
      );
    }
    if (rrsets.length === 0) return; // everything is already as wanted
    await call('PATCH', `${serverPath}/zones/${powerDnsZoneId(zone)}`, `updating zone ${zone} (${plural(rrsets.length, 'RRset')})`, {
      rrsets,
    });
  }
}

function checkChanges(zone: string, changes: readonly RecordChange[]): void {
  const seen = new Set<string>();
  for (const change of changes) {
    const name = normaliseName(change.name);
    if (normaliseName(change.zone) !== zone)
      throw new Error(`PowerDNS provider: change for ${name} is in zone ${change.zone}, not ${zone}`);
    if (change.type !== 'TXT') throw new Error(`PowerDNS provider: only TXT changes are supported, not ${String(change.type)} at ${name}`);
    if (!inZone(name, zone)) throw new Error(`PowerDNS provider: ${name} is not in zone ${zone}`);
    if (seen.has(name)) throw new Error(`PowerDNS provider: two changes for ${name} in one apply`);
    seen.add(name);
  }
}

/** The PATCH entry for one change, nothing when the name already holds what is wanted, or why the plan is stale. */
function rrsetFor(change: RecordChange, name: string, live: ApiRrset | undefined): { rrset?: PatchRrset; drift?: string } {
  const before = change.before ?? [];
  const after = change.action === 'delete' ? [] : (change.after ?? []);
  const listed = new Set(before);
  const owned: string[] = [];
  const kept: ApiRecord[] = [];
  for (const record of live?.records ?? []) {
    if (record.disabled) {
      kept.push(record); // not served, so nobody's record in DNS terms: leave it as it is
      continue;
    }
    const { value } = readTxtContent(record.content);
    if (listed.has(value) || isOwnedValue(name, value)) owned.push(value);
    else kept.push(record);
  }

  const ttlAfter = change.ttlAfter ?? live?.ttl;
  if (!sameMultiset(owned, before)) {
    if (sameMultiset(owned, after) && (after.length === 0 || ttlAfter === live?.ttl)) return {}; // applied already
    return { drift: `${name} holds ${describe(owned, name)}, the plan expected ${describe(before, name)}` };
  }

  const records: ApiRecord[] = [];
  const contents = new Set<string>();
  for (const value of after) {
    const content = formatTxtContent(value);
    if (contents.has(content)) continue; // PowerDNS refuses duplicate records in an RRset
    contents.add(content);
    records.push({ content, disabled: false });
  }
  for (const record of kept) {
    if (contents.has(record.content)) continue;
    contents.add(record.content);
    records.push(record);
  }

  const fqdn = `${name}.`;
  if (records.length === 0) return live === undefined ? {} : { rrset: { name: fqdn, type: 'TXT', changetype: 'DELETE' } };
  const ttl = after.length > 0 ? change.ttlAfter : live?.ttl;
  if (ttl === undefined || ttl === null || !Number.isInteger(ttl) || ttl < 0) {
    throw new Error(`PowerDNS provider: no valid TTL for ${name} (ttlAfter is ${String(change.ttlAfter)})`);
  }
  return { rrset: { name: fqdn, type: 'TXT', ttl, changetype: 'REPLACE', records } };
}

function describe(values: readonly string[], name: string): string {
  return values.length === 0 ? `no ${KIND_LABEL[recordKind(name)]} record` : values.map((value) => JSON.stringify(value)).join(', ');
}

function checkZone(answer: unknown, zone: string): ApiZone {
  const candidate = answer as Partial<ApiZone> | undefined;
  if (typeof candidate !== 'object' || candidate === null || !Array.isArray(candidate.rrsets)) {
    throw new DmarcopsError('dns-provider-failed', `PowerDNS API: the answer for zone ${zone} has no rrsets`);
  }
  for (const rrset of candidate.rrsets) {
    if (typeof rrset?.name !== 'string' || typeof rrset.type !== 'string' || !Array.isArray(rrset.records)) {
      throw new DmarcopsError('dns-provider-failed', `PowerDNS API: zone ${zone} has an RRset without name, type or records`);
    }
  }
  return candidate as ApiZone;
}

// ------------------------------------------------------------------------------------------------
// Helpers (exported for tests)

/**
 * PowerDNS's zone id for a zone name (its `apiZoneNameToId`): the name with a trailing dot, and every
 * character other than letters, digits, `.` and `-` as `=XX`. Safe to put in a URL path as is.
 */
export function powerDnsZoneId(zone: string): string {
  const name = `${normaliseName(zone)}.`;
  let id = '';
  for (const octet of new TextEncoder().encode(name)) {
    const char = String.fromCharCode(octet);
    id += /[A-Za-z0-9.-]/.test(char) ? char : `=${octet.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return id;
}

/** A logical TXT value as PowerDNS content: quoted character-strings of at most 255 octets, escaped. */
export function formatTxtContent(value: string): string {
  return formatZoneFileTxt(splitCharacterStrings(value));
}

/**
 * PowerDNS TXT content (zone-file presentation, quoted strings and bare words) → its character-strings
 * and the joined value (`parseTxtContent` + `decodeTxtStrings`). PowerDNS writes only well-formed
 * content; anything else (hand-made through another path) is taken as one literal string, as it reads.
 */
export function readTxtContent(content: string): { strings: string[]; value: string } {
  const parsed = parseTxtContent(content, { bareWords: true });
  return 'invalid' in parsed ? { strings: [content], value: content } : decodeTxtStrings(parsed.strings);
}

function errorText(body: string): string {
  try {
    const parsed = JSON.parse(body) as { error?: unknown; errors?: unknown };
    if (typeof parsed.error === 'string') {
      const more = Array.isArray(parsed.errors)
        ? parsed.errors.filter((item): item is string => typeof item === 'string' && item !== parsed.error)
        : [];
      return [parsed.error, ...more].join('; ');
    }
  } catch {
    // not JSON: PowerDNS answers some errors (401, 404) as plain text
  }
  const text = body.trim().replace(/\s+/g, ' ');
  return clip(text, 300);
}

function redact(text: string, secret: string): string {
  return secret === '' ? text : text.split(secret).join('***');
}
