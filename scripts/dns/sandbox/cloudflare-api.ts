/**
 * A Cloudflare API v4 sandbox: the part of the API dmarcops uses (zones, DNS records, the batch
 * endpoint), in memory, answering like the real service does through the official `cloudflare` SDK.
 *
 * - `createCloudflareApi(options)`: a pure `(Request) => Promise<Response>` handler plus a `fetch`
 *   for `new Cloudflare({ fetch, baseURL: 'http://sandbox.invalid/client/v4' })`, in process.
 * - `startCloudflareSandbox(options)`: the same handler behind `node:http` on 127.0.0.1, for the CLI
 *   and end-to-end tests (`CLOUDFLARE_BASE_URL=<baseURL>`).
 * - `runCloudflareSandboxCommand(options)`: `dmarcops sandbox cloudflare --port 8787 --zones FILE`.
 *
 * The contract followed, from Cloudflare's API reference
 * (https://developers.cloudflare.com/api/resources/dns/subresources/records/), its OpenAPI schemas
 * (https://github.com/cloudflare/api-schemas) and the official SDK (cloudflare-typescript:
 * src/client.ts, src/core/pagination.ts): paths under `/client/v4`; `Authorization:
 * Bearer <token>`; envelopes `{ success, errors, messages, result[, result_info] }`, every failure a
 * 4xx/5xx (never 200 with success:false); page-number pagination that answers `result: []` past the
 * end (the SDK's `for await` stops on an empty page); the batch endpoint runs deletes → patches →
 * puts → posts on a copy of the zone and commits only if every operation succeeds; TXT content in
 * quoted strings of at most 255 octets (longer ones split, unquoted content stored as sent).
 */
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve as resolvePath } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DmarcopsError, EXIT } from '../../lib/errors.ts';
import { plural } from '../../lib/text.ts';
import { compare, isPlainObject } from '../../lib/collections.ts';
import {
  CF_ERRORS,
  SandboxApiError,
  buildRecord,
  checkCombinedTxt,
  checkConflicts,
  createSandboxState,
  recordView,
  zoneView,
} from './cloudflare-state.ts';
import type { CloudflareSandboxState, RecordSeed, SandboxRecord, SandboxZone, StateOptions, ZoneSeed } from './cloudflare-state.ts';

export { CF_ERRORS, SandboxApiError } from './cloudflare-state.ts';
export type {
  CloudflareErrorItem,
  CloudflareSandboxState,
  RecordSeed,
  SandboxRecord,
  SandboxZone,
  ZoneSeed,
  ZonesFile,
} from './cloudflare-state.ts';

/** The path prefix of the API; the SDK's `baseURL` must end with it. */
export const API_PREFIX = '/client/v4';

// ------------------------------------------------------------------------------------------------
// Options, faults and the request log

/**
 * A scripted failure. Rules are checked in order for each request; a rule counts the requests it
 * matches, lets the first `skip` through and answers the next `times` (default 1) with its fault.
 */
export interface CloudflareFault {
  /**
   * `rate-limit`: 429 with `retry-after` and Cloudflare's 971 error; `server-error`: a 5xx (HTML body,
   * as an edge error page); `reset`: the connection is dropped without an answer; `delay`: the
   * request waits `delayMs`, then is answered normally (for client timeouts).
   */
  kind: 'rate-limit' | 'server-error' | 'reset' | 'delay';
  /** For `server-error`: 500 (default), 502, 503 or 504. */
  status?: number;
  /** For `rate-limit`: the `retry-after` header in seconds (default 1; fractions are sent as written). */
  retryAfter?: number;
  /** For `delay`. */
  delayMs?: number;
  times?: number;
  skip?: number;
  /** Only requests with this method (any case). */
  method?: string;
  /** Only requests whose path below `/client/v4` starts with this string or matches this pattern. */
  path?: string | RegExp;
  /** Sends `x-should-retry: true|false`, which the SDK obeys over its own rules. */
  shouldRetry?: boolean;
}

export interface CloudflareSandboxOptions extends StateOptions {
  zones?: readonly ZoneSeed[];
  /** The API token requests must carry; a random 40-character one by default. */
  token?: string;
  /** Tokens that may read but not write (403, code 10000, on any write): a plan-only CI token. */
  readOnlyTokens?: readonly string[];
  /** Added to every request before it is answered. */
  latencyMs?: number;
  faults?: readonly CloudflareFault[];
  /** Operations allowed in one batch request: 200 on Free plans (default), 3500 on paid plans. */
  batchLimit?: number;
  /** A real rate limiter: at most `requests` per `windowMs` (Cloudflare: 1200 per 300 000 ms), then 429. */
  rateLimit?: { requests: number; windowMs: number };
}

