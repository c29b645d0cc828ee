/**
 * The Cloudflare sandbox against the published API contract, driven only through the official
 * `cloudflare` SDK (in process via its `fetch` option, and over HTTP via `baseURL`).
 */
import Cloudflare, { BadRequestError, NotFoundError, PermissionDeniedError, RateLimitError } from 'cloudflare';
import type { APIError } from 'cloudflare';
import { writeFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, test } from 'vitest';
import { DmarcopsError } from '../../scripts/lib/errors.ts';
import {
  createCloudflareApi,
  loadZonesFile,
  runCloudflareSandboxCommand,
  startCloudflareSandbox,
} from '../../scripts/dns/sandbox/cloudflare-api.ts';
import type {
  CloudflareSandbox,
  CloudflareSandboxApi,
  CloudflareSandboxOptions,
  ZoneSeed,
} from '../../scripts/dns/sandbox/cloudflare-api.ts';

const FIXTURE = 'test/fixtures/dns/cloudflare-zones.json';
const IN_PROCESS = 'http://sandbox.invalid/client/v4';
let seeds: ZoneSeed[];

beforeAll(async () => {
  seeds = await loadZonesFile(FIXTURE);
});

function sandbox(options: CloudflareSandboxOptions = {}): { api: CloudflareSandboxApi; client: Cloudflare } {
  const api = createCloudflareApi({ zones: seeds, token: 'sandbox-token-0123456789abcdefghijklmnop', ...options });
  const client = new Cloudflare({ apiToken: api.token, baseURL: IN_PROCESS, fetch: api.fetch, maxRetries: 0 });
  return { api, client };
}

async function zoneId(client: Cloudflare, name: string): Promise<string> {
  const page = await client.zones.list({ name });
  const zone = page.result.find((candidate) => candidate.name === name);
  if (zone === undefined) throw new Error(`no zone ${name}`);
  return zone.id;
}

async function failure(promise: PromiseLike<unknown>): Promise<APIError> {
  try {
    await promise;
  } catch (error) {
    return error as APIError;
  }
  throw new Error('expected the call to fail');
}

/** `error_chain` of the first error: in Cloudflare's envelopes, though not in the SDK's `ErrorData` type. */
function chain(error: APIError): unknown {
  return (error.errors[0] as { error_chain?: unknown } | undefined)?.error_chain;
}

async function all<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of iterable) items.push(item);
  return items;
}

describe('zones', () => {
  test('GET /zones?name= finds a zone by exact name; ids are 32 hex digits and stable across starts', async () => {
    const { api, client } = sandbox();
    const page = await client.zones.list({ name: 'example.com' });
    expect(page.result.map((zone) => zone.name)).toEqual(['example.com']);
    expect(page.result[0]?.id).toMatch(/^[0-9a-f]{32}$/);
    expect(page.result[0]?.status).toBe('active');
    expect(await zoneId(sandbox().client, 'example.com')).toBe(page.result[0]?.id);
    expect(api.requests[0]).toMatchObject({ method: 'GET', path: '/zones', search: '?name=example.com', status: 200 });

    expect((await client.zones.list({ name: 'nope.example' })).result).toEqual([]);
    expect((await client.zones.list({ name: 'ends_with:.org' })).result.map((zone) => zone.name)).toEqual(['example.org']);
    const one = await client.zones.get({ zone_id: page.result[0]?.id ?? '' });
    expect(one.name).toBe('example.com');
  });

  test('zones paginate 5–50 per page and for await stops on the empty page past the end', async () => {
    const many = Array.from({ length: 12 }, (_, index) => ({ name: `zone${String(index).padStart(2, '0')}.example` }));
    const { api, client } = sandbox({ zones: many });
    const names = (await all(client.zones.list({ per_page: 1 }))).map((zone) => zone.name);
    expect(names).toEqual(many.map((zone) => zone.name));
    // per_page is clamped to the minimum of 5: pages 1–3 hold 12 zones, page 4 is empty.
    expect(api.requests.map((request) => request.query.page ?? '1')).toEqual(['1', '2', '3', '4']);
  });
});

