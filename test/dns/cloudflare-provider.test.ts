/**
 * The Cloudflare provider (official SDK) against the Cloudflare sandbox: reading, applying, TXT
 * quoting, records it must not touch, errors, retries and latency.
 */
import { beforeAll, afterEach, describe, expect, test } from 'vitest';
import { splitCharacterStrings } from '../../scripts/lib/dns-txt.ts';
import {
  CLOUDFLARE_API_VERSION,
  DnsProviderError,
  batchOperations,
  createCloudflareProvider,
  decodeCloudflareTxt,
  encodeCloudflareTxt,
  providerFromEnv,
} from '../../scripts/dns/providers/cloudflare.ts';
import { providerFor } from '../../scripts/dns/providers/index.ts';
import type { CloudflareProvider, CloudflareProviderOptions } from '../../scripts/dns/providers/cloudflare.ts';
import { createCloudflareApi, loadZonesFile, startCloudflareSandbox } from '../../scripts/dns/sandbox/cloudflare-api.ts';
import type {
  CloudflareSandbox,
  CloudflareSandboxApi,
  CloudflareSandboxOptions,
  SandboxRecord,
  ZoneSeed,
} from '../../scripts/dns/sandbox/cloudflare-api.ts';
import type { RecordChange, TxtRecord } from '../../scripts/dns/types.ts';

const TOKEN = 'provider-test-token-0123456789abcdefghijk';
let seeds: ZoneSeed[];

beforeAll(async () => {
  seeds = await loadZonesFile('test/fixtures/dns/cloudflare-zones.json');
});

function setup(
  sandboxOptions: CloudflareSandboxOptions = {},
  providerOptions: CloudflareProviderOptions = {},
): { api: CloudflareSandboxApi; provider: CloudflareProvider } {
  const api = createCloudflareApi({ zones: seeds, token: TOKEN, ...sandboxOptions });
  const provider = createCloudflareProvider({
    env: { CLOUDFLARE_API_TOKEN: TOKEN, CLOUDFLARE_BASE_URL: 'http://sandbox.invalid/client/v4' },
    fetch: api.fetch,
    ...providerOptions,
  });
  return { api, provider };
}

function change(fields: Partial<RecordChange> & Pick<RecordChange, 'action' | 'name'>): RecordChange {
  return {
    provider: 'cloudflare',
    zone: 'example.com',
    type: 'TXT',
    before: null,
    after: null,
    ttlBefore: null,
    ttlAfter: null,
    reason: 'test',
    risky: false,
    ...fields,
  };
}

/** The records of a zone other than at `names`, for byte-identical comparisons. */
function untouched(api: CloudflareSandboxApi, zone: string, names: readonly string[]): SandboxRecord[] {
  return api.records(zone).filter((record) => !names.includes(record.name));
}

function at(api: CloudflareSandboxApi, zone: string, name: string): SandboxRecord[] {
  return api.records(zone).filter((record) => record.name === name && record.type === 'TXT');
}

async function failure(promise: Promise<unknown>): Promise<DnsProviderError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(DnsProviderError);
  return error as DnsProviderError;
}

const DMARC_NAMES = [
  '_dmarc.example.com',
  '_dmarc.legacy.example.com',
  '_dmarc.dup.example.com',
  '_dmarc.new.example.com',
  'example.org._report._dmarc.example.com',
];

