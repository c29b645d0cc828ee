/**
 * The Cloudflare provider: reads and writes the TXT records dmarcops owns through the official
 * `cloudflare` SDK (API v4).
 *
 * - Client: `apiToken` from `CLOUDFLARE_API_TOKEN` (required, never printed), `baseURL` from
 *   `CLOUDFLARE_BASE_URL` when set (the sandbox, tests), the SDK's retries (429, 408, 409, 5xx,
 *   connection errors; `retry-after` honoured, else exponential backoff 0.5 s → 8 s) with a larger
 *   budget than the SDK's default 2, and a pinned `api-version`.
 * - Reading: the zone id by name (once per zone per provider instance), then ONE filtered listing
 *   per zone (`type=TXT` plus a name filter covering every name asked), paged by the SDK.
 * - Writing: ONE `POST /zones/{id}/dns_records/batch` per zone (deletes → patches → posts), so a
 *   zone's changes land together or not at all. Only the records a change owns are touched: those
 *   in `current` at the change's name whose values are in `change.before`. Other TXT values at the
 *   name (SPF, verification tokens) are never in `before`, so they are never sent.
 * - TXT content is written quoted, split into character-strings of at most 255 octets at tag
 *   boundaries (`splitCharacterStrings`), `"` and `\` escaped; it is read in either form (quoted
 *   strings, or legacy unquoted content) into `value` (joined) and `strings`.
 */
import Cloudflare, { APIConnectionError, APIConnectionTimeoutError, APIError, APIUserAbortError } from 'cloudflare';
import type { BatchPatchParam, RecordBatchParams, RecordListParams, TXTRecordParam } from 'cloudflare/resources/dns/records';
import { DmarcopsError } from '../../lib/errors.ts';
import type { ErrorCode } from '../../lib/errors.ts';
import type { DnsProviderName } from '../../policy/model.ts';
import { decodeTxtStrings, parseTxtContent, quoteCharacterString, splitCharacterStrings, splitOctets } from '../../lib/dns-txt.ts';
import type { DnsProvider, RecordChange, TxtRecord } from '../types.ts';
import { plural } from '../../lib/text.ts';
import { inZone, normaliseName } from '../../lib/dns-name.ts';

/** The API behaviour the provider was written against (`api-version` header); the SDK would send today's date. */
export const CLOUDFLARE_API_VERSION = '2026-06-01';

/** What Cloudflare serves for `ttl: 1` ("automatic"). */
export const CLOUDFLARE_AUTO_TTL = 300;

export interface CloudflareProviderOptions {
  /** Default: `env.CLOUDFLARE_API_TOKEN`. */
  apiToken?: string;
  /** Default: `env.CLOUDFLARE_BASE_URL`, else the SDK's `https://api.cloudflare.com/client/v4`. */
  baseURL?: string;
  /** Restrict zone lookups to one account (default: `env.CLOUDFLARE_ACCOUNT_ID`, else every account the token sees). */
  accountId?: string;
  /** Retries per request for 429, 5xx, 408, 409 and connection errors (default 5; the SDK's own default is 2). */
  maxRetries?: number;
  /** Per attempt, in milliseconds (default 60 000). */
  timeoutMs?: number;
  /** Records per listing page (default 100, the API's default). */
  perPage?: number;
  /** Operations per batch request (default 200, the Free plan's limit). A zone with more is sent in several batches. */
  batchLimit?: number;
  /** A `fetch` to use instead of the global one (the in-process sandbox). */
  fetch?: (input: string | URL | Request, init?: RequestInit) => Promise<Response>;
  /** Where the defaults above are read from (default `process.env`). */
  env?: Readonly<Record<string, string | undefined>>;
}

/** One Cloudflare error as the envelope gives it, `error_chain` flattened in. */
export interface ProviderErrorDetail {
  code: number;
  message: string;
}

/** The codes of docs/errors.md a provider failure can have. */
export type DnsProviderErrorCode = Extract<ErrorCode, `dns-${string}`>;

/** Cloudflare's codes for a token it does not accept (missing, malformed, or invalid). */
const AUTH_CODES = new Set([10000, 9106, 6003]);

/**
 * A provider failure with what is needed to act on it; the message never contains credentials. Its
 * code says what kind of failure it is: given, or told from the HTTP status and Cloudflare's codes.
 */