describe('dns_records listing', () => {
  test('auto-pagination with a small per_page returns every record once, then an empty page', async () => {
    const { api, client } = sandbox();
    const id = await zoneId(client, 'example.com');
    const records = await all(client.dns.records.list({ zone_id: id, type: 'TXT', per_page: 2 }));
    expect(records).toHaveLength(8);
    expect(new Set(records.map((record) => record.id)).size).toBe(8);
    const pages = api.requests.filter((request) => request.path.endsWith('/dns_records'));
    expect(pages.map((request) => request.query.page ?? '1')).toEqual(['1', '2', '3', '4', '5']);

    const page = await client.dns.records.list({ zone_id: id, type: 'TXT', per_page: 3, page: 3 });
    expect(page.result).toHaveLength(2);
    expect(page.result_info).toEqual({ page: 3, per_page: 3, count: 2, total_count: 8, total_pages: 3 });
    const past = await client.dns.records.list({ zone_id: id, per_page: 3, page: 99 });
    expect(past.result).toEqual([]);
  });

  test('filters: type, name, name.exact (any case), name.contains/startswith/endswith, content, match=any', async () => {
    const { client } = sandbox();
    const id = await zoneId(client, 'example.com');
    const names = async (params: Omit<Parameters<typeof client.dns.records.list>[0], 'zone_id'>) =>
      (await all(client.dns.records.list({ zone_id: id, ...params }))).map((record) => `${record.type} ${record.name}`);

    expect(await names({ type: 'MX' })).toEqual(['MX example.com', 'MX example.com']);
    expect(await names({ type: 'TXT', name: { exact: '_DMARC.Example.COM' } })).toEqual([
      'TXT _dmarc.example.com',
      'TXT _dmarc.example.com',
    ]);
    expect(await names({ type: 'TXT', name: { contains: '_dmarc' } })).toHaveLength(6);
    expect(await names({ name: { startswith: '_dmarc.d' } })).toEqual(['TXT _dmarc.dup.example.com', 'TXT _dmarc.dup.example.com']);
    expect(await names({ name: { endswith: '._domainkey.example.com' } })).toEqual(['TXT selector1._domainkey.example.com']);
    expect(await names({ content: { contains: 'P=REJECT' } })).toEqual(['TXT _dmarc.dup.example.com']);
    expect(await names({ type: 'CNAME', name: { exact: 'www.example.com' }, match: 'any' })).toEqual([
      'AAAA www.example.com',
      'CNAME mail.example.com',
    ]);
    expect(await names({ type: 'TXT', name: { exact: 'missing.example.com' } })).toEqual([]);
  });

  test('the bare name= filter is name.exact', async () => {
    const { api, client } = sandbox();
    const id = await zoneId(client, 'example.com');
    const response = await api.fetch(`${IN_PROCESS}/zones/${id}/dns_records?name=_dmarc.legacy.example.com`, {
      headers: { authorization: `Bearer ${api.token}` },
    });
    const body = (await response.json()) as { success: boolean; result: { content: string }[]; result_info: { total_count: number } };
    expect(body.success).toBe(true);
    expect(body.result.map((record) => record.content)).toEqual(['v=DMARC1; p=quarantine; rua=mailto:dmarc@example.com']);
  });
});