describe('listTxt', () => {
  test('one zone lookup and one listing for all names; quoted and unquoted content decoded; other names left out', async () => {
    const { api, provider } = setup();
    const records = await provider.listTxt('example.com', DMARC_NAMES);
    const byName = (name: string) =>
      records.filter((record) => record.name === name).map(({ value, ttl, strings }) => ({ value, ttl, strings }));
    expect(byName('_dmarc.example.com')).toEqual([
      { value: 'v=DMARC1; p=none; rua=mailto:dmarc@example.com', ttl: 3600, strings: ['v=DMARC1; p=none; rua=mailto:dmarc@example.com'] },
      { value: 'google-site-verification=Zm9vYmFyYmF6', ttl: 3600, strings: ['google-site-verification=Zm9vYmFyYmF6'] },
    ]);
    // Legacy unquoted content, automatic TTL (1) read as the 300 s Cloudflare serves.
    expect(byName('_dmarc.legacy.example.com')).toEqual([
      {
        value: 'v=DMARC1; p=quarantine; rua=mailto:dmarc@example.com',
        ttl: 300,
        strings: ['v=DMARC1; p=quarantine; rua=mailto:dmarc@example.com'],
      },
    ]);
    expect(byName('_dmarc.dup.example.com').map((record) => record.value)).toEqual(['v=DMARC1; p=none', 'v=DMARC1; p=reject']);
    expect(byName('example.org._report._dmarc.example.com').map((record) => record.value)).toEqual(['v=DMARC1']);
    expect(records.every((record) => /^[0-9a-f]{32}$/.test(record.id ?? ''))).toBe(true);
    expect(records.map((record) => record.name)).not.toContain('example.com'); // the SPF record at the apex was not asked for
    expect(records.map((record) => record.name)).not.toContain('selector1._domainkey.example.com');

    expect(api.requests.map((request) => `${request.method} ${request.path}${request.search}`)).toEqual([
      'GET /zones?name=example.com&per_page=50',
      `GET /zones/${await provider.zoneId('example.com')}/dns_records?type=TXT&per_page=100&name.contains=_dmarc`,
    ]);
  });

  test('one name uses name.exact; names are compared in lower case without the trailing dot', async () => {
    const { api, provider } = setup();
    const records = await provider.listTxt('Example.COM.', ['_DMARC.example.com.']);
    expect(records.map((record) => record.value).sort()).toEqual([
      'google-site-verification=Zm9vYmFyYmF6',
      'v=DMARC1; p=none; rua=mailto:dmarc@example.com',
    ]);
    expect(api.requests.at(-1)?.query).toEqual({ type: 'TXT', per_page: '100', 'name.exact': '_dmarc.example.com' });
    expect(await provider.listTxt('example.com', [])).toEqual([]);
    expect(api.requests).toHaveLength(2);
  });

  test('pages through a long listing (per_page 2) without the extra empty page, and caches the zone id', async () => {
    const many: ZoneSeed = {
      name: 'many.example',
      records: Array.from({ length: 9 }, (_, index) => ({
        type: 'TXT',
        name: `_dmarc.d${index}.many.example`,
        content: `"v=DMARC1; p=none; ri=${3600 + index}"`,
        ttl: 3600,
      })),
    };
    const { api, provider } = setup({ zones: [...seeds, many] }, { perPage: 2 });
    const names = many.records!.map((record) => record.name);
    const records = await provider.listTxt('many.example', names);
    expect(records.map((record) => record.name)).toEqual(names);
    const pages = api.requests.filter((request) => request.path.endsWith('/dns_records'));
    expect(pages.map((request) => request.query.page ?? '1')).toEqual(['1', '2', '3', '4', '5']);

    await provider.listTxt('many.example', names.slice(0, 1));
    expect(api.requests.filter((request) => request.path === '/zones')).toHaveLength(1);
  });

  test('a zone the token cannot see is a clear error (and is asked again next time)', async () => {
    const { api, provider } = setup();
    const error = await failure(provider.listTxt('missing.example', ['_dmarc.missing.example']));
    expect(error.message).toBe(
      'cloudflare zone missing.example: not found in any account this token can read (check the zone name, or give the token Zone:Read on it)',
    );
    expect(error).toMatchObject({ provider: 'cloudflare', zone: 'missing.example', status: 404 });
    await failure(provider.listTxt('missing.example', ['_dmarc.missing.example']));
    expect(api.requests.filter((request) => request.path === '/zones')).toHaveLength(2);
  });
});