/** One request as the sandbox saw it; the credentials are redacted. */
export interface SandboxRequestLog {
  seq: number;
  at: string;
  method: string;
  /** Below `/client/v4`, e.g. `/zones/<id>/dns_records`. */
  path: string;
  /** The raw query string, `?` included when not empty. */
  search: string;
  query: Record<string, string>;
  headers: Record<string, string>;
  body: unknown;
  status: number;
  /** The fault that answered it, if any. */
  fault?: CloudflareFault['kind'];
  durationMs: number;
}

export type SandboxFetch = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

export interface CloudflareSandboxApi {
  /** The handler: a `Request` in, a `Response` out. A `reset` fault rejects (as a dropped connection does). */
  handle(request: Request): Promise<Response>;
  /** `handle` as a `fetch`, honouring `init.signal`, for the SDK's `fetch` option. */
  fetch: SandboxFetch;
  token: string;
  state: CloudflareSandboxState;
  requests: SandboxRequestLog[];
  /** Add fault rules at run time (after the ones given in the options). */
  inject(...faults: CloudflareFault[]): void;
  clearFaults(): void;
  /** A copy of a zone's records, by zone name. */
  records(zone: string): SandboxRecord[];
}

interface FaultRule {
  fault: CloudflareFault;
  seen: number;
}

const JSON_HEADERS = { 'content-type': 'application/json' };

// ------------------------------------------------------------------------------------------------
// The handler