describe('dns_records writes', () => {
  test('create, get, patch (keeps comment), put (resets it), delete; ids and timestamps', async () => {
    const { client } = sandbox({ now: () => new Date('2026-11-01T00:00:00Z') });
    const zone_id = await zoneId(client, 'example.org');
    const created = await client.dns.records.create({
      zone_id,
      type: 'TXT',
      name: '_dmarc',
      content: '"v=DMARC1; p=none"',
      ttl: 3600,
      comment: 'dmarcops',
    });
    expect(created).toMatchObject({
      name: '_dmarc.example.org',
      type: 'TXT',
      content: '"v=DMARC1; p=none"',
      ttl: 3600,
      proxied: false,
      proxiable: false,
      comment: 'dmarcops',
      tags: [],
    });
    expect(created.id).toMatch(/^[0-9a-f]{32}$/);
    expect(created.created_on).toBe('2026-11-01T00:00:00.000Z');
    expect(created.modified_on).toBe('2026-11-01T00:00:00.000Z');
    expect((await client.dns.records.get(created.id, { zone_id })).content).toBe('"v=DMARC1; p=none"');

    const patched = await client.dns.records.edit(created.id, {
      zone_id,
      type: 'TXT',
      name: '_dmarc.example.org',
      content: '"v=DMARC1; p=reject"',
      ttl: 300,
    });
    expect(patched).toMatchObject({ id: created.id, content: '"v=DMARC1; p=reject"', ttl: 300, comment: 'dmarcops' });
    const put = await client.dns.records.update(created.id, {
      zone_id,
      type: 'TXT',
      name: '_dmarc.example.org',
      content: '"v=DMARC1; p=quarantine"',
      ttl: 1,
    });
    expect(put).toMatchObject({ id: created.id, content: '"v=DMARC1; p=quarantine"', ttl: 1, comment: null });

    expect(await client.dns.records.delete(created.id, { zone_id })).toEqual({ id: created.id });
    const gone = await failure(client.dns.records.get(created.id, { zone_id }));
    expect(gone).toBeInstanceOf(NotFoundError);
    expect(gone.errors).toEqual([{ code: 81044, message: 'Record does not exist.' }]);
  });

  test('names: @ is the apex, relative names and names outside the zone get the zone appended', async () => {
    const { client } = sandbox();
    const zone_id = await zoneId(client, 'example.org');
    const post = (name: string) => client.dns.records.create({ zone_id, type: 'TXT', name, content: `"${name}"`, ttl: 1 });
    expect((await post('@')).name).toBe('example.org');
    expect((await post('_dmarc.sub')).name).toBe('_dmarc.sub.example.org');
    expect((await post('_DMARC.Example.ORG.')).name).toBe('_dmarc.example.org');
    expect((await post('_dmarc.example.net')).name).toBe('_dmarc.example.net.example.org');
  });

  test('an identical record is refused with 81058; a CNAME conflict with 81053', async () => {
    const { client } = sandbox();
    const zone_id = await zoneId(client, 'example.com');
    const duplicate = await failure(
      client.dns.records.create({ zone_id, type: 'TXT', name: '_dmarc.dup.example.com', content: '"v=DMARC1; p=none"', ttl: 1 }),
    );
    expect(duplicate).toBeInstanceOf(BadRequestError);
    expect(duplicate.errors).toEqual([{ code: 81058, message: 'An identical record already exists.' }]);
    // Quoted and unquoted forms of one string publish the same record.
    const unquoted = await failure(
      client.dns.records.create({ zone_id, type: 'TXT', name: '_dmarc.dup.example.com', content: 'v=DMARC1; p=none', ttl: 1 }),
    );
    expect(unquoted.errors[0]?.code).toBe(81058);
    const cname = await failure(client.dns.records.create({ zone_id, type: 'A', name: 'mail.example.com', content: '192.0.2.1', ttl: 1 }));
    expect(cname.errors[0]?.code).toBe(81053);
  });

  test('validation: TTL (1004/9021), A content (9005), unbalanced quotes (9005), control characters (1004/9051)', async () => {
    const { client } = sandbox();
    const zone_id = await zoneId(client, 'example.org');
    const ttl = await failure(client.dns.records.create({ zone_id, type: 'TXT', name: 'x', content: '"a"', ttl: 30 }));
    expect(ttl.status).toBe(400);
    expect(ttl.errors).toEqual([
      {
        code: 1004,
        message: 'DNS Validation Error',
        error_chain: [{ code: 9021, message: 'Invalid TTL. Must be between 60 and 86400 seconds, or 1 for automatic.' }],
      },
    ]);
    const a = await failure(client.dns.records.create({ zone_id, type: 'A', name: 'x', content: '300.1.1.1', ttl: 1 }));
    expect(a.errors).toEqual([{ code: 9005, message: 'Content for A record must be a valid IPv4 address.' }]);
    for (const content of ['"this', '"these" ones"', '"a" "b']) {
      const quotes = await failure(client.dns.records.create({ zone_id, type: 'TXT', name: 'x', content, ttl: 1 }));
      expect(quotes.errors[0]?.code, content).toBe(9005);
    }
    const control = await failure(client.dns.records.create({ zone_id, type: 'TXT', name: 'x', content: '"a\nb"', ttl: 1 }));
    expect(chain(control)).toEqual([{ code: 9051, message: 'Invalid TXT record. Record may only contain printable ASCII!' }]);
  });

  test('TXT: unquoted content is accepted and stored as sent, with a warning in the state', async () => {
    const { api, client } = sandbox();
    const zone_id = await zoneId(client, 'example.org');
    const record = await client.dns.records.create({ zone_id, type: 'TXT', name: '_dmarc', content: 'v=DMARC1; p=none', ttl: 1 });
    expect(record.content).toBe('v=DMARC1; p=none');
    expect(api.state.warnings.at(-1)).toMatch(/^_dmarc\.example\.org: TXT content is not in quotation marks/);
  });

  test('TXT: a character-string over 255 octets is split by default, refused (9005) in reject mode', async () => {
    const long = `v=DMARC1; p=none; rua=${Array.from({ length: 12 }, (_, index) => `mailto:reports-${index}@example.com`).join(',')}`;
    expect(long.length).toBeGreaterThan(255);
    const split = sandbox();
    const zone_id = await zoneId(split.client, 'example.org');
    const record = await split.client.dns.records.create({ zone_id, type: 'TXT', name: '_dmarc', content: `"${long}"`, ttl: 1 });
    expect(record.content).toBe(`"${long.slice(0, 255)}" "${long.slice(255)}"`);

    const strict = sandbox({ txtOverlongStrings: 'reject' });
    const refused = await failure(strict.client.dns.records.create({ zone_id, type: 'TXT', name: '_dmarc', content: `"${long}"`, ttl: 1 }));
    expect(refused.errors[0]?.code).toBe(9005);
    expect(refused.errors[0]?.message).toMatch(/each may have at most 255/);
    const ok = await strict.client.dns.records.create({
      zone_id,
      type: 'TXT',
      name: '_dmarc',
      content: `"${long.slice(0, 255)}" "${long.slice(255)}"`,
      ttl: 1,
    });
    expect(ok.content).toBe(`"${long.slice(0, 255)}" "${long.slice(255)}"`);
  });
});