describe('client configuration', () => {
  test('a missing token is a clear error before any request', () => {
    expect(() => createCloudflareProvider({ env: {} })).toThrow(DnsProviderError);
    expect(() => createCloudflareProvider({ env: { CLOUDFLARE_API_TOKEN: '' } })).toThrow(/^cloudflare: CLOUDFLARE_API_TOKEN is not set\./);
  });

  test('a wrong token: the error carries 10000 and the status, never the token', async () => {
    const { api } = setup();
    const secret = 'wrong-secret-token-value-1234567890abcd';
    const provider = createCloudflareProvider({
      env: { CLOUDFLARE_API_TOKEN: secret, CLOUDFLARE_BASE_URL: 'http://sandbox.invalid/client/v4' },
      fetch: api.fetch,
    });
    const error = await failure(provider.listTxt('example.com', ['_dmarc.example.com']));
    expect(error.status).toBe(403);
    expect(error.codes).toEqual([10000]);
    expect(error.message).toBe(
      'cloudflare zone example.com: looking up the zone failed: HTTP 403: Authentication error (10000) ' +
        '(check CLOUDFLARE_API_TOKEN: it needs Zone:Read and DNS:Read, plus DNS:Edit to apply)',
    );
    const everything = JSON.stringify({ message: error.message, stack: error.stack, errors: error.errors, cause: String(error.cause) });
    expect(everything).not.toContain(secret);
    expect(everything).not.toContain(TOKEN);
  });

  test('sends the token as a Bearer header and pins api-version; only the token (no key or e-mail from the environment)', async () => {
    const { api, provider } = setup(
      {},
      {
        env: {
          CLOUDFLARE_API_TOKEN: TOKEN,
          CLOUDFLARE_BASE_URL: 'http://sandbox.invalid/client/v4',
          CLOUDFLARE_API_KEY: 'k',
          CLOUDFLARE_EMAIL: 'e@example.com',
        },
      },
    );
    await provider.listTxt('example.com', ['_dmarc.example.com']);
    const headers = api.requests[0]?.headers ?? {};
    expect(headers.authorization).toBe('Bearer [redacted]');
    expect(headers['api-version']).toBe(CLOUDFLARE_API_VERSION);
    expect(headers['x-auth-key']).toBeUndefined();
    expect(headers['x-auth-email']).toBeUndefined();
    expect(provider.baseURL).toBe('http://sandbox.invalid/client/v4');
  });
});