export function createCloudflareApi(options: CloudflareSandboxOptions = {}): CloudflareSandboxApi {
  const token = options.token ?? randomBytes(30).toString('base64url');
  const readOnly = new Set(options.readOnlyTokens ?? []);
  const state = createSandboxState(options.zones ?? [], options);
  const requests: SandboxRequestLog[] = [];
  const rules: FaultRule[] = (options.faults ?? []).map((fault) => ({ fault, seen: 0 }));
  const batchLimit = options.batchLimit ?? 200;
  const now = options.now ?? (() => new Date());
  const recordOptions: StateOptions = {
    now,
    ...(options.txtOverlongStrings === undefined ? {} : { txtOverlongStrings: options.txtOverlongStrings }),
  };
  const hits: number[] = [];
  let seq = 0;

  async function handle(request: Request): Promise<Response> {
    const started = performance.now();
    const url = new URL(request.url);
    const path = url.pathname.startsWith(API_PREFIX) ? url.pathname.slice(API_PREFIX.length) || '/' : url.pathname;
    const bodyText = request.method === 'GET' || request.method === 'HEAD' ? '' : await request.text();
    const entry: SandboxRequestLog = {
      seq: ++seq,
      at: now().toISOString(),
      method: request.method,
      path,
      search: url.search,
      query: Object.fromEntries(url.searchParams),
      headers: redactHeaders(request.headers),
      body: parseBodyForLog(bodyText),
      status: 0,
      durationMs: 0,
    };
    requests.push(entry);
    const finish = (response: Response): Response => {
      entry.status = response.status;
      entry.durationMs = Math.round(performance.now() - started);
      return response;
    };

    if (options.latencyMs !== undefined && options.latencyMs > 0) await sleep(options.latencyMs);

    const fault = nextFault(rules, request.method, path);
    if (fault !== undefined) {
      entry.fault = fault.kind;
      if (fault.kind === 'delay') {
        await sleep(fault.delayMs ?? 1000);
      } else if (fault.kind === 'reset') {
        entry.durationMs = Math.round(performance.now() - started);
        throw new TypeError('fetch failed', { cause: new Error('Cloudflare sandbox: connection reset (injected fault)') });
      } else {
        return finish(faultResponse(fault));
      }
    }

    const limited = rateLimited();
    if (limited !== undefined) return finish(limited);

    try {
      authorize(request, readOnly, token);
      const result = await route(request.method, path, url.searchParams, bodyText);
      return finish(
        json(200, {
          success: true,
          errors: [],
          messages: [],
          result: result.result,
          ...(result.result_info ? { result_info: result.result_info } : {}),
        }),
      );
    } catch (error) {
      if (error instanceof SandboxApiError) {
        return finish(json(error.status, { success: false, errors: error.errors, messages: [], result: null }, error.headers));
      }
      const message = error instanceof Error ? error.message : String(error);
      return finish(
        json(500, {
          success: false,
          errors: [{ code: 10001, message: `Internal error in the sandbox: ${message}` }],
          messages: [],
          result: null,
        }),
      );
    }
  }

  function rateLimited(): Response | undefined {
    const limit = options.rateLimit;
    if (limit === undefined) return undefined;
    const time = Date.now();
    while (hits.length > 0 && (hits[0] ?? 0) <= time - limit.windowMs) hits.shift();
    if (hits.length >= limit.requests) {
      const retryAfter = Math.max(1, Math.ceil(((hits[0] ?? time) + limit.windowMs - time) / 1000));
      return json(
        429,
        { success: false, errors: [{ ...CF_ERRORS.rateLimited }], messages: [], result: null },
        { 'retry-after': String(retryAfter) },
      );
    }
    hits.push(time);
    return undefined;
  }

  async function route(method: string, path: string, query: URLSearchParams, bodyText: string): Promise<RouteResult> {
    const parts = path.split('/').filter((part) => part !== '');
    if (parts[0] !== 'zones') throw noRoute(path);
    if (parts.length === 1) {
      if (method !== 'GET') throw methodNotAllowed(method);
      return listZones(state.zones, query);
    }
    const zone = state.zones.find((candidate) => candidate.id === parts[1]);
    if (zone === undefined) throw noRoute(path);
    if (parts.length === 2) {
      if (method !== 'GET') throw methodNotAllowed(method);
      return { result: zoneView(zone) };
    }
    if (parts[2] !== 'dns_records') throw noRoute(path);
    if (parts.length === 3) {
      if (method === 'GET') return listRecords(zone.records, query);
      if (method === 'POST') return { result: createRecord(zone, parseBody(bodyText)) };
      throw methodNotAllowed(method);
    }
    if (parts.length === 4 && parts[3] === 'batch') {
      if (method !== 'POST') throw methodNotAllowed(method);
      return { result: batch(zone, parseBody(bodyText)) };
    }
    if (parts.length !== 4) throw noRoute(path);
    const id = parts[3] ?? '';
    switch (method) {
      case 'GET':
        return { result: recordView(findRecord(zone.records, id)) };
      case 'PUT':
      case 'PATCH':
        return { result: updateRecord(zone, id, parseBody(bodyText), method === 'PUT' ? 'put' : 'patch') };
      case 'DELETE': {
        const record = findRecord(zone.records, id);
        zone.records = zone.records.filter((candidate) => candidate.id !== record.id);
        return { result: { id: record.id } };
      }
      default:
        throw methodNotAllowed(method);
    }
  }

  function createRecord(zone: SandboxZone, body: Record<string, unknown>): SandboxRecord {
    const warnings: string[] = [];
    const record = buildRecord(zone, body, undefined, { ...recordOptions, warnings }, 'create');
    checkConflicts(zone.records, record, 'create');
    const records = [...zone.records, record];
    checkCombinedTxt(records);
    zone.records = records;
    state.warnings.push(...warnings);
    return recordView(record);
  }

  function updateRecord(zone: SandboxZone, id: string, body: Record<string, unknown>, mode: 'put' | 'patch'): SandboxRecord {
    const existing = findRecord(zone.records, id);
    const warnings: string[] = [];
    const record = buildRecord(zone, body, existing, { ...recordOptions, warnings }, mode);
    checkConflicts(zone.records, record, 'update');
    const records = zone.records.map((candidate) => (candidate.id === id ? record : candidate));
    checkCombinedTxt(records);
    zone.records = records;
    state.warnings.push(...warnings);
    return recordView(record);
  }

  /** deletes → patches → puts → posts, on a copy; committed only when every operation succeeded. */
  function batch(zone: SandboxZone, body: Record<string, unknown>): Record<string, SandboxRecord[]> {
    const lists = {} as Record<BatchKey, Record<string, unknown>[]>;
    let total = 0;
    for (const key of BATCH_ORDER) {
      const value = body[key];
      if (value === undefined || value === null) continue;
      if (!Array.isArray(value) || !value.every((op) => typeof op === 'object' && op !== null && !Array.isArray(op))) {
        throw new SandboxApiError(400, [{ ...CF_ERRORS.invalidBody, source: { pointer: `/${key}` } }]);
      }
      lists[key] = value as Record<string, unknown>[];
      total += value.length;
    }
    if (total > batchLimit) {
      throw new SandboxApiError(400, [
        {
          ...CF_ERRORS.validation,
          error_chain: [
            { code: CF_ERRORS.validation.code, message: `A batch may hold at most ${batchLimit} operations; this one has ${total}.` },
          ],
        },
      ]);
    }

    let records = zone.records.map((record) => structuredClone(record));
    const warnings: string[] = [];
    const result: Record<string, SandboxRecord[]> = {};
    for (const key of BATCH_ORDER) {
      const ops = lists[key];
      if (ops === undefined) continue;
      const done: SandboxRecord[] = (result[key] = []);
      ops.forEach((op, index) => {
        const pointer = `/${key}/${index}`;
        if (key === 'posts') {
          const record = buildRecord(zone, op, undefined, { ...recordOptions, warnings, pointer }, 'create');
          checkConflicts(records, record, 'create', pointer);
          records.push(record);
          done.push(recordView(record));
          return;
        }
        const id = typeof op.id === 'string' ? op.id : '';
        const existing = records.find((record) => record.id === id);
        if (existing === undefined) throw new SandboxApiError(404, [{ ...CF_ERRORS.recordNotFound, source: { pointer: `${pointer}/id` } }]);
        if (key === 'deletes') {
          records = records.filter((record) => record.id !== id);
          done.push(recordView(existing));
          return;
        }
        const { id: _ignored, ...fields } = op;
        const record = buildRecord(zone, fields, existing, { ...recordOptions, warnings, pointer }, key === 'puts' ? 'put' : 'patch');
        checkConflicts(records, record, 'update', pointer);
        records = records.map((candidate) => (candidate.id === id ? record : candidate));
        done.push(recordView(record));
      });
    }
    checkCombinedTxt(records);
    zone.records = records;
    state.warnings.push(...warnings);
    return result;
  }

  const fetch: SandboxFetch = (input, init) => {
    const request = new Request(input, init);
    const signal = request.signal;
    if (signal.aborted) return Promise.reject(abortReason(signal));
    return new Promise<Response>((resolve, reject) => {
      const onAbort = () => reject(abortReason(signal));
      signal.addEventListener('abort', onAbort, { once: true });
      handle(request)
        .then(resolve, reject)
        .finally(() => signal.removeEventListener('abort', onAbort));
    });
  };

  return {
    handle,
    fetch,
    token,
    state,
    requests,
    inject: (...faults) => void rules.push(...faults.map((fault) => ({ fault, seen: 0 }))),
    clearFaults: () => void rules.splice(0),
    records: (name) => (state.zones.find((zone) => zone.name === name.toLowerCase())?.records ?? []).map(recordView),
  };
}