describe('batch', () => {
  test('runs deletes → patches → puts → posts, whatever the order in the body', async () => {
    const { api, client } = sandbox();
    const zone_id = await zoneId(client, 'example.com');
    const [none, reject] = await all(client.dns.records.list({ zone_id, name: { exact: '_dmarc.dup.example.com' } }));
    // The post re-creates the content the delete frees, and the patch takes the content the put frees:
    // only the documented order makes this succeed.
    const result = await client.dns.records
      .batch({
        zone_id,
        posts: [{ type: 'TXT', name: '_dmarc.dup.example.com', content: '"v=DMARC1; p=none"', ttl: 60 }],
        puts: [{ id: reject!.id, type: 'TXT', name: '_dmarc.dup.example.com', content: '"v=DMARC1; p=quarantine"', ttl: 60 }],
        patches: [{ id: none!.id, type: 'TXT', name: '_dmarc.dup.example.com', content: '"v=DMARC1; p=reject"', ttl: 60 }],
        deletes: [{ id: reject!.id }],
      })
      .catch((error: APIError) => error);
    // The put targets the record the delete removed first: the batch fails as a whole.
    expect((result as APIError).errors).toEqual([{ code: 81044, message: 'Record does not exist.', source: { pointer: '/puts/0/id' } }]);

    const ok = await client.dns.records.batch({
      zone_id,
      posts: [{ type: 'TXT', name: '_dmarc.dup.example.com', content: '"v=DMARC1; p=reject"', ttl: 60 }],
      patches: [{ id: none!.id, type: 'TXT', name: '_dmarc.dup.example.com', content: '"v=DMARC1; p=quarantine"', ttl: 60 }],
      deletes: [{ id: reject!.id }],
    });
    expect(ok.deletes?.map((record) => record.id)).toEqual([reject!.id]);
    expect(ok.patches?.map((record) => record.content)).toEqual(['"v=DMARC1; p=quarantine"']);
    expect(ok.posts?.map((record) => record.content)).toEqual(['"v=DMARC1; p=reject"']);
    expect(
      api
        .records('example.com')
        .filter((record) => record.name === '_dmarc.dup.example.com')
        .map((record) => record.content)
        .sort(),
    ).toEqual(['"v=DMARC1; p=quarantine"', '"v=DMARC1; p=reject"']);
  });

  test('all or nothing: one invalid operation leaves the zone exactly as it was', async () => {
    const { api, client } = sandbox();
    const zone_id = await zoneId(client, 'example.com');
    const before = api.records('example.com');
    const [dmarc] = await all(client.dns.records.list({ zone_id, name: { exact: '_dmarc.legacy.example.com' } }));
    const error = await failure(
      client.dns.records.batch({
        zone_id,
        deletes: [{ id: dmarc!.id }],
        posts: [
          { type: 'TXT', name: '_dmarc.new.example.com', content: '"v=DMARC1; p=none"', ttl: 300 },
          { type: 'TXT', name: '_dmarc.bad.example.com', content: '"v=DMARC1; p=none"', ttl: 5 },
        ],
      }),
    );
    expect(error).toBeInstanceOf(BadRequestError);
    expect(error.errors).toEqual([
      {
        code: 1004,
        message: 'DNS Validation Error',
        error_chain: [{ code: 9021, message: 'Invalid TTL. Must be between 60 and 86400 seconds, or 1 for automatic.' }],
        source: { pointer: '/posts/1' },
      },
    ]);
    expect(api.records('example.com')).toEqual(before);
  });

  test('more operations than the limit are refused before anything runs (limit configurable)', async () => {
    const { api, client } = sandbox({ batchLimit: 3 });
    const zone_id = await zoneId(client, 'example.org');
    const posts = Array.from({ length: 4 }, (_, index) => ({ type: 'TXT' as const, name: `t${index}`, content: `"${index}"`, ttl: 1 }));
    const error = await failure(client.dns.records.batch({ zone_id, posts }));
    expect(error.status).toBe(400);
    expect(chain(error)).toEqual([{ code: 1004, message: 'A batch may hold at most 3 operations; this one has 4.' }]);
    expect(api.records('example.org')).toHaveLength(2);
    expect((await client.dns.records.batch({ zone_id, posts: posts.slice(0, 3) })).posts).toHaveLength(3);
  });
});

