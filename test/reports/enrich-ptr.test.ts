import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test, vi } from 'vitest';
import { createEnricher, loadPtrCache, prunePtrCache, savePtrCache } from '../../scripts/reports/enrich/index.ts';
import type { AddressResolver, EnricherOptions, PtrCacheEntry, PtrResolver } from '../../scripts/reports/enrich/index.ts';

// node:dns is replaced for this whole file: no test can reach the network, even by mistake, and
// the default resolver's construction can be observed.
const dns = vi.hoisted(() => ({ created: [] as unknown[], queried: [] as string[] }));
vi.mock('node:dns/promises', () => ({
  Resolver: class {
    constructor(options: unknown) {
      dns.created.push(options);
    }
    setServers(): void {}
    reverse(ip: string): Promise<string[]> {
      dns.queried.push(ip);
      return Promise.resolve([`fake-${ip.replaceAll('.', '-')}.example.net`]);
    }
    // The forward side of the fake names above: fake-8-8-8-8.example.net → 8.8.8.8.
    resolve4(name: string): Promise<string[]> {
      dns.queried.push(`A ${name}`);
      const match = /^fake-([\d-]+)\.example\.net$/.exec(name);
      return Promise.resolve(match ? [match[1]!.replaceAll('-', '.')] : []);
    }
    resolve6(name: string): Promise<string[]> {
      dns.queried.push(`AAAA ${name}`);
      return Promise.resolve([]);
    }
  },
}));

const HOUR = 60 * 60 * 1000;
const DAY = 24 * HOUR;

/** An error like node:dns rejects with. */
function dnsError(code: string): Error {
  return Object.assign(new Error(`queryPtr ${code}`), { code });
}

/**
 * The forward side of every fake reverse zone below: each PTR name a fakeResolver hands out has an
 * A/AAAA record pointing back at its IP, so names are forward-confirmed (forgeries are tested in
 * enrich.test.ts).
 */
const ZONE = new Map<string, Set<string>>();
const forward: AddressResolver = async (name) => {
  const ips = ZONE.get(name);
  if (ips === undefined) throw dnsError('ENOTFOUND');
  return [...ips];
};

/**
 * A fake DNS: answers from `names` (a string list, or an error code to reject with), records every
 * call, and tracks how many queries are in flight at once. `delayMs` keeps each query pending a while.
 */