type BatchKey = 'deletes' | 'patches' | 'puts' | 'posts';
const BATCH_ORDER: readonly BatchKey[] = ['deletes', 'patches', 'puts', 'posts'];

interface RouteResult {
  result: unknown;
  result_info?: ResultInfo;
}

interface ResultInfo {
  page: number;
  per_page: number;
  count: number;
  total_count: number;
  total_pages: number;
}

function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('This operation was aborted', 'AbortError');
}

function nextFault(rules: FaultRule[], method: string, path: string): CloudflareFault | undefined {
  for (const rule of rules) {
    const { fault } = rule;
    if (fault.method !== undefined && fault.method.toUpperCase() !== method.toUpperCase()) continue;
    if (fault.path !== undefined && !(typeof fault.path === 'string' ? path.startsWith(fault.path) : fault.path.test(path))) continue;
    rule.seen++;
    const skip = fault.skip ?? 0;
    const times = fault.times ?? 1;
    if (rule.seen > skip && rule.seen <= skip + times) return fault;
  }
  return undefined;
}

function faultResponse(fault: CloudflareFault): Response {
  const headers: Record<string, string> = {};
  if (fault.shouldRetry !== undefined) headers['x-should-retry'] = String(fault.shouldRetry);
  if (fault.kind === 'rate-limit') {
    headers['retry-after'] = String(fault.retryAfter ?? 1);
    return json(429, { success: false, errors: [{ ...CF_ERRORS.rateLimited }], messages: [], result: null }, headers);
  }
  const status = fault.status ?? 500;
  const reason = STATUS_TEXT[status] ?? 'Server Error';
  const page =
    `<html>\n<head><title>${status} ${reason}</title></head>\n<body>\n<center><h1>${status} ${reason}</h1></center>\n` +
    '<hr><center>cloudflare</center>\n</body>\n</html>\n';
  return new Response(page, { status, headers: { 'content-type': 'text/html', ...headers } });
}

const STATUS_TEXT: Record<number, string> = {
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Temporarily Unavailable',
  504: 'Gateway Time-out',
};

function authorize(request: Request, readOnly: ReadonlySet<string>, token: string): void {
  const header = request.headers.get('authorization');
  if (header === null) {
    if (request.headers.has('x-auth-key') || request.headers.has('x-auth-email')) {
      // Legacy global API keys are not part of the sandbox: treated like a wrong credential.
      throw new SandboxApiError(403, [{ ...CF_ERRORS.authentication }]);
    }
    throw new SandboxApiError(400, [{ ...CF_ERRORS.missingAuth }]);
  }
  const match = /^Bearer ([A-Za-z0-9._~+/=-]+)$/.exec(header);
  if (match === null) {
    throw new SandboxApiError(400, [{ ...CF_ERRORS.invalidHeaders, error_chain: [{ ...CF_ERRORS.invalidAuthorizationFormat }] }]);
  }
  const presented = match[1] ?? '';
  if (presented === token) return;
  if (readOnly.has(presented) && request.method === 'GET') return;
  throw new SandboxApiError(403, [{ ...CF_ERRORS.authentication }]);
}