describe('applyZone', () => {
  test('create: one batch with a quoted record; nothing else in the zone changes', async () => {
    const { api, provider } = setup();
    const others = untouched(api, 'example.com', ['_dmarc.new.example.com']);
    await provider.applyZone(
      'example.com',
      [change({ action: 'create', name: '_dmarc.new.example.com', after: ['v=DMARC1; p=reject'], ttlAfter: 3600 })],
      [],
    );
    expect(at(api, 'example.com', '_dmarc.new.example.com').map(({ content, ttl }) => ({ content, ttl }))).toEqual([
      { content: '"v=DMARC1; p=reject"', ttl: 3600 },
    ]);
    expect(untouched(api, 'example.com', ['_dmarc.new.example.com'])).toEqual(others);
    const writes = api.requests.filter((request) => request.method !== 'GET');
    expect(writes.map((request) => request.path)).toEqual([`/zones/${await provider.zoneId('example.com')}/dns_records/batch`]);
    expect(writes[0]?.body).toEqual({
      posts: [{ type: 'TXT', name: '_dmarc.new.example.com', content: '"v=DMARC1; p=reject"', ttl: 3600 }],
    });
  });

  test('update: patches the owned record by id; the non-DMARC TXT at _dmarc and every other record stay byte-identical', async () => {
    const { api, provider } = setup();
    const current = await provider.listTxt('example.com', ['_dmarc.example.com']);
    const dmarc = current.find((record) => record.value.startsWith('v=DMARC1'))!;
    const others = untouched(api, 'example.com', ['_dmarc.example.com']);
    const verification = at(api, 'example.com', '_dmarc.example.com').find((record) => record.content.includes('google-site-verification'));

    const wanted = 'v=DMARC1; p=quarantine; rua=mailto:dmarc@example.com';
    await provider.applyZone(
      'example.com',
      [change({ action: 'update', name: '_dmarc.example.com', before: [dmarc.value], after: [wanted], ttlBefore: 3600, ttlAfter: 3600 })],
      current,
    );

    const now = at(api, 'example.com', '_dmarc.example.com');
    expect(now.find((record) => record.id === dmarc.id)?.content).toBe(`"${wanted}"`);
    expect(now.find((record) => record.id === verification?.id)).toEqual(verification);
    expect(untouched(api, 'example.com', ['_dmarc.example.com'])).toEqual(others);
    const batch = api.requests.find((request) => request.path.endsWith('/batch'));
    expect(batch?.body).toEqual({
      patches: [{ id: dmarc.id, type: 'TXT', name: '_dmarc.example.com', content: `"${wanted}"`, ttl: 3600 }],
    });

    // Converged: reading again gives exactly what was asked for.
    const again = await provider.listTxt('example.com', ['_dmarc.example.com']);
    expect(again.map((record) => record.value).sort()).toEqual(['google-site-verification=Zm9vYmFyYmF6', wanted]);
  });

  test('two DMARC records at one name: one is patched, the extra one deleted, in one batch', async () => {
    const { api, provider } = setup();
    const current = await provider.listTxt('example.com', ['_dmarc.dup.example.com']);
    await provider.applyZone(
      'example.com',
      [
        change({
          action: 'update',
          name: '_dmarc.dup.example.com',
          before: ['v=DMARC1; p=none', 'v=DMARC1; p=reject'],
          after: ['v=DMARC1; p=reject'],
          ttlBefore: 3600,
          ttlAfter: 3600,
        }),
      ],
      current,
    );
    expect(at(api, 'example.com', '_dmarc.dup.example.com').map((record) => record.content)).toEqual(['"v=DMARC1; p=reject"']);
    const batches = api.requests.filter((request) => request.path.endsWith('/batch'));
    expect(batches).toHaveLength(1);
    // The record that already says p=reject is kept as it is; the other is deleted.
    const keep = current.find((record) => record.value === 'v=DMARC1; p=reject')!;
    const drop = current.find((record) => record.value === 'v=DMARC1; p=none')!;
    expect(batches[0]?.body).toEqual({ deletes: [{ id: drop.id }] });
    expect(at(api, 'example.com', '_dmarc.dup.example.com')[0]?.id).toBe(keep.id);
  });

  test('a TTL-only change patches the TTL; legacy unquoted content is rewritten quoted', async () => {
    const { api, provider } = setup();
    const current = await provider.listTxt('example.com', ['_dmarc.legacy.example.com', '_dmarc.example.com']);
    const legacy = 'v=DMARC1; p=quarantine; rua=mailto:dmarc@example.com';
    await provider.applyZone(
      'example.com',
      [change({ action: 'update', name: '_dmarc.legacy.example.com', before: [legacy], after: [legacy], ttlBefore: 300, ttlAfter: 1800 })],
      current,
    );
    expect(at(api, 'example.com', '_dmarc.legacy.example.com').map(({ content, ttl }) => ({ content, ttl }))).toEqual([
      { content: `"${legacy}"`, ttl: 1800 },
    ]);
  });

  test('delete: removes only the owned DMARC record', async () => {
    const { api, provider } = setup();
    const current = await provider.listTxt('example.com', ['_dmarc.example.com', 'example.org._report._dmarc.example.com']);
    const others = untouched(api, 'example.com', ['_dmarc.example.com', 'example.org._report._dmarc.example.com']);
    await provider.applyZone(
      'example.com',
      [
        change({
          action: 'delete',
          name: '_dmarc.example.com',
          before: ['v=DMARC1; p=none; rua=mailto:dmarc@example.com'],
          ttlBefore: 3600,
          risky: true,
        }),
        change({ action: 'delete', name: 'example.org._report._dmarc.example.com', before: ['v=DMARC1'], ttlBefore: 3600, risky: true }),
      ],
      current,
    );
    expect(at(api, 'example.com', '_dmarc.example.com').map((record) => record.content)).toEqual([
      '"google-site-verification=Zm9vYmFyYmF6"',
    ]);
    expect(at(api, 'example.com', 'example.org._report._dmarc.example.com')).toEqual([]);
    expect(untouched(api, 'example.com', ['_dmarc.example.com', 'example.org._report._dmarc.example.com'])).toEqual(others);
    expect(api.requests.filter((request) => request.path.endsWith('/batch'))).toHaveLength(1);
  });

  test('a record over 255 octets: written as split quoted strings, read back joined, with its strings', async () => {
    // The sandbox refuses over-long strings here, so the provider must split them itself.
    const { api, provider } = setup({ txtOverlongStrings: 'reject' });
    const rua = Array.from({ length: 9 }, (_, index) => `mailto:dmarc-reports+${index}@reports.example.net`).join(',');
    const value = `v=DMARC1; p=reject; sp=quarantine; adkim=s; aspf=s; rua=${rua}; ri=3600`;
    expect(new TextEncoder().encode(value).length).toBeGreaterThan(255);
    await provider.applyZone(
      'example.com',
      [change({ action: 'create', name: '_dmarc.long.example.com', after: [value], ttlAfter: 3600 })],
      [],
    );

    const [stored] = at(api, 'example.com', '_dmarc.long.example.com');
    const expectedStrings = splitCharacterStrings(value, 255);
    expect(expectedStrings.length).toBeGreaterThan(1);
    expect(stored?.content).toBe(expectedStrings.map((string) => `"${string}"`).join(' '));
    const [read] = await provider.listTxt('example.com', ['_dmarc.long.example.com']);
    expect(read?.value).toBe(value);
    expect(read?.strings).toEqual(expectedStrings);
  });

  test('batch all-or-nothing: an invalid operation leaves the zone unchanged and the error has Cloudflare codes', async () => {
    const { api, provider } = setup();
    const current = await provider.listTxt('example.com', ['_dmarc.example.com', '_dmarc.new.example.com']);
    const before = api.records('example.com');
    const error = await failure(
      provider.applyZone(
        'example.com',
        [
          change({
            action: 'update',
            name: '_dmarc.example.com',
            before: ['v=DMARC1; p=none; rua=mailto:dmarc@example.com'],
            after: ['v=DMARC1; p=reject'],
            ttlBefore: 3600,
            ttlAfter: 3600,
          }),
          change({ action: 'create', name: '_dmarc.new.example.com', after: ['v=DMARC1; p=none'], ttlAfter: 30 }),
        ],
        current,
      ),
    );
    expect(api.records('example.com')).toEqual(before);
    expect(error.status).toBe(400);
    expect(error.codes).toEqual([1004, 9021]);
    expect(error.message).toBe(
      'cloudflare zone example.com: applying a batch of 1 update, 1 create failed: HTTP 400: ' +
        'DNS Validation Error (1004); Invalid TTL. Must be between 60 and 86400 seconds, or 1 for automatic. (9021)',
    );
  });

  test('a record deleted since the listing: the batch fails with 81044 and nothing is applied', async () => {
    const { api, provider } = setup();
    const current = await provider.listTxt('example.com', ['_dmarc.example.com', '_dmarc.legacy.example.com']);
    const legacy = current.find((record) => record.name === '_dmarc.legacy.example.com')!;
    const zoneId = await provider.zoneId('example.com');
    await provider.client.dns.records.delete(legacy.id!, { zone_id: zoneId }); // someone else, in the dashboard
    const before = api.records('example.com');
    const error = await failure(
      provider.applyZone(
        'example.com',
        [
          change({ action: 'create', name: '_dmarc.new.example.com', after: ['v=DMARC1; p=none'], ttlAfter: 3600 }),
          change({
            action: 'update',
            name: '_dmarc.legacy.example.com',
            before: [legacy.value],
            after: ['v=DMARC1; p=reject'],
            ttlBefore: 300,
            ttlAfter: 300,
          }),
        ],
        current,
      ),
    );
    expect(error).toMatchObject({ status: 404, codes: [81044] });
    expect(api.records('example.com')).toEqual(before);
  });

  test('a stale or foreign change is refused before any request', async () => {
    const { api, provider } = setup();
    const current = await provider.listTxt('example.com', ['_dmarc.example.com']);
    const requests = api.requests.length;
    const stale = await failure(
      provider.applyZone(
        'example.com',
        [
          change({
            action: 'update',
            name: '_dmarc.example.com',
            before: ['v=DMARC1; p=reject'],
            after: ['v=DMARC1; p=none'],
            ttlBefore: 3600,
            ttlAfter: 3600,
          }),
        ],
        current,
      ),
    );
    expect(stale.message).toBe(
      'cloudflare zone example.com: cannot update _dmarc.example.com: the record "v=DMARC1; ' +
        'p=reject" is not in the current listing: the plan is out of date, plan again',
    );
    await failure(
      provider.applyZone(
        'example.com',
        [change({ action: 'create', zone: 'example.org', name: '_dmarc.example.org', after: ['v=DMARC1; p=none'], ttlAfter: 300 })],
        [],
      ),
    );
    await failure(
      provider.applyZone(
        'example.com',
        [change({ action: 'create', provider: 'powerdns', name: '_dmarc.example.com', after: ['v=DMARC1; p=none'], ttlAfter: 300 })],
        [],
      ),
    );
    expect(api.requests).toHaveLength(requests);
    await provider.applyZone('example.com', [], current);
    expect(api.requests).toHaveLength(requests);
  });

  test('more operations than batchLimit go in several batches, deletes first', async () => {
    const { api, provider } = setup({ batchLimit: 2 }, { batchLimit: 2 });
    const current = await provider.listTxt('example.com', ['_dmarc.dup.example.com']);
    await provider.applyZone(
      'example.com',
      [
        change({
          action: 'delete',
          name: '_dmarc.dup.example.com',
          before: ['v=DMARC1; p=none', 'v=DMARC1; p=reject'],
          ttlBefore: 3600,
          risky: true,
        }),
        change({ action: 'create', name: '_dmarc.a.example.com', after: ['v=DMARC1; p=none'], ttlAfter: 3600 }),
        change({ action: 'create', name: '_dmarc.b.example.com', after: ['v=DMARC1; p=none'], ttlAfter: 3600 }),
      ],
      current,
    );
    const batches = api.requests.filter((request) => request.path.endsWith('/batch')).map((request) => Object.keys(request.body as object));
    expect(batches).toEqual([['deletes'], ['posts']]);
    expect(at(api, 'example.com', '_dmarc.a.example.com')).toHaveLength(1);
    expect(at(api, 'example.com', '_dmarc.dup.example.com')).toHaveLength(0);
  });
});