function fakeResolver(names: Record<string, string[] | string>, delayMs = 0) {
  for (const [ip, answer] of Object.entries(names)) {
    if (typeof answer === 'string') continue;
    for (const name of answer) {
      const key = name.trim().toLowerCase().replace(/\.$/, '');
      if (!ZONE.has(key)) ZONE.set(key, new Set());
      ZONE.get(key)!.add(ip);
    }
  }
  const calls: string[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const resolver: PtrResolver = async (ip) => {
    calls.push(ip);
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    try {
      if (delayMs > 0) await new Promise((wake) => setTimeout(wake, delayMs));
      const answer = names[ip];
      if (answer === undefined) throw dnsError('ENOTFOUND');
      if (typeof answer === 'string') throw dnsError(answer);
      return answer;
    } finally {
      inFlight--;
    }
  };
  return { resolver, calls, maxInFlight: () => maxInFlight };
}

/** A clock the test moves by hand. */
function clock(start = '2026-01-01T00:00:00Z') {
  let now = Date.parse(start);
  return { now: () => new Date(now), advance: (ms: number) => void (now += ms) };
}

const base = (overrides: Partial<EnricherOptions>): EnricherOptions => ({
  offline: false,
  addressResolver: forward,
  asnLookup: () => null,
  onWarning: () => {},
  ...overrides,
});

const tempDirs: string[] = [];
afterAll(async () => {
  for (const dir of tempDirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'dmarcops-ptr-'));
  tempDirs.push(dir);
  return dir;
}

describe('PTR lookups', () => {
  test('a resolver that never answers times out: null, counted, and enrichAll still resolves', async () => {
    const never: PtrResolver = () => new Promise(() => {});
    const enricher = await createEnricher(base({ resolver: never, timeoutMs: 20 }));
    const started = Date.now();
    const result = await enricher.enrichAll(['192.0.2.1', '8.8.8.8', '8.8.4.4']);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(result.get('8.8.8.8')?.ptr).toBeNull();
    expect(enricher.stats()).toEqual({ lookups: 2, cacheHits: 0, failures: 2, timeouts: 2, forwardLookups: 0, unconfirmed: 0 });
  });

  test('c-ares ETIMEOUT counts as a timeout too', async () => {
    const { resolver } = fakeResolver({ '8.8.8.8': 'ETIMEOUT' });
    const enricher = await createEnricher(base({ resolver }));
    await enricher.enrichAll(['8.8.8.8']);
    expect(enricher.stats()).toMatchObject({ failures: 1, timeouts: 1 });
  });

  test('failures become null and are counted; NXDOMAIN and NODATA are answers, not failures', async () => {
    const { resolver } = fakeResolver({ '1.1.1.1': 'ESERVFAIL', '1.0.0.1': 'ECONNREFUSED', '9.9.9.9': 'ENODATA' });
    const throwing: PtrResolver = (ip) => {
      if (ip === '4.4.4.4') throw new Error('synchronous bug in a resolver');
      return resolver(ip);
    };
    const enricher = await createEnricher(base({ resolver: throwing }));
    const result = await enricher.enrichAll(['1.1.1.1', '1.0.0.1', '9.9.9.9', '8.8.8.8', '4.4.4.4']);
    for (const enrichment of result.values()) expect(enrichment.ptr).toBeNull();
    expect(enricher.stats()).toEqual({ lookups: 5, cacheHits: 0, failures: 3, timeouts: 0, forwardLookups: 0, unconfirmed: 0 });
  });

  test('never more queries in flight than the concurrency bound', async () => {
    const ips = Array.from({ length: 40 }, (_, i) => `203.1.${i}.7`);
    const { resolver, calls, maxInFlight } = fakeResolver(Object.fromEntries(ips.map((ip) => [ip, [`h${ip}.example.net`]])), 5);
    const enricher = await createEnricher(base({ resolver, concurrency: 4 }));
    const result = await enricher.enrichAll(ips);
    expect(calls).toHaveLength(40);
    expect(maxInFlight()).toBe(4);
    expect(result.get('203.1.3.7')?.ptr).toBe('h203.1.3.7.example.net');
  });

  test('the default bound is 16', async () => {
    const ips = Array.from({ length: 50 }, (_, i) => `204.0.${i}.1`);
    const { resolver, maxInFlight } = fakeResolver({}, 5);
    const enricher = await createEnricher(base({ resolver }));
    await enricher.enrichAll(ips);
    expect(maxInFlight()).toBe(16);
  });

  test('one query per IP: repeated inputs and concurrent runs share it', async () => {
    const { resolver, calls } = fakeResolver({ '8.8.8.8': ['dns.google.'] }, 10);
    const enricher = await createEnricher(base({ resolver }));
    const [first, second] = await Promise.all([
      enricher.enrichAll(['8.8.8.8', '8.8.8.8', '::ffff:8.8.8.8']),
      enricher.enrichAll(['8.8.8.8']),
    ]);
    expect(calls).toEqual(['8.8.8.8']);
    expect(first.get('8.8.8.8')?.ptr).toBe('dns.google');
    expect(first.get('::ffff:8.8.8.8')?.ptr).toBe('dns.google');
    expect(second.get('8.8.8.8')?.ptr).toBe('dns.google');
  });

  test('a second run is answered from the cache', async () => {
    const { resolver, calls } = fakeResolver({ '8.8.8.8': ['dns.google'] });
    const enricher = await createEnricher(base({ resolver }));
    await enricher.enrichAll(['8.8.8.8', '9.9.9.9']);
    const again = await enricher.enrichAll(['8.8.8.8', '9.9.9.9']);
    expect(calls).toHaveLength(2);
    expect(again.get('8.8.8.8')?.ptr).toBe('dns.google');
    expect(enricher.stats()).toEqual({ lookups: 2, cacheHits: 2, failures: 0, timeouts: 0, forwardLookups: 1, unconfirmed: 0 });
  });

  test('TTLs: a name for 30 days, "no PTR" for 1 day, a failure for 1 hour (injected clock)', async () => {
    const time = clock();
    const { resolver, calls } = fakeResolver({ '8.8.8.8': ['dns.google'], '1.1.1.1': 'ESERVFAIL' });
    const enricher = await createEnricher(base({ resolver, now: time.now }));
    const ips = ['8.8.8.8', '9.9.9.9', '1.1.1.1'];
    const count = (ip: string) => calls.filter((c) => c === ip).length;

    await enricher.enrichAll(ips);
    time.advance(HOUR - 1);
    await enricher.enrichAll(ips);
    expect([count('8.8.8.8'), count('9.9.9.9'), count('1.1.1.1')]).toEqual([1, 1, 1]);

    time.advance(2); // past 1 hour: the failure is retried
    await enricher.enrichAll(ips);
    expect([count('8.8.8.8'), count('9.9.9.9'), count('1.1.1.1')]).toEqual([1, 1, 2]);

    time.advance(DAY); // past 1 day: "no PTR" is asked again
    await enricher.enrichAll(ips);
    expect([count('8.8.8.8'), count('9.9.9.9')]).toEqual([1, 2]);

    time.advance(30 * DAY); // past 30 days: the name too
    await enricher.enrichAll(ips);
    expect([count('8.8.8.8'), count('9.9.9.9')]).toEqual([2, 3]);
  });

  test('TTLs are options', async () => {
    const time = clock();
    const { resolver, calls } = fakeResolver({ '8.8.8.8': ['dns.google'] });
    const enricher = await createEnricher(base({ resolver, now: time.now, positiveTtlMs: 1000, negativeTtlMs: 10 }));
    await enricher.enrichAll(['8.8.8.8', '9.9.9.9']);
    time.advance(11);
    await enricher.enrichAll(['8.8.8.8', '9.9.9.9']);
    expect(calls).toEqual(['8.8.8.8', '9.9.9.9', '9.9.9.9']);
    time.advance(1000);
    await enricher.enrichAll(['8.8.8.8']);
    expect(calls.filter((c) => c === '8.8.8.8')).toHaveLength(2);
  });

  test('several PTR names: the smallest, lower case, without the root dot, so reruns agree', async () => {
    const { resolver } = fakeResolver({ '8.8.8.8': ['Zeta.Example.NET.', 'alpha.example.net.', ''] });
    const enricher = await createEnricher(base({ resolver }));
    const result = await enricher.enrichAll(['8.8.8.8']);
    expect(result.get('8.8.8.8')?.ptr).toBe('alpha.example.net');
  });

  test('private, reserved and invalid addresses are never looked up', async () => {
    const { resolver, calls } = fakeResolver({});
    const enricher = await createEnricher(base({ resolver }));
    const inputs = ['10.1.2.3', '192.168.0.1', '127.0.0.1', '100.64.0.1', '::1', 'fe80::1%eth0', 'fd00::1', '2001:db8::1', 'not an ip', ''];
    const result = await enricher.enrichAll(inputs);
    expect(calls).toEqual([]);
    expect([...result.keys()]).toEqual(inputs);
    for (const enrichment of result.values()) expect(Object.values(enrichment).every((v) => v === null)).toBe(true);
  });

  test("IPv6 is queried in canonical form; results keep the caller's spelling as the key", async () => {
    const { resolver, calls } = fakeResolver({ '2001:4860:4860::8888': ['dns.google'] });
    const enricher = await createEnricher(base({ resolver }));
    const result = await enricher.enrichAll(['2001:4860:4860:0:0:0:0:8888', '2001:4860:4860::8888']);
    expect(calls).toEqual(['2001:4860:4860::8888']);
    expect(result.get('2001:4860:4860:0:0:0:0:8888')?.ptr).toBe('dns.google');
  });
});

describe('the default resolver', () => {
  test('is node:dns Resolver.reverse (and resolve4 to confirm) with the timeout and one try, created once at the first query', async () => {
    dns.created.length = 0;
    dns.queried.length = 0;
    const enricher = await createEnricher(base({ timeoutMs: 1500, addressResolver: undefined }));
    expect(dns.created).toEqual([]);
    const result = await enricher.enrichAll(['8.8.8.8', '1.1.1.1']);
    expect(dns.created).toEqual([{ timeout: 1500, tries: 1 }]);
    expect(dns.queried.sort()).toEqual(['1.1.1.1', '8.8.8.8', 'A fake-1-1-1-1.example.net', 'A fake-8-8-8-8.example.net']);
    expect(result.get('8.8.8.8')?.ptr).toBe('fake-8-8-8-8.example.net');
  });
});

describe('offline mode', () => {
  test('makes zero resolver calls, and answers only from the cache', async () => {
    const dir = await tempDir();
    const cacheFile = join(dir, 'cache', 'ptr.json');
    const time = clock();
    const online = fakeResolver({ '8.8.8.8': ['dns.google'] });
    const first = await createEnricher(base({ resolver: online.resolver, cacheFile, now: time.now }));
    await first.enrichAll(['8.8.8.8', '9.9.9.9']);
    await first.save();

    time.advance(365 * DAY); // long expired: offline still uses what it has
    const offline = fakeResolver({ '8.8.8.8': ['other.example'], '1.1.1.1': ['one.one.one.one'] });
    const enricher = await createEnricher(base({ offline: true, resolver: offline.resolver, cacheFile, now: time.now }));
    const result = await enricher.enrichAll(['8.8.8.8', '9.9.9.9', '1.1.1.1']);
    expect(offline.calls).toEqual([]);
    expect(result.get('8.8.8.8')?.ptr).toBe('dns.google');
    expect(result.get('1.1.1.1')?.ptr).toBeNull();
    expect(enricher.stats()).toEqual({ lookups: 0, cacheHits: 2, failures: 0, timeouts: 0, forwardLookups: 0, unconfirmed: 0 });
  });

  test('without a resolver option it never creates the default (network) resolver', async () => {
    dns.created.length = 0;
    dns.queried.length = 0;
    const enricher = await createEnricher(base({ offline: true }));
    const result = await enricher.enrichAll(['8.8.8.8']);
    expect(result.get('8.8.8.8')?.ptr).toBeNull();
    expect(dns.created).toEqual([]);
    expect(dns.queried).toEqual([]);
    expect(enricher.stats().lookups).toBe(0);
  });
});

describe('the cache file', () => {
  test('is written atomically (no temp file left), sorted, and reloaded by the next run', async () => {
    const dir = await tempDir();
    const cacheFile = join(dir, 'reports', 'cache', 'ptr.json');
    const time = clock('2026-03-01T12:00:00Z');
    const { resolver } = fakeResolver({ '9.9.9.9': ['dns9.quad9.net.'], '8.8.8.8': ['dns.google.'], '1.1.1.1': 'ESERVFAIL' });
    const enricher = await createEnricher(base({ resolver, cacheFile, now: time.now }));
    await enricher.enrichAll(['9.9.9.9', '8.8.8.8', '1.1.1.1', '4.4.4.4']);
    await enricher.save();

    expect(await readdir(join(dir, 'reports', 'cache'))).toEqual(['ptr.json']);
    const saved = JSON.parse(await readFile(cacheFile, 'utf8'));
    expect(saved).toEqual({
      version: 1,
      entries: {
        '1.1.1.1': { ptr: null, resolvedAt: '2026-03-01T12:00:00.000Z', seenAt: '2026-03-01T12:00:00.000Z', error: 'ESERVFAIL' },
        '4.4.4.4': { ptr: null, resolvedAt: '2026-03-01T12:00:00.000Z', seenAt: '2026-03-01T12:00:00.000Z' },
        '8.8.8.8': { ptr: 'dns.google', resolvedAt: '2026-03-01T12:00:00.000Z', seenAt: '2026-03-01T12:00:00.000Z', confirmed: true },
        '9.9.9.9': { ptr: 'dns9.quad9.net', resolvedAt: '2026-03-01T12:00:00.000Z', seenAt: '2026-03-01T12:00:00.000Z', confirmed: true },
      },
    });
    expect(Object.keys(saved.entries)).toEqual(['1.1.1.1', '4.4.4.4', '8.8.8.8', '9.9.9.9']);

    time.advance(DAY / 2);
    const again = fakeResolver({});
    const next = await createEnricher(base({ resolver: again.resolver, cacheFile, now: time.now }));
    const result = await next.enrichAll(['8.8.8.8', '9.9.9.9', '4.4.4.4', '1.1.1.1']);
    expect(again.calls).toEqual(['1.1.1.1']); // only the failure (1 h) has expired
    expect(result.get('9.9.9.9')?.ptr).toBe('dns9.quad9.net');
    expect(next.stats().cacheHits).toBe(3);
  });

  test('save() never rejects: a failed write warns and leaves no temp file', async () => {
    const dir = await tempDir();
    const cacheFile = join(dir, 'ptr.json');
    await mkdir(cacheFile); // a directory where the file should go: rename fails
    const warnings: string[] = [];
    const { resolver } = fakeResolver({ '8.8.8.8': ['dns.google'] });
    const enricher = await createEnricher(base({ resolver, cacheFile, onWarning: (m) => warnings.push(m) }));
    await enricher.enrichAll(['8.8.8.8']);
    await expect(enricher.save()).resolves.toBeUndefined();
    expect(warnings.some((w) => w.includes('could not save the PTR cache'))).toBe(true);
    expect(await readdir(dir)).toEqual(['ptr.json']);
  });

  test('an unchanged cache is not rewritten (offline runs leave the file alone)', async () => {
    const dir = await tempDir();
    const cacheFile = join(dir, 'ptr.json');
    const enricher = await createEnricher(base({ offline: true, cacheFile }));
    await enricher.enrichAll(['8.8.8.8']);
    await enricher.save();
    expect(await readdir(dir)).toEqual([]);
  });

  test('a corrupt cache file warns and starts empty instead of failing ingest', async () => {
    const dir = await tempDir();
    const cacheFile = join(dir, 'ptr.json');
    await writeFile(cacheFile, '{ not json');
    const warnings: string[] = [];
    const { resolver, calls } = fakeResolver({ '8.8.8.8': ['dns.google'] });
    const enricher = await createEnricher(base({ resolver, cacheFile, onWarning: (m) => warnings.push(m) }));
    const result = await enricher.enrichAll(['8.8.8.8']);
    expect(result.get('8.8.8.8')?.ptr).toBe('dns.google');
    expect(calls).toEqual(['8.8.8.8']);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('not valid JSON');
    expect(enricher.warnings()).toEqual(warnings);
  });

  test('malformed entries are dropped, good ones kept', async () => {
    const dir = await tempDir();
    const cacheFile = join(dir, 'ptr.json');
    await writeFile(
      cacheFile,
      JSON.stringify({
        version: 1,
        entries: {
          '8.8.8.8': { ptr: 'dns.google', resolvedAt: '2026-01-01T00:00:00Z', confirmed: true },
          '9.9.9.9': { ptr: 42, resolvedAt: '2026-01-01T00:00:00Z' },
          '1.1.1.1': { ptr: 'x', resolvedAt: 'yesterday' },
        },
      }),
    );
    const enricher = await createEnricher(base({ offline: true, cacheFile }));
    const result = await enricher.enrichAll(['8.8.8.8', '9.9.9.9', '1.1.1.1']);
    expect([...result.values()].map((e) => e.ptr)).toEqual(['dns.google', null, null]);
  });
});

/** Writes a cache file as given (any version, any fields), for the loader to meet. */
async function writeCache(file: string, entries: Record<string, unknown>, version: unknown = 1): Promise<void> {
  await writeFile(file, JSON.stringify({ version, entries }));
}

async function readCache(file: string): Promise<{ version: number; entries: Record<string, PtrCacheEntry> }> {
  return JSON.parse(await readFile(file, 'utf8'));
}

const iso = (ms: number): string => new Date(ms).toISOString();

describe('pruning the cache on save', () => {
  const T0 = Date.parse('2026-01-01T00:00:00Z');

  test('version 1 files without seenAt still load; their entries count as seen when resolved', async () => {
    const dir = await tempDir();
    const cacheFile = join(dir, 'ptr.json');
    await writeCache(cacheFile, {
      '8.8.8.8': { ptr: 'dns.google', resolvedAt: iso(T0 - 40 * DAY), confirmed: true },
      '9.9.9.9': { ptr: null, resolvedAt: iso(T0 - 100 * DAY) },
      '1.1.1.1': { ptr: 'one.one.one.one', resolvedAt: iso(T0 - 20 * DAY), seenAt: 'not a time', confirmed: true },
    });
    const time = clock(iso(T0));
    const enricher = await createEnricher(base({ offline: true, cacheFile, now: time.now }));
    const result = await enricher.enrichAll(['8.8.8.8']);
    expect(result.get('8.8.8.8')?.ptr).toBe('dns.google');
    await enricher.save();
    const saved = await readCache(cacheFile);
    expect(saved.version).toBe(1);
    expect(saved.entries).toEqual({
      '1.1.1.1': { ptr: 'one.one.one.one', resolvedAt: iso(T0 - 20 * DAY), seenAt: iso(T0 - 20 * DAY), confirmed: true },
      '8.8.8.8': { ptr: 'dns.google', resolvedAt: iso(T0 - 40 * DAY), seenAt: iso(T0), confirmed: true }, // read just now (seen 40 days ago: refreshed)
    });
    expect(enricher.pruned()).toEqual({ unused: 1, failures: 0, overCap: 0 });
  });

  test('a version 2 (or any other) file is still refused with a warning', async () => {
    const dir = await tempDir();
    const cacheFile = join(dir, 'ptr.json');
    await writeCache(cacheFile, { '8.8.8.8': { ptr: 'dns.google', resolvedAt: iso(T0), seenAt: iso(T0), confirmed: true } }, 2);
    const warnings: string[] = [];
    await createEnricher(base({ offline: true, cacheFile, onWarning: (m) => warnings.push(m) }));
    expect(warnings).toEqual([expect.stringContaining('not a version 1 PTR cache')]);
  });

  test('entries unused past the retention period are dropped; used ones are kept, offline reads included', async () => {
    const dir = await tempDir();
    const cacheFile = join(dir, 'ptr.json');
    const time = clock(iso(T0));
    const names = { '8.8.8.8': ['dns.google'], '9.9.9.9': ['dns9.quad9.net'], '1.1.1.1': ['one.one.one.one'] };
    const first = await createEnricher(base({ resolver: fakeResolver(names).resolver, cacheFile, now: time.now }));
    await first.enrichAll(['8.8.8.8', '9.9.9.9', '1.1.1.1']);
    await first.save();

    time.advance(80 * DAY); // an offline run reads one of them (expired: offline answers anyway)
    const offline = await createEnricher(base({ offline: true, cacheFile, now: time.now }));
    await offline.enrichAll(['8.8.8.8']);
    await offline.save();
    expect(Object.keys((await readCache(cacheFile)).entries)).toEqual(['1.1.1.1', '8.8.8.8', '9.9.9.9']);
    expect((await readCache(cacheFile)).entries['8.8.8.8']?.seenAt).toBe(iso(T0 + 80 * DAY));

    time.advance(11 * DAY); // 91 days after the lookups: an online run looks one up again
    const again = fakeResolver(names);
    const online = await createEnricher(base({ resolver: again.resolver, cacheFile, now: time.now }));
    await online.enrichAll(['9.9.9.9']);
    await online.save();
    expect(again.calls).toEqual(['9.9.9.9']);
    const saved = await readCache(cacheFile);
    expect(saved.entries).toEqual({
      '8.8.8.8': { ptr: 'dns.google', resolvedAt: iso(T0), seenAt: iso(T0 + 80 * DAY), confirmed: true },
      '9.9.9.9': { ptr: 'dns9.quad9.net', resolvedAt: iso(T0 + 91 * DAY), seenAt: iso(T0 + 91 * DAY), confirmed: true },
    });
    expect(online.pruned()).toEqual({ unused: 1, failures: 0, overCap: 0 });
  });

  test('the retention period is an option; exactly at it an entry is still kept', async () => {
    const dir = await tempDir();
    const cacheFile = join(dir, 'ptr.json');
    await writeCache(cacheFile, {
      '8.8.8.8': { ptr: 'dns.google', resolvedAt: iso(T0 - 10 * DAY), confirmed: true },
      '9.9.9.9': { ptr: 'dns9.quad9.net', resolvedAt: iso(T0 - 10 * DAY - 1), confirmed: true },
    });
    const enricher = await createEnricher(base({ offline: true, cacheFile, now: () => new Date(T0), cacheRetentionMs: 10 * DAY }));
    await enricher.save();
    expect(Object.keys((await readCache(cacheFile)).entries)).toEqual(['8.8.8.8']);
  });

  test('a cache hit refreshes seenAt at most every 30 days (so daily runs do not rewrite the file)', async () => {
    const dir = await tempDir();
    const cacheFile = join(dir, 'ptr.json');
    const time = clock(iso(T0));
    const first = await createEnricher(base({ resolver: fakeResolver({ '8.8.8.8': ['dns.google'] }).resolver, cacheFile, now: time.now }));
    await first.enrichAll(['8.8.8.8']);
    await first.save();
    const written = await readFile(cacheFile, 'utf8');

    // A fresh hit online the next day, and offline hits for 29 days: the file is not written.
    time.advance(25 * HOUR);
    const noNetwork = fakeResolver({});
    const nextDay = await createEnricher(base({ resolver: noNetwork.resolver, cacheFile, now: time.now }));
    await nextDay.enrichAll(['8.8.8.8']);
    await rm(cacheFile);
    await nextDay.save();
    expect(await readdir(dir)).toEqual([]); // nothing changed: not written
    await writeFile(cacheFile, written);
    time.advance(28 * DAY - 25 * HOUR + 23 * HOUR); // 28 days and 23 hours after the lookup
    const offline = await createEnricher(base({ offline: true, cacheFile, now: time.now }));
    await offline.enrichAll(['8.8.8.8']);
    await offline.save();
    expect(await readFile(cacheFile, 'utf8')).toBe(written);

    // Past 30 days, the next hit (offline here: online the name's TTL has run out) moves seenAt.
    time.advance(2 * DAY);
    const later = await createEnricher(base({ offline: true, cacheFile, now: time.now }));
    await later.enrichAll(['8.8.8.8']);
    await later.save();
    expect(noNetwork.calls).toEqual([]);
    expect((await readCache(cacheFile)).entries['8.8.8.8']).toEqual({
      ptr: 'dns.google',
      resolvedAt: iso(T0),
      seenAt: iso(T0 + 30 * DAY + 23 * HOUR),
      confirmed: true,
    });
  });

  test('failures past their TTL are dropped on save, even when nothing was looked up', async () => {
    const dir = await tempDir();
    const cacheFile = join(dir, 'ptr.json');
    const time = clock(iso(T0));
    const { resolver } = fakeResolver({ '1.1.1.1': 'ESERVFAIL', '1.0.0.1': 'ETIMEOUT', '8.8.8.8': ['dns.google'] });
    const first = await createEnricher(base({ resolver, cacheFile, now: time.now, failureTtlMs: 3 * HOUR }));
    await first.enrichAll(['1.1.1.1', '8.8.8.8', '9.9.9.9']);
    time.advance(2 * HOUR);
    await first.enrichAll(['1.0.0.1']);
    await first.save();
    expect(Object.keys((await readCache(cacheFile)).entries)).toEqual(['1.0.0.1', '1.1.1.1', '8.8.8.8', '9.9.9.9']);

    time.advance(2 * HOUR); // the first failure is 4 h old (past 3 h), the second 2 h
    const offline = await createEnricher(base({ offline: true, cacheFile, now: time.now, failureTtlMs: 3 * HOUR }));
    await offline.enrichAll(['1.1.1.1']); // used, but a failure says nothing worth keeping
    await offline.save();
    expect(Object.keys((await readCache(cacheFile)).entries)).toEqual(['1.0.0.1', '8.8.8.8', '9.9.9.9']);
    expect(offline.pruned()).toEqual({ unused: 0, failures: 1, overCap: 0 });
  });

  test('the maximum entry count keeps the most recently seen', async () => {
    const dir = await tempDir();
    const cacheFile = join(dir, 'ptr.json');
    await writeCache(cacheFile, {
      '10.0.0.1': { ptr: 'a.example', resolvedAt: iso(T0 - 50 * DAY), seenAt: iso(T0 - 1 * DAY), confirmed: true },
      '10.0.0.2': { ptr: 'b.example', resolvedAt: iso(T0 - 5 * DAY), seenAt: iso(T0 - 5 * DAY), confirmed: true },
      '10.0.0.3': { ptr: 'c.example', resolvedAt: iso(T0 - 40 * DAY), seenAt: iso(T0 - 30 * DAY), confirmed: true },
      '10.0.0.4': { ptr: 'd.example', resolvedAt: iso(T0 - 20 * DAY), seenAt: iso(T0 - 10 * DAY), confirmed: true },
      '10.0.0.5': { ptr: 'e.example', resolvedAt: iso(T0 - 10 * DAY), seenAt: iso(T0 - 10 * DAY), confirmed: true },
    });
    const enricher = await createEnricher(base({ offline: true, cacheFile, now: () => new Date(T0), cacheMaxEntries: 3 }));
    await enricher.save();
    // 10.0.0.4 and 10.0.0.5 were seen at the same time: the more recently resolved one stays.
    expect(Object.keys((await readCache(cacheFile)).entries)).toEqual(['10.0.0.1', '10.0.0.2', '10.0.0.5']);
    expect(enricher.pruned()).toEqual({ unused: 0, failures: 0, overCap: 2 });
  });

  test('the default cap is 200,000 and the default retention 90 days', async () => {
    const cache = new Map<string, PtrCacheEntry>();
    for (let i = 0; i < 200_005; i++) cache.set(`ip${i}`, { ptr: null, resolvedAt: iso(T0 - i * 1000), seenAt: iso(T0 - i * 1000) });
    cache.set('old', { ptr: null, resolvedAt: iso(T0 - 91 * DAY) });
    const dir = await tempDir();
    const cacheFile = join(dir, 'ptr.json');
    await savePtrCache(cacheFile, cache);
    const enricher = await createEnricher(base({ offline: true, cacheFile, now: () => new Date(T0) }));
    await enricher.save();
    expect(enricher.pruned()).toEqual({ unused: 1, failures: 0, overCap: 5 });
    const saved = await readCache(cacheFile);
    expect(Object.keys(saved.entries)).toHaveLength(200_000);
    expect(saved.entries.ip199999).toBeDefined();
    expect(saved.entries.ip200000).toBeUndefined();
  }, 30_000);

  test('ties at the cap are broken by IP, whatever the map order', () => {
    const entry: PtrCacheEntry = { ptr: null, resolvedAt: iso(T0), seenAt: iso(T0) };
    const forward = new Map(['1.0.0.3', '1.0.0.1', '1.0.0.2'].map((ip) => [ip, entry]));
    const backward = new Map([...forward].reverse());
    const options = { now: new Date(T0), retentionMs: DAY, failureTtlMs: HOUR, maxEntries: 2 };
    prunePtrCache(forward, options);
    prunePtrCache(backward, options);
    expect([...forward.keys()].sort()).toEqual(['1.0.0.1', '1.0.0.2']);
    expect([...backward.keys()].sort()).toEqual(['1.0.0.1', '1.0.0.2']);
  });

  test('entries dated in the future (a clock that was ahead) are kept, and get a sane seenAt when used', async () => {
    const dir = await tempDir();
    const cacheFile = join(dir, 'ptr.json');
    await writeCache(cacheFile, { '8.8.8.8': { ptr: 'dns.google', resolvedAt: iso(T0), seenAt: iso(T0 + 400 * DAY), confirmed: true } });
    const enricher = await createEnricher(base({ offline: true, cacheFile, now: () => new Date(T0) }));
    await enricher.enrichAll(['8.8.8.8']);
    await enricher.save();
    expect((await readCache(cacheFile)).entries['8.8.8.8']?.seenAt).toBe(iso(T0));
  });

  test('the output is sorted, fields in a fixed order, and the same cache always gives the same bytes', async () => {
    const dir = await tempDir();
    const first = join(dir, 'first.json');
    await writeFile(
      first,
      JSON.stringify({
        version: 1,
        entries: {
          '9.9.9.9': { seenAt: iso(T0), error: 'ESERVFAIL', resolvedAt: iso(T0), ptr: null, extra: 'dropped' },
          '2001:db8::1': { resolvedAt: iso(T0), ptr: 'six.example' },
          '1.1.1.1': { ptr: 'one.one.one.one', resolvedAt: iso(T0) },
        },
      }),
    );
    const loaded = await loadPtrCache(first);
    const second = join(dir, 'second.json');
    await savePtrCache(second, loaded.cache);
    const text = await readFile(second, 'utf8');
    expect(text).toBe(
      [
        '{',
        ' "version": 1,',
        ' "entries": {',
        `  "1.1.1.1": {\n   "ptr": "one.one.one.one",\n   "resolvedAt": "${iso(T0)}",\n   "seenAt": "${iso(T0)}"\n  },`,
        `  "2001:db8::1": {\n   "ptr": "six.example",\n   "resolvedAt": "${iso(T0)}",\n   "seenAt": "${iso(T0)}"\n  },`,
        `  "9.9.9.9": {\n   "ptr": null,\n   "resolvedAt": "${iso(T0)}",\n   "seenAt": "${iso(T0)}",\n   "error": "ESERVFAIL"\n  }`,
        ' }',
        '}',
        '',
      ].join('\n'),
    );
    // Loaded and saved again: byte for byte the same.
    const third = join(dir, 'third.json');
    await savePtrCache(third, (await loadPtrCache(second)).cache);
    expect(await readFile(third, 'utf8')).toBe(text);

    // Two runs that meet the same IPs in other orders and at other speeds write the same file.
    const names = { '8.8.8.8': ['dns.google'], '8.8.4.4': ['dns.google'], '2001:4860:4860::8888': ['dns.google'] };
    const runs: string[] = [];
    for (const [order, delay] of [
      [['8.8.8.8', '8.8.4.4', '2001:4860:4860::8888', '9.9.9.9'], 0],
      [['9.9.9.9', '2001:4860:4860::8888', '8.8.4.4', '8.8.8.8'], 5],
    ] as const) {
      const cacheFile = join(dir, `run${runs.length}.json`);
      const enricher = await createEnricher(base({ resolver: fakeResolver(names, delay).resolver, cacheFile, now: () => new Date(T0) }));
      await enricher.enrichAll(order);
      await enricher.save();
      runs.push(await readFile(cacheFile, 'utf8'));
    }
    expect(runs[1]).toBe(runs[0]);
  });
});