function noRoute(path: string): SandboxApiError {
  return new SandboxApiError(404, [
    { code: CF_ERRORS.couldNotRoute.code, message: `Could not route to ${path}, perhaps your object identifier is invalid?` },
    { ...CF_ERRORS.noRoute },
  ]);
}

function methodNotAllowed(method: string): SandboxApiError {
  return new SandboxApiError(405, [{ code: CF_ERRORS.methodNotAllowed.code, message: `Method ${method} not allowed for this path` }]);
}

function findRecord(records: readonly SandboxRecord[], id: string): SandboxRecord {
  const record = records.find((candidate) => candidate.id === id);
  if (record === undefined) throw new SandboxApiError(404, [{ ...CF_ERRORS.recordNotFound }]);
  return record;
}

function parseBody(text: string): Record<string, unknown> {
  try {
    const body: unknown = JSON.parse(text);
    if (typeof body === 'object' && body !== null && !Array.isArray(body)) return body as Record<string, unknown>;
  } catch {
    // fall through
  }
  throw new SandboxApiError(400, [{ ...CF_ERRORS.invalidBody }]);
}

function parseBodyForLog(text: string): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function redactHeaders(headers: Headers): Record<string, string> {
  const out: Record<string, string> = {};
  headers.forEach((value, name) => {
    if (name === 'authorization') out[name] = /^\S+\s/.test(value) ? `${value.split(/\s/, 1)[0]} [redacted]` : '[redacted]';
    else if (name === 'x-auth-key' || name === 'x-auth-user-service-key') out[name] = '[redacted]';
    else out[name] = value;
  });
  return out;
}

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { ...JSON_HEADERS, 'cf-ray': `${randomBytes(8).toString('hex')}-SBX`, ...headers },
  });
}

// ------------------------------------------------------------------------------------------------
// Listings

function paginate<T>(
  items: readonly T[],
  query: URLSearchParams,
  limits: { defaultPerPage: number; min: number; max: number },
  view: (item: T) => unknown,
): RouteResult {
  const perPageRaw = Number(query.get('per_page') ?? limits.defaultPerPage);
  const perPage = Number.isInteger(perPageRaw) ? Math.min(limits.max, Math.max(limits.min, perPageRaw)) : limits.defaultPerPage;
  const pageRaw = Number(query.get('page') ?? 1);
  const page = Number.isInteger(pageRaw) && pageRaw >= 1 ? pageRaw : 1;
  const slice = items.slice((page - 1) * perPage, page * perPage);
  return {
    result: slice.map(view),
    result_info: {
      page,
      per_page: perPage,
      count: slice.length,
      total_count: items.length,
      total_pages: Math.max(1, Math.ceil(items.length / perPage)),
    },
  };
}

type Operator = 'exact' | 'contains' | 'startswith' | 'endswith';

function textMatches(value: string, operator: Operator, needle: string, caseSensitive = false): boolean {
  const haystack = caseSensitive ? value : value.toLowerCase();
  const wanted = caseSensitive ? needle : needle.toLowerCase();
  switch (operator) {
    case 'exact':
      return haystack === wanted;
    case 'contains':
      return haystack.includes(wanted);
    case 'startswith':
      return haystack.startsWith(wanted);
    case 'endswith':
      return haystack.endsWith(wanted);
  }
}

const OPERATORS: readonly Operator[] = ['exact', 'contains', 'startswith', 'endswith'];

/**
 * `GET /zones/{id}/dns_records`: `type`, `name` (= `name.exact`), `name.{exact,contains,startswith,endswith}`,
 * the same for `content` and `comment` (plus `comment.present`/`comment.absent`), `tag.present`,
 * `tag.absent`, `tag.exact`, `proxied`, `match=all|any`, `order`, `direction`, `page`, `per_page`
 * (default 100). Name, content and comment filters are case-insensitive.
 */