describe('errors and auth', () => {
  test('unknown zone id and unknown paths: 404 with 7003 and 7000', async () => {
    const { client } = sandbox();
    const error = await failure(client.dns.records.list({ zone_id: '0123456789abcdef0123456789abcdef' }));
    expect(error).toBeInstanceOf(NotFoundError);
    expect(error.errors).toEqual([
      {
        code: 7003,
        message: 'Could not route to /zones/0123456789abcdef0123456789abcdef/dns_records, perhaps your object identifier is invalid?',
      },
      { code: 7000, message: 'No route for that URI' },
    ]);
    const route = await failure(client.get('/nothing/here'));
    expect(route.errors.map((item) => item.code)).toEqual([7003, 7000]);
  });

  test('missing, malformed and wrong credentials; a read-only token cannot write', async () => {
    const { api } = sandbox({ readOnlyTokens: ['read-only-token'] });
    const call = async (headers: Record<string, string>, method = 'GET') => {
      const response = await api.fetch(`${IN_PROCESS}/zones`, { method, headers, ...(method === 'GET' ? {} : { body: '{}' }) });
      return { status: response.status, body: (await response.json()) as { success: boolean; errors: { code: number }[] } };
    };
    expect(await call({})).toMatchObject({ status: 400, body: { success: false, errors: [{ code: 9106 }] } });
    expect(await call({ authorization: 'Token abc' })).toMatchObject({
      status: 400,
      body: { errors: [{ code: 6003, error_chain: [{ code: 6111 }] }] },
    });
    expect(await call({ authorization: 'Bearer wrong' })).toMatchObject({
      status: 403,
      body: { errors: [{ code: 10000, message: 'Authentication error' }] },
    });
    expect(await call({ authorization: 'Bearer read-only-token' })).toMatchObject({ status: 200, body: { success: true } });

    const reader = new Cloudflare({ apiToken: 'read-only-token', baseURL: IN_PROCESS, fetch: api.fetch, maxRetries: 0 });
    const zone_id = await zoneId(reader, 'example.org');
    const write = await failure(reader.dns.records.create({ zone_id, type: 'TXT', name: 'x', content: '"x"', ttl: 1 }));
    expect(write).toBeInstanceOf(PermissionDeniedError);
    expect(write.errors).toEqual([{ code: 10000, message: 'Authentication error' }]);

    // The request log never keeps a credential.
    expect(JSON.stringify(api.requests)).not.toContain('read-only-token');
    expect(api.requests.at(-1)?.headers.authorization).toBe('Bearer [redacted]');
  });

  test('the SDK sends the headers the notes describe (api-version, retry count)', async () => {
    const { api, client } = sandbox();
    await client.zones.list({ name: 'example.com' });
    const headers = api.requests[0]?.headers ?? {};
    expect(headers['api-version']).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    expect(headers['x-stainless-retry-count']).toBe('0');
    expect(headers['user-agent']).toMatch(/^Cloudflare\/JS /);
  });
});