export class DnsProviderError extends DmarcopsError {
  declare readonly code: DnsProviderErrorCode;
  readonly provider: DnsProviderName;
  readonly zone: string | undefined;
  /** HTTP status of the failed response; undefined when there was none (connection, timeout, configuration). */
  readonly status: number | undefined;
  /** Cloudflare's error codes, outer errors first, then their `error_chain`. */
  readonly codes: number[];
  readonly errors: ProviderErrorDetail[];
  constructor(
    message: string,
    details: {
      provider: DnsProviderName;
      zone?: string;
      status?: number;
      errors?: ProviderErrorDetail[];
      cause?: unknown;
      code?: DnsProviderErrorCode;
    },
  ) {
    super(details.code ?? providerErrorCode(details.status, details.errors ?? []), message, {
      ...(details.cause === undefined ? {} : { cause: details.cause }),
      ...(details.zone === undefined ? {} : { location: { source: `${details.provider} zone ${details.zone}` } }),
    });
    this.name = 'DnsProviderError';
    this.provider = details.provider;
    this.zone = details.zone;
    this.status = details.status;
    this.errors = details.errors ?? [];
    this.codes = this.errors.map((error) => error.code);
  }
}

function providerErrorCode(status: number | undefined, errors: readonly ProviderErrorDetail[]): DnsProviderErrorCode {
  if (status === 401 || status === 403 || errors.some((error) => AUTH_CODES.has(error.code))) return 'dns-provider-auth';
  if (status === 404) return 'dns-zone-not-found';
  return 'dns-provider-failed';
}

export function createCloudflareProvider(options: CloudflareProviderOptions = {}): CloudflareProvider {
  return new CloudflareProvider(options);
}

/**
 * The factory `providers/index.ts` loads: settings from the environment only (CLOUDFLARE_API_TOKEN,
 * CLOUDFLARE_BASE_URL, CLOUDFLARE_ACCOUNT_ID). Throws a sentence naming CLOUDFLARE_API_TOKEN when it is missing.
 */
export function providerFromEnv(env: Readonly<Record<string, string | undefined>> = process.env): CloudflareProvider {
  return createCloudflareProvider({ env });
}

export class CloudflareProvider implements DnsProvider {
  readonly name = 'cloudflare' as const;
  readonly client: Cloudflare;
  readonly baseURL: string;
  readonly #accountId: string | undefined;
  readonly #perPage: number;
  readonly #batchLimit: number;
  readonly #zoneIds = new Map<string, Promise<string>>();

  constructor(options: CloudflareProviderOptions = {}) {
    const env = options.env ?? process.env;
    const apiToken = options.apiToken ?? nonEmpty(env.CLOUDFLARE_API_TOKEN);
    if (apiToken === undefined) {
      throw new DnsProviderError(
        'cloudflare: CLOUDFLARE_API_TOKEN is not set. Create an API token with Zone:Read ' +
          'and DNS:Edit (DNS:Read is enough for plan) and export it as CLOUDFLARE_API_TOKEN.',
        { provider: 'cloudflare', code: 'dns-provider-config' },
      );
    }
    const baseURL = options.baseURL ?? nonEmpty(env.CLOUDFLARE_BASE_URL);
    this.#accountId = options.accountId ?? nonEmpty(env.CLOUDFLARE_ACCOUNT_ID);
    this.#perPage = options.perPage ?? 100;
    this.#batchLimit = options.batchLimit ?? 200;
    this.client = new Cloudflare({
      apiToken,
      // Only the token: never pick up a global API key or e-mail from the environment as well.
      apiKey: null,
      apiEmail: null,
      userServiceKey: null,
      baseURL: baseURL ?? null,
      maxRetries: options.maxRetries ?? 5,
      timeout: options.timeoutMs ?? 60_000,
      apiVersion: CLOUDFLARE_API_VERSION,
      ...(options.fetch === undefined ? {} : { fetch: options.fetch }),
    });
    this.baseURL = this.client.baseURL;
  }