function listRecords(records: readonly SandboxRecord[], query: URLSearchParams): RouteResult {
  const filters: ((record: SandboxRecord) => boolean)[] = [];
  const type = query.get('type');
  if (type !== null) filters.push((record) => record.type === type.toUpperCase());
  for (const field of ['name', 'content', 'comment'] as const) {
    const bare = query.get(field);
    if (bare !== null) filters.push((record) => textMatches(fieldText(record, field), 'exact', normaliseNeedle(field, bare)));
    for (const operator of OPERATORS) {
      const needle = query.get(`${field}.${operator}`);
      if (needle !== null) filters.push((record) => textMatches(fieldText(record, field), operator, normaliseNeedle(field, needle)));
    }
  }
  if (query.has('comment.present')) filters.push((record) => record.comment !== null && record.comment !== '');
  if (query.has('comment.absent')) filters.push((record) => record.comment === null || record.comment === '');
  const tagPresent = query.get('tag.present');
  if (tagPresent !== null) filters.push((record) => record.tags.some((tag) => tagName(tag) === tagPresent.toLowerCase()));
  const tagAbsent = query.get('tag.absent');
  if (tagAbsent !== null) filters.push((record) => !record.tags.some((tag) => tagName(tag) === tagAbsent.toLowerCase()));
  const tagExact = query.get('tag.exact');
  if (tagExact !== null) filters.push((record) => record.tags.some((tag) => tag.toLowerCase() === tagExact.toLowerCase()));
  const proxied = query.get('proxied');
  if (proxied !== null) filters.push((record) => record.proxied === (proxied === 'true'));

  const any = query.get('match') === 'any';
  let selected = records.filter(
    (record) => filters.length === 0 || (any ? filters.some((filter) => filter(record)) : filters.every((filter) => filter(record))),
  );
  const order = query.get('order');
  if (order === 'type' || order === 'name' || order === 'content' || order === 'ttl' || order === 'proxied') {
    const direction = query.get('direction') === 'desc' ? -1 : 1;
    selected = [...selected].sort((a, b) => direction * compare(a[order], b[order]));
  }
  return paginate(selected, query, { defaultPerPage: 100, min: 1, max: 5_000_000 }, recordView);
}

function fieldText(record: SandboxRecord, field: 'name' | 'content' | 'comment'): string {
  return field === 'comment' ? (record.comment ?? '') : record[field];
}

function normaliseNeedle(field: 'name' | 'content' | 'comment', needle: string): string {
  return field === 'name' ? needle.replace(/\.$/, '') : needle;
}

function tagName(tag: string): string {
  return tag.slice(0, tag.indexOf(':')).toLowerCase();
}

const ZONE_NAME_OPERATORS: Record<string, { operator: Operator | 'not_equal'; caseSensitive: boolean }> = {
  equal: { operator: 'exact', caseSensitive: false },
  not_equal: { operator: 'not_equal', caseSensitive: false },
  starts_with: { operator: 'startswith', caseSensitive: false },
  ends_with: { operator: 'endswith', caseSensitive: false },
  contains: { operator: 'contains', caseSensitive: false },
  starts_with_case_sensitive: { operator: 'startswith', caseSensitive: true },
  ends_with_case_sensitive: { operator: 'endswith', caseSensitive: true },
  contains_case_sensitive: { operator: 'contains', caseSensitive: true },
};

/**
 * `GET /zones`: `name` (exact, or `operator:value` with equal, not_equal, starts_with, ends_with,
 * contains and their _case_sensitive forms), `status`, `account.id`, `account.name`, `match`,
 * `order` (name, status, account.id, account.name), `direction`; `per_page` 5–50, default 20.
 */
function listZones(zones: readonly SandboxZone[], query: URLSearchParams): RouteResult {
  const filters: ((zone: SandboxZone) => boolean)[] = [];
  const name = query.get('name');
  if (name !== null) {
    const colon = name.indexOf(':');
    const spec = colon > 0 ? ZONE_NAME_OPERATORS[name.slice(0, colon)] : undefined;
    const needle = (spec === undefined ? name : name.slice(colon + 1)).replace(/\.$/, '');
    const { operator, caseSensitive } = spec ?? { operator: 'exact' as const, caseSensitive: false };
    filters.push((zone) =>
      operator === 'not_equal' ? zone.name !== needle.toLowerCase() : textMatches(zone.name, operator, needle, caseSensitive),
    );
  }
  const status = query.get('status');
  if (status !== null) filters.push((zone) => zone.status === status);
  const accountId = query.get('account.id');
  if (accountId !== null) filters.push((zone) => zone.account.id === accountId);
  const accountName = query.get('account.name');
  if (accountName !== null) filters.push((zone) => textMatches(zone.account.name, 'contains', accountName));
  const any = query.get('match') === 'any';
  let selected = zones.filter(
    (zone) => filters.length === 0 || (any ? filters.some((filter) => filter(zone)) : filters.every((filter) => filter(zone))),
  );
  const order = query.get('order');
  const direction = query.get('direction') === 'desc' ? -1 : 1;
  const key = (zone: SandboxZone): string =>
    order === 'status' ? zone.status : order === 'account.id' ? zone.account.id : order === 'account.name' ? zone.account.name : zone.name;
  selected = [...selected].sort((a, b) => direction * compare(key(a), key(b)));
  return paginate(selected, query, { defaultPerPage: 20, min: 5, max: 50 }, zoneView);
}