describe('faults', () => {
  test('N rate limits in a row: 429 with retry-after and code 971, then the SDK retry succeeds', async () => {
    const api = createCloudflareApi({ zones: seeds, faults: [{ kind: 'rate-limit', times: 3, retryAfter: 0.01 }] });
    const client = new Cloudflare({ apiToken: api.token, baseURL: IN_PROCESS, fetch: api.fetch, maxRetries: 3 });
    expect((await client.zones.list({ name: 'example.com' })).result).toHaveLength(1);
    expect(api.requests.map((request) => [request.status, request.headers['x-stainless-retry-count']])).toEqual([
      [429, '0'],
      [429, '1'],
      [429, '2'],
      [200, '3'],
    ]);

    const strict = new Cloudflare({ apiToken: api.token, baseURL: IN_PROCESS, fetch: api.fetch, maxRetries: 0 });
    api.inject({ kind: 'rate-limit', retryAfter: 7 });
    const error = await failure(strict.zones.list({ name: 'example.com' }));
    expect(error).toBeInstanceOf(RateLimitError);
    expect(error.headers?.get('retry-after')).toBe('7');
    expect(error.errors).toEqual([{ code: 971, message: 'Please wait and consider throttling your request speed' }]);
  });

  test('5xx, dropped connections, x-should-retry, and method/path/skip matching', async () => {
    const api = createCloudflareApi({
      zones: seeds,
      faults: [
        { kind: 'server-error', status: 503, method: 'GET', path: '/zones', skip: 1, times: 1 },
        { kind: 'reset', path: /\/dns_records$/, times: 1 },
        { kind: 'server-error', status: 500, method: 'POST', shouldRetry: false },
      ],
    });
    const client = new Cloudflare({ apiToken: api.token, baseURL: IN_PROCESS, fetch: api.fetch, maxRetries: 2 });
    await client.zones.list({ name: 'example.org' });
    const zone_id = await zoneId(client, 'example.org');
    await client.dns.records.list({ zone_id });
    expect(api.requests.map((request) => `${request.status}${request.fault ? ` ${request.fault}` : ''}`)).toEqual([
      '200',
      '503 server-error',
      '200',
      '0 reset',
      '200',
    ]);

    const error = await failure(client.dns.records.create({ zone_id, type: 'TXT', name: 'x', content: '"x"', ttl: 1 }));
    expect(error.status).toBe(500);
    expect(api.requests.filter((request) => request.method === 'POST')).toHaveLength(1);
  });

  test('the rate limiter answers 429 once the window is full', async () => {
    const api = createCloudflareApi({ zones: seeds, rateLimit: { requests: 2, windowMs: 60_000 } });
    const client = new Cloudflare({ apiToken: api.token, baseURL: IN_PROCESS, fetch: api.fetch, maxRetries: 0 });
    await client.zones.list();
    await client.zones.list();
    const error = await failure(client.zones.list());
    expect(error.status).toBe(429);
    expect(Number(error.headers?.get('retry-after'))).toBeGreaterThan(0);
  });
});