describe('reliability', () => {
  test('three 429s in a row on the batch: the provider still converges', async () => {
    const { api, provider } = setup({ faults: [{ kind: 'rate-limit', method: 'POST', path: /\/batch$/, times: 3, retryAfter: 0.01 }] });
    await provider.applyZone(
      'example.com',
      [change({ action: 'create', name: '_dmarc.new.example.com', after: ['v=DMARC1; p=none'], ttlAfter: 3600 })],
      [],
    );
    expect(at(api, 'example.com', '_dmarc.new.example.com')).toHaveLength(1);
    const batches = api.requests.filter((request) => request.path.endsWith('/batch'));
    expect(batches.map((request) => [request.status, request.headers['x-stainless-retry-count']])).toEqual([
      [429, '0'],
      [429, '1'],
      [429, '2'],
      [200, '3'],
    ]);
  });

  test('rate limited past the retry budget: an error with 971 and status 429', async () => {
    const { provider } = setup({ faults: [{ kind: 'rate-limit', times: 10, retryAfter: 0.01 }] }, { maxRetries: 2 });
    const error = await failure(provider.listTxt('example.com', ['_dmarc.example.com']));
    expect(error).toMatchObject({ status: 429, codes: [971] });
    expect(error.message).toMatch(
      /Please wait and consider throttling your request speed \(971\) \(rate limited: Cloudflare allows 1200 requests per 5 minutes/,
    );
  });

  test('5xx answers are retried with backoff; when they persist the error says there was no Cloudflare error body', async () => {
    const retried = setup({ faults: [{ kind: 'server-error', status: 503, path: /\/dns_records$/, times: 2 }] });
    const records = await retried.provider.listTxt('example.com', ['_dmarc.example.com']);
    expect(records).toHaveLength(2);
    expect(retried.api.requests.map((request) => request.status)).toEqual([200, 503, 503, 200]);

    const failing = setup({ faults: [{ kind: 'server-error', status: 502, times: 10, shouldRetry: false }] });
    const error = await failure(failing.provider.listTxt('example.com', ['_dmarc.example.com']));
    expect(error.status).toBe(502);
    expect(error.codes).toEqual([]);
    expect(error.message).toBe(
      'cloudflare zone example.com: looking up the zone failed: HTTP 502: no Cloudflare error in the response body',
    );
  });

  test('a dropped connection and a slow answer (client timeout) are retried', async () => {
    const { api, provider } = setup(
      {
        faults: [
          { kind: 'reset', times: 1 },
          { kind: 'delay', delayMs: 400, path: /\/dns_records$/, times: 1 },
        ],
      },
      { timeoutMs: 150 },
    );
    const records = await provider.listTxt('example.com', ['_dmarc.example.com']);
    expect(records).toHaveLength(2);
    expect(api.requests.map((request) => request.fault ?? 'ok')).toEqual(['reset', 'ok', 'delay', 'ok']);
  });

  describe('over HTTP, configured from the environment', () => {
    let server: CloudflareSandbox | undefined;
    afterEach(async () => {
      await server?.stop();
      server = undefined;
    });

    test('with 40 ms latency per request: list, apply, list again', async () => {
      server = await startCloudflareSandbox({ zones: seeds, latencyMs: 40 });
      const env = { CLOUDFLARE_API_TOKEN: server.token, CLOUDFLARE_BASE_URL: server.baseURL };
      const provider = providerFromEnv(env);
      expect(provider.baseURL).toBe(server.baseURL);
      // The same factory is what the provider registry loads for `dns.provider: cloudflare`.
      expect((await providerFor('cloudflare', env)).name).toBe('cloudflare');
      await expect(providerFor('cloudflare', {})).rejects.toThrow(/CLOUDFLARE_API_TOKEN is not set/);
      const started = performance.now();
      const current = await provider.listTxt('example.com', ['_dmarc.example.com']);
      expect(performance.now() - started).toBeGreaterThanOrEqual(2 * 40 - 5);
      const dmarc = current.find((record) => record.value.startsWith('v=DMARC1'))!;
      await provider.applyZone(
        'example.com',
        [
          change({
            action: 'update',
            name: '_dmarc.example.com',
            before: [dmarc.value],
            after: ['v=DMARC1; p=reject'],
            ttlBefore: 3600,
            ttlAfter: 3600,
          }),
        ],
        current,
      );
      const after: TxtRecord[] = await provider.listTxt('example.com', ['_dmarc.example.com']);
      expect(after.map((record) => record.value).sort()).toEqual(['google-site-verification=Zm9vYmFyYmF6', 'v=DMARC1; p=reject']);
      expect(server.requests.filter((request) => request.path === '/zones')).toHaveLength(1);
    });
  });
});

describe('TXT codec', () => {
  test('encode: quoted, escaped, split at tag boundaries; decode reverses it', () => {
    expect(encodeCloudflareTxt('v=DMARC1; p=none')).toBe('"v=DMARC1; p=none"');
    expect(encodeCloudflareTxt('say "hi" \\ bye')).toBe('"say \\"hi\\" \\\\ bye"');
    expect(decodeCloudflareTxt('"say \\"hi\\" \\\\ bye"')).toEqual({ value: 'say "hi" \\ bye', strings: ['say "hi" \\ bye'] });
    const long = `v=DMARC1; p=none; rua=${'mailto:a@example.com,'.repeat(15)}mailto:z@example.com`;
    const encoded = encodeCloudflareTxt(long);
    expect(decodeCloudflareTxt(encoded)).toEqual({ value: long, strings: splitCharacterStrings(long, 255) });
  });

  test('decode: several strings, \\DDD escapes, unquoted legacy content, content that only looks quoted', () => {
    expect(decodeCloudflareTxt('"v=DMARC1; " "p=none"')).toEqual({ value: 'v=DMARC1; p=none', strings: ['v=DMARC1; ', 'p=none'] });
    expect(decodeCloudflareTxt('"caf\\195\\169"')).toEqual({ value: 'café', strings: ['café'] });
    expect(decodeCloudflareTxt('v=DMARC1; p=none')).toEqual({ value: 'v=DMARC1; p=none', strings: ['v=DMARC1; p=none'] });
    expect(decodeCloudflareTxt('"a" b "c"')).toEqual({ value: '"a" b "c"', strings: ['"a" b "c"'] });
    const unquotedLong = 'x'.repeat(300);
    expect(decodeCloudflareTxt(unquotedLong).strings).toEqual(['x'.repeat(255), 'x'.repeat(45)]);
  });

  test('batchOperations never touches records whose values are not in before', () => {
    const current: TxtRecord[] = [
      { name: '_dmarc.example.com', ttl: 300, value: 'v=spf1 -all', id: 'a'.repeat(32) },
      { name: '_dmarc.example.com', ttl: 300, value: 'v=DMARC1; p=none', id: 'b'.repeat(32) },
    ];
    const ops = batchOperations(
      'example.com',
      [change({ action: 'delete', name: '_dmarc.example.com', before: ['v=DMARC1; p=none'], ttlBefore: 300 })],
      current,
    );
    expect(ops).toEqual({ deletes: [{ id: 'b'.repeat(32) }], patches: [], posts: [] });
  });
});