// ------------------------------------------------------------------------------------------------
// The HTTP server

export interface CloudflareSandboxServerOptions extends CloudflareSandboxOptions {
  /** 0 (default) picks a free port. */
  port?: number;
  /** Loopback only by default. */
  host?: string;
}

export interface CloudflareSandbox {
  /** `http://127.0.0.1:PORT/client/v4`: the SDK's `baseURL` / `CLOUDFLARE_BASE_URL`. */
  baseURL: string;
  port: number;
  token: string;
  state: CloudflareSandboxState;
  requests: SandboxRequestLog[];
  api: CloudflareSandboxApi;
  inject(...faults: CloudflareFault[]): void;
  stop(): Promise<void>;
}

/** Serve `createCloudflareApi(options)` over HTTP on 127.0.0.1. */
export async function startCloudflareSandbox(options: CloudflareSandboxServerOptions = {}): Promise<CloudflareSandbox> {
  const api = createCloudflareApi(options);
  const host = options.host ?? '127.0.0.1';
  const server = createServer((req, res) => void serve(api, req, res, host));
  server.listen(options.port ?? 0, host);
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  let stopped: Promise<void> | undefined;
  return {
    baseURL: `http://${host.includes(':') ? `[${host}]` : host}:${port}${API_PREFIX}`,
    port,
    token: api.token,
    state: api.state,
    requests: api.requests,
    api,
    inject: api.inject,
    stop: () =>
      (stopped ??= new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      })),
  };
}

async function serve(api: CloudflareSandboxApi, req: IncomingMessage, res: ServerResponse, host: string): Promise<void> {
  try {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const headers = new Headers();
    for (const [name, value] of Object.entries(req.headers)) {
      if (value === undefined) continue;
      headers.set(name, Array.isArray(value) ? value.join(', ') : value);
    }
    const method = req.method ?? 'GET';
    const body = method === 'GET' || method === 'HEAD' || chunks.length === 0 ? undefined : Buffer.concat(chunks);
    const request = new Request(`http://${host.includes(':') ? `[${host}]` : host}${req.url ?? '/'}`, { method, headers, body });
    const response = await api.handle(request);
    res.writeHead(response.status, Object.fromEntries(response.headers));
    res.end(Buffer.from(await response.arrayBuffer()));
  } catch {
    // A `reset` fault (or a broken request): drop the connection without an answer.
    req.socket.destroy();
  }
}

// ------------------------------------------------------------------------------------------------
// `dmarcops sandbox cloudflare`

export interface CloudflareSandboxCommandOptions {
  /** Default 8787. */
  port?: number;
  host?: string;
  /** Path of a zones file (see `ZonesFile`); none gives an empty account. */
  zones?: string;
  token?: string;
  latencyMs?: number;
  batchLimit?: number;
  /** Do not log each request to `err`. */
  quiet?: boolean;
  cwd?: string;
  out?: (line: string) => void;
  err?: (line: string) => void;
  /** Stops the server when aborted; otherwise it serves until SIGINT or SIGTERM. */
  signal?: AbortSignal;
  /** Called once the server listens (tests). */
  onReady?: (sandbox: CloudflareSandbox) => void;
}

/**
 * Load the zones file, start the sandbox, print how to reach it, serve until SIGINT/SIGTERM (or
 * `signal`), then stop. Resolves to the exit code. A bad zones file is a `sandbox-zones-invalid` error (exit 2).
 */