describe('over HTTP', () => {
  let server: CloudflareSandbox | undefined;
  afterEach(async () => {
    await server?.stop();
    server = undefined;
  });

  test('the node:http server serves the same API on 127.0.0.1, with latency', async () => {
    server = await startCloudflareSandbox({ zones: seeds, latencyMs: 30 });
    expect(server.baseURL).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/client\/v4$/);
    const client = new Cloudflare({ apiToken: server.token, baseURL: server.baseURL, maxRetries: 0 });
    const started = performance.now();
    const zone_id = await zoneId(client, 'example.com');
    const records = await all(client.dns.records.list({ zone_id, type: 'TXT', per_page: 5 }));
    expect(records).toHaveLength(8);
    expect(performance.now() - started).toBeGreaterThanOrEqual(3 * 30 - 5);
    expect(server.requests.map((request) => request.status)).toEqual([200, 200, 200, 200]);

    server.inject({ kind: 'reset' });
    const retrying = new Cloudflare({ apiToken: server.token, baseURL: server.baseURL, maxRetries: 1 });
    expect((await retrying.zones.list({ name: 'example.org' })).result).toHaveLength(1);
    expect(server.requests.slice(-2).map((request) => request.fault ?? 'ok')).toEqual(['reset', 'ok']);
  });

  test('dmarcops sandbox cloudflare: loads the zones file, prints the base URL and a token, serves until stopped', async () => {
    const out: string[] = [];
    const err: string[] = [];
    const stop = new AbortController();
    let ready: CloudflareSandbox | undefined;
    const run = runCloudflareSandboxCommand({
      port: 0,
      zones: FIXTURE,
      token: 'cli-token',
      out: (line) => out.push(line),
      err: (line) => err.push(line),
      signal: stop.signal,
      onReady: (sandbox) => (ready = sandbox),
    });
    await expect.poll(() => ready).toBeDefined();
    expect(out).toEqual([`export CLOUDFLARE_BASE_URL=${ready!.baseURL}`, 'export CLOUDFLARE_API_TOKEN=cli-token']);
    expect(err[0]).toBe(`Cloudflare API sandbox: 2 zones, 15 records from ${FIXTURE}`);
    expect(err.some((line) => line.startsWith('warning: _dmarc.legacy.example.com: TXT content is not in quotation marks'))).toBe(true);
    const client = new Cloudflare({ apiToken: 'cli-token', baseURL: ready!.baseURL, maxRetries: 0 });
    expect((await client.zones.list({ name: 'example.org' })).result).toHaveLength(1);
    await expect.poll(() => err.some((line) => line.startsWith('GET /client/v4/zones?name=example.org → 200'))).toBe(true);
    stop.abort();
    expect(await run).toBe(0);
    expect(err.at(-1)).toBe('Cloudflare API sandbox stopped.');
  });

  test('a bad zones file is a usage error that names the file and the place', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cf-zones-'));
    try {
      const file = join(dir, 'zones.json');
      await writeFile(
        file,
        JSON.stringify({ zones: [{ name: 'example.com', records: [{ type: 'TXT', name: '_dmarc', content: '"x"', ttl: 5 }] }] }),
      );
      const error = await loadZonesFile(file).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(DmarcopsError);
      expect((error as DmarcopsError).code).toBe('sandbox-zones-invalid');
      expect((error as DmarcopsError).exitCode).toBe(2);
      expect((error as Error).message).toBe(
        `${file}: zones[0].records[0] (TXT _dmarc): DNS Validation Error (1004): Invalid TTL. Must be between 60 and 86400 seconds, or 1 for automatic. (9021)`,
      );
      await writeFile(file, JSON.stringify({ zones: [{ name: 'example.com', records: [{ type: 'TXT', content: '"x"' }] }] }));
      await expect(loadZonesFile(file)).rejects.toThrow(
        `${file}: zones[0].records[0].name: expected a string such as "_dmarc.example.com"`,
      );
      await writeFile(file, '[]');
      await expect(loadZonesFile(file)).rejects.toThrow(`${file}: top level: expected { "zones": [ … ] }`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