  /** The zone's id, looked up by name once per provider instance. */
  zoneId(zone: string): Promise<string> {
    const name = normaliseName(zone);
    let id = this.#zoneIds.get(name);
    if (id === undefined) {
      id = this.#lookupZone(name);
      this.#zoneIds.set(name, id);
      // A failed lookup is not cached: the next call asks again.
      id.catch(() => this.#zoneIds.delete(name));
    }
    return id;
  }

  async #lookupZone(zone: string): Promise<string> {
    const query = { name: zone, per_page: 50, ...(this.#accountId === undefined ? {} : { account: { id: this.#accountId } }) };
    // One page: an exact name matches at most one zone per account.
    const page = await this.#call(zone, 'looking up the zone', () => this.client.zones.list(query));
    const matches = page.result.filter((candidate) => normaliseName(candidate.name) === zone);
    if (matches.length === 0) {
      const scope = this.#accountId === undefined ? 'any account this token can read' : `account ${this.#accountId}`;
      throw new DnsProviderError(
        `cloudflare zone ${zone}: not found in ${scope} (check the zone name, or give the token Zone:Read on it)`,
        {
          provider: 'cloudflare',
          zone,
          status: 404,
        },
      );
    }
    if (matches.length > 1) {
      const accounts = matches.map((match) => match.account.id ?? '?').join(', ');
      throw new DnsProviderError(
        `cloudflare zone ${zone}: ${matches.length} zones have this name (accounts ${accounts}); set CLOUDFLARE_ACCOUNT_ID`,
        {
          provider: 'cloudflare',
          zone,
          code: 'dns-zone-ambiguous',
        },
      );
    }
    return matches[0]?.id ?? '';
  }

  async listTxt(zone: string, names: readonly string[]): Promise<TxtRecord[]> {
    const zoneName = normaliseName(zone);
    const wanted = new Set(names.map(normaliseName));
    if (wanted.size === 0) return [];
    const zoneId = await this.zoneId(zoneName);
    const params: RecordListParams = { zone_id: zoneId, type: 'TXT', per_page: this.#perPage, ...nameFilter([...wanted]) };

    const records: TxtRecord[] = [];
    // The SDK's `for await` asks for pages until one comes back empty; stopping at `total_pages`
    // saves that last request per zone (the rate limit is 1200 requests per 5 minutes).
    let page = await this.#call(zoneName, 'listing TXT records', () => this.client.dns.records.list(params));
    for (;;) {
      for (const record of page.result) {
        const name = normaliseName(record.name);
        if (record.type !== 'TXT' || !wanted.has(name)) continue;
        const { value, strings } = decodeCloudflareTxt(record.content ?? '');
        records.push({ name, ttl: record.ttl === 1 ? CLOUDFLARE_AUTO_TTL : record.ttl, value, strings, id: record.id });
      }
      // `total_pages` is in every list envelope, though the SDK's type leaves it out.
      const info = page.result_info as { page?: number; total_pages?: number };
      const last = page.result.length === 0 || (info.total_pages !== undefined && (info.page ?? 1) >= info.total_pages);
      if (last || !page.hasNextPage()) break;
      const current = page;
      page = await this.#call(zoneName, 'listing TXT records', () => current.getNextPage());
    }
    return records;
  }

  async applyZone(zone: string, changes: readonly RecordChange[], current: readonly TxtRecord[]): Promise<void> {
    const zoneName = normaliseName(zone);
    const ops = batchOperations(zoneName, changes, current);
    const total = ops.deletes.length + ops.patches.length + ops.posts.length;
    if (total === 0) return;
    const zoneId = await this.zoneId(zoneName);
    for (const chunk of chunkOperations(ops, this.#batchLimit)) {
      const params: RecordBatchParams = { zone_id: zoneId };
      if (chunk.deletes.length > 0) params.deletes = chunk.deletes;
      if (chunk.patches.length > 0) params.patches = chunk.patches;
      if (chunk.posts.length > 0) params.posts = chunk.posts;
      await this.#call(zoneName, `applying ${describeOps(chunk)}`, () => this.client.dns.records.batch(params));
    }
  }

  /** Run one SDK call, turning its errors into `DnsProviderError`s. */
  async #call<T>(zone: string, what: string, call: () => PromiseLike<T>): Promise<T> {
    try {
      return await call();
    } catch (error) {
      throw toProviderError(error, zone, what, this.baseURL);
    }
  }
}

// ------------------------------------------------------------------------------------------------
// Listing

/**
 * The narrowest filter one request can use for all the names: `name.exact` for one name,
 * `name.contains=_dmarc` when every name has it (all DMARC names do), else none (all TXT records).
 */
export function nameFilter(names: readonly string[]): Pick<RecordListParams, 'name'> {
  if (names.length === 1) return { name: { exact: names[0] ?? '' } };
  if (names.length > 1 && names.every((name) => name.includes('_dmarc'))) return { name: { contains: '_dmarc' } };
  return {};
}

// ------------------------------------------------------------------------------------------------
// Applying

type PostOp = TXTRecordParam;
type PatchOp = BatchPatchParam.TXTRecord;

export interface BatchOperations {
  deletes: { id: string }[];
  patches: PatchOp[];
  posts: PostOp[];
}

/**
 * The batch operations for one zone's changes. For each change, the owned records are the ones in
 * `current` at its name whose values make up `change.before` (one record per value); `current`
 * records that are not in `before` (other TXT at `_dmarc`) are never touched. Owned records already
 * holding a wanted value with the wanted TTL stay as they are; the others are patched to the
 * remaining wanted values by id; extra owned records are deleted; missing values are posted.
 */
export function batchOperations(zone: string, changes: readonly RecordChange[], current: readonly TxtRecord[]): BatchOperations {
  const ops: BatchOperations = { deletes: [], patches: [], posts: [] };
  const used = new Set<TxtRecord>();
  for (const change of changes) {
    const name = normaliseName(change.name);
    if (change.type !== 'TXT') throw invalidChange(zone, change, `only TXT changes are supported, not ${String(change.type)}`);
    if (change.provider !== 'cloudflare') throw invalidChange(zone, change, `the change is for provider ${change.provider}`);
    if (normaliseName(change.zone) !== zone) throw invalidChange(zone, change, `the change is for zone ${change.zone}`);
    if (!inZone(name, zone)) throw invalidChange(zone, change, `${name} is not in zone ${zone}`);

    const atName = current.filter((record) => normaliseName(record.name) === name && !used.has(record));
    const owned: TxtRecord[] = [];
    for (const value of change.before ?? []) {
      const record = atName.find((candidate) => candidate.value === value && !owned.includes(candidate));
      if (record === undefined)
        throw invalidChange(
          zone,
          change,
          `the record ${JSON.stringify(value)} is not in the current listing: the plan is out of date, plan again`,
          'dns-zone-changed',
        );
      if (record.id === undefined) throw invalidChange(zone, change, `the record ${JSON.stringify(value)} has no Cloudflare id`);
      owned.push(record);
      used.add(record);
    }

    const after = change.action === 'delete' ? [] : [...(change.after ?? [])];
    if (change.action !== 'delete' && change.ttlAfter === null) throw invalidChange(zone, change, 'ttlAfter is missing');
    const ttl = change.ttlAfter ?? CLOUDFLARE_AUTO_TTL;

    // 1. Records that already say what is wanted: untouched, or only their TTL patched.
    let spare = [...owned];
    const unplaced: string[] = [];
    for (const value of after) {
      const same = spare.find((record) => record.value === value && record.ttl === ttl) ?? spare.find((record) => record.value === value);
      if (same === undefined) {
        unplaced.push(value);
        continue;
      }
      spare = spare.filter((record) => record !== same);
      if (same.ttl !== ttl) ops.patches.push(patchOp(same.id ?? '', name, value, ttl));
    }
    // 2. The remaining wanted values overwrite the remaining owned records, by id.
    for (const value of unplaced) {
      const record = spare.shift();
      if (record === undefined) ops.posts.push({ type: 'TXT', name, content: encodeCloudflareTxt(value), ttl });
      else ops.patches.push(patchOp(record.id ?? '', name, value, ttl));
    }
    // 3. Owned records left over (duplicates, a deletion) go.
    for (const record of spare) ops.deletes.push({ id: record.id ?? '' });
  }
  return ops;
}

function patchOp(id: string, name: string, value: string, ttl: number): PatchOp {
  return { id, type: 'TXT', name, content: encodeCloudflareTxt(value), ttl };
}

/**
 * Split the operations into batches of at most `limit`, in the API's own order (deletes first), so
 * a zone within the limit is one transaction; a larger one is several, each all-or-nothing.
 */
export function chunkOperations(ops: BatchOperations, limit: number): BatchOperations[] {
  if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`batchLimit must be a positive integer, not ${limit}`);
  const queue = [
    ...ops.deletes.map((op) => ({ kind: 'deletes' as const, op })),
    ...ops.patches.map((op) => ({ kind: 'patches' as const, op })),
    ...ops.posts.map((op) => ({ kind: 'posts' as const, op })),
  ];
  const chunks: BatchOperations[] = [];
  for (let start = 0; start < queue.length; start += limit) {
    const chunk: BatchOperations = { deletes: [], patches: [], posts: [] };
    for (const item of queue.slice(start, start + limit)) {
      if (item.kind === 'deletes') chunk.deletes.push(item.op);
      else if (item.kind === 'patches') chunk.patches.push(item.op);
      else chunk.posts.push(item.op);
    }
    chunks.push(chunk);
  }
  return chunks;
}

function describeOps(ops: BatchOperations): string {
  const parts = [
    ops.deletes.length > 0 ? plural(ops.deletes.length, 'delete') : '',
    ops.patches.length > 0 ? plural(ops.patches.length, 'update') : '',
    ops.posts.length > 0 ? plural(ops.posts.length, 'create') : '',
  ].filter((part) => part !== '');
  return `a batch of ${parts.join(', ')}`;
}

function invalidChange(
  zone: string,
  change: RecordChange,
  message: string,
  code: DnsProviderErrorCode = 'dns-provider-failed',
): DnsProviderError {
  return new DnsProviderError(`cloudflare zone ${zone}: cannot ${change.action} ${change.name}: ${message}`, {
    provider: 'cloudflare',
    zone,
    code,
  });
}

// ------------------------------------------------------------------------------------------------
// TXT content

/**
 * The `content` to send for a logical TXT value: RFC 1035 quoted character-strings of at most 255
 * octets each, split after `;` so no tag is cut, `"` and `\` escaped, separated by a space.
 */
export function encodeCloudflareTxt(value: string): string {
  return splitCharacterStrings(value, 255).map(quoteCharacterString).join(' ');
}

/**
 * Read `content` back: when it starts and ends with `"`, as quoted character-strings (`\"`, `\\`,
 * `\DDD` decoded); otherwise as legacy unquoted content taken literally (DNSControl's rule), published
 * in 255-octet pieces. Content that starts and ends with quotes but does not parse is taken literally too.
 */
export function decodeCloudflareTxt(content: string): { value: string; strings: string[] } {
  const trimmed = content.trim();
  if (trimmed.length >= 2 && trimmed.startsWith('"') && trimmed.endsWith('"')) {
    const parsed = parseTxtContent(trimmed);
    if (!('invalid' in parsed)) return decodeTxtStrings(parsed.strings);
  }
  return { value: content, strings: decodeTxtStrings(splitOctets(utf8.encode(content), 255)).strings };
}

const utf8 = new TextEncoder();

// ------------------------------------------------------------------------------------------------
// Errors

/** An SDK error (or anything else thrown by a call) as a `DnsProviderError` for `zone`. */
export function toProviderError(error: unknown, zone: string, what: string, baseURL: string): DnsProviderError {
  if (error instanceof DnsProviderError) return error;
  const prefix = `cloudflare zone ${zone}: ${what} failed`;
  if (error instanceof APIConnectionTimeoutError) {
    return new DnsProviderError(`${prefix}: the Cloudflare API at ${baseURL} did not answer in time (after retries)`, {
      provider: 'cloudflare',
      zone,
      cause: error,
    });
  }
  if (error instanceof APIUserAbortError) {
    return new DnsProviderError(`${prefix}: aborted`, { provider: 'cloudflare', zone, cause: error });
  }
  if (error instanceof APIConnectionError) {
    return new DnsProviderError(`${prefix}: cannot reach the Cloudflare API at ${baseURL} (after retries)`, {
      provider: 'cloudflare',
      zone,
      cause: error,
    });
  }
  if (error instanceof APIError) {
    const errors = flattenErrors(error.errors);
    const status = typeof error.status === 'number' ? error.status : undefined;
    const detail =
      errors.length > 0 ? errors.map((item) => `${item.message} (${item.code})`).join('; ') : 'no Cloudflare error in the response body';
    return new DnsProviderError(`${prefix}: HTTP ${status ?? '?'}: ${detail}${hint(status, errors)}`, {
      provider: 'cloudflare',
      zone,
      ...(status === undefined ? {} : { status }),
      errors,
      cause: error,
    });
  }
  const message = error instanceof Error ? error.message : String(error);
  return new DnsProviderError(`${prefix}: ${message}`, { provider: 'cloudflare', zone, cause: error });
}

function flattenErrors(raw: readonly unknown[]): ProviderErrorDetail[] {
  const out: ProviderErrorDetail[] = [];
  const visit = (item: unknown): void => {
    if (typeof item !== 'object' || item === null) return;
    const record = item as { code?: unknown; message?: unknown; error_chain?: unknown };
    if (typeof record.code === 'number') out.push({ code: record.code, message: typeof record.message === 'string' ? record.message : '' });
    if (Array.isArray(record.error_chain)) record.error_chain.forEach(visit);
  };
  raw.forEach(visit);
  return out;
}

function hint(status: number | undefined, errors: readonly ProviderErrorDetail[]): string {
  const codes = new Set(errors.map((error) => error.code));
  if ([...AUTH_CODES].some((code) => codes.has(code))) {
    return ' (check CLOUDFLARE_API_TOKEN: it needs Zone:Read and DNS:Read, plus DNS:Edit to apply)';
  }
  if (status === 429 || codes.has(971)) return ' (rate limited: Cloudflare allows 1200 requests per 5 minutes per token; try again later)';
  return '';
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}