export async function runCloudflareSandboxCommand(options: CloudflareSandboxCommandOptions = {}): Promise<number> {
  const out = options.out ?? ((line: string) => void process.stdout.write(`${line}\n`));
  const err = options.err ?? ((line: string) => void process.stderr.write(`${line}\n`));
  const file = options.zones === undefined ? undefined : resolvePath(options.cwd ?? process.cwd(), options.zones);
  const zones = file === undefined ? [] : await loadZonesFile(file);

  let sandbox: CloudflareSandbox;
  try {
    sandbox = await startCloudflareSandbox({
      zones,
      port: options.port ?? 8787,
      host: options.host ?? '127.0.0.1',
      ...(options.token === undefined ? {} : { token: options.token }),
      ...(options.latencyMs === undefined ? {} : { latencyMs: options.latencyMs }),
      ...(options.batchLimit === undefined ? {} : { batchLimit: options.batchLimit }),
    });
  } catch (error) {
    if (error instanceof Error && !(error instanceof SandboxApiError) && 'code' in error) {
      throw new DmarcopsError('port-in-use', `cannot listen on ${options.host ?? '127.0.0.1'}:${options.port ?? 8787}: ${error.message}`, {
        exitCode: EXIT.usage,
        cause: error,
      });
    }
    throw new DmarcopsError('sandbox-zones-invalid', `${options.zones ?? 'zones'}: ${(error as Error).message}`, { cause: error });
  }

  const records = sandbox.state.zones.reduce((sum, zone) => sum + zone.records.length, 0);
  const from = options.zones === undefined ? '' : ` from ${options.zones}`;
  err(`Cloudflare API sandbox: ${plural(sandbox.state.zones.length, 'zone')}, ${plural(records, 'record')}${from}`);
  for (const warning of sandbox.state.warnings) err(`warning: ${warning}`);
  out(`export CLOUDFLARE_BASE_URL=${sandbox.baseURL}`);
  out(`export CLOUDFLARE_API_TOKEN=${sandbox.token}`);
  err('Serving until Ctrl-C.');
  options.onReady?.(sandbox);

  let logged = 0;
  let warned = sandbox.state.warnings.length;
  const timer = setInterval(() => {
    for (const entry of sandbox.requests.slice(logged)) {
      if (entry.status === 0 && entry.fault !== 'reset') break; // still being answered
      if (!options.quiet)
        err(
          `${entry.method} ${API_PREFIX}${entry.path}${entry.search} → ${entry.status === 0 ? 'connection reset' : entry.status} (${entry.durationMs} ms)`,
        );
      logged++;
    }
    for (const warning of sandbox.state.warnings.slice(warned)) err(`warning: ${warning}`);
    warned = sandbox.state.warnings.length;
  }, 100);

  await new Promise<void>((resolve) => {
    const done = () => {
      process.off('SIGINT', done);
      process.off('SIGTERM', done);
      options.signal?.removeEventListener('abort', done);
      resolve();
    };
    if (options.signal?.aborted) return done();
    process.once('SIGINT', done);
    process.once('SIGTERM', done);
    options.signal?.addEventListener('abort', done, { once: true });
  });
  clearInterval(timer);
  await sandbox.stop();
  err('Cloudflare API sandbox stopped.');
  return EXIT.ok;
}

/** Read and check a zones file; errors name the file and the JSON path, as a `sandbox-zones-invalid` error (exit 2). */
export async function loadZonesFile(file: string): Promise<ZoneSeed[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new DmarcopsError('sandbox-zones-invalid', `cannot read the zones file ${file}: ${(error as Error).message}`, {
      cause: error,
      location: { file },
    });
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw new DmarcopsError('sandbox-zones-invalid', `${file}: not JSON: ${(error as Error).message}`, { location: { file } });
  }
  const zones = parseZonesFile(data, file);
  try {
    createSandboxState(zones);
  } catch (error) {
    throw new DmarcopsError('sandbox-zones-invalid', `${file}: ${(error as Error).message}`, { location: { file } });
  }
  return zones;
}

/** Check the shape of a parsed zones file (`ZonesFile`); record semantics are checked when seeding. */
export function parseZonesFile(data: unknown, file = 'zones file'): ZoneSeed[] {
  const fail = (where: string, message: string): never => {
    throw new DmarcopsError('sandbox-zones-invalid', `${file}: ${where}: ${message}`, { location: { file, source: where } });
  };
  if (!isPlainObject(data) || !Array.isArray(data.zones)) return fail('top level', 'expected { "zones": [ … ] }');
  return (data.zones as unknown[]).map((zone, zoneIndex) => {
    const at = `zones[${zoneIndex}]`;
    if (!isPlainObject(zone)) return fail(at, 'expected an object with "name" and "records"');
    if (typeof zone.name !== 'string') return fail(`${at}.name`, 'expected a string such as "example.com"');
    for (const key of ['id', 'status'] as const)
      if (zone[key] !== undefined && typeof zone[key] !== 'string') fail(`${at}.${key}`, 'expected a string');
    if (zone.records !== undefined && !Array.isArray(zone.records)) fail(`${at}.records`, 'expected an array');
    const records = ((zone.records ?? []) as unknown[]).map((record, recordIndex): RecordSeed => {
      const where = `${at}.records[${recordIndex}]`;
      if (!isPlainObject(record)) return fail(where, 'expected an object with "type", "name" and "content"');
      if (typeof record.type !== 'string') fail(`${where}.type`, 'expected a string such as "TXT"');
      if (typeof record.name !== 'string') fail(`${where}.name`, 'expected a string such as "_dmarc.example.com"');
      if (record.content !== undefined && typeof record.content !== 'string') fail(`${where}.content`, 'expected a string');
      for (const key of ['ttl', 'priority'] as const)
        if (record[key] !== undefined && typeof record[key] !== 'number') fail(`${where}.${key}`, 'expected a number');
      return record as unknown as RecordSeed;
    });
    return { ...(zone as unknown as ZoneSeed), records };
  });
}
