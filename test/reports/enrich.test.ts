import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { createEnricher, isKnownForwarder } from '../../scripts/reports/enrich/index.ts';
import type { AddressResolver, AsnInfo, EnricherOptions, PtrResolver } from '../../scripts/reports/enrich/index.ts';

const PTRS: Record<string, string[]> = {
  '54.240.8.30': ['a8-30.smtp-out.amazonses.com.'],
  '209.85.220.41': ['mail-sor-f41.google.com.'],
  '167.89.1.1': ['o1.em.customer.example.'],
  '3.80.1.2': ['ec2-3-80-1-2.compute-1.amazonaws.com.'],
  '198.2.1.1': ['localhost'],
};
const ASNS: Record<string, AsnInfo> = {
  '54.240.8.30': { asn: 14618, asName: 'Amazon.com, Inc.', country: 'US' },
  '167.89.1.1': { asn: 11377, asName: 'SendGrid, Inc.', country: 'US' },
  '203.1.1.1': { asn: 64500, asName: null, country: null },
};

const resolver: PtrResolver = async (ip) => {
  const names = PTRS[ip];
  if (names === undefined) throw Object.assign(new Error('not found'), { code: 'ENOTFOUND' });
  return names;
};

/** The forward side of the same fake zone: every PTR name above has an A record pointing back. */
const forward: AddressResolver = async (name) => {
  const ips = Object.entries(PTRS)
    .filter(([, names]) => names.some((n) => n.toLowerCase().replace(/\.$/, '') === name))
    .map(([ip]) => ip);
  if (ips.length === 0) throw Object.assign(new Error('not found'), { code: 'ENOTFOUND' });
  return ips;
};

const options = (overrides: Partial<EnricherOptions> = {}): EnricherOptions => ({
  offline: false,
  resolver,
  addressResolver: forward,
  asnLookup: (ip) => ASNS[ip] ?? null,
  onWarning: () => {},
  ...overrides,
});

describe('createEnricher', () => {
  test('fills every column: PTR, base domain, sender from the PTR name, ASN, AS name, country', async () => {
    const enricher = await createEnricher(options());
    const result = await enricher.enrichAll(['54.240.8.30', '209.85.220.41']);
    expect(result.get('54.240.8.30')).toEqual({
      ptr: 'a8-30.smtp-out.amazonses.com',
      baseDomain: 'amazonses.com',
      name: 'Amazon SES',
      type: 'ESP',
      asn: 14618,
      asName: 'Amazon.com, Inc.',
      country: 'US',
    });
    expect(result.get('209.85.220.41')).toMatchObject({
      baseDomain: 'google.com',
      name: 'Google Workspace',
      type: 'email provider',
      asn: null,
    });
  });

  test('an unmapped PTR name falls back to the ASN map (customer-branded PTR at SendGrid)', async () => {
    const enricher = await createEnricher(options());
    const result = await enricher.enrichAll(['167.89.1.1']);
    expect(result.get('167.89.1.1')).toMatchObject({
      ptr: 'o1.em.customer.example',
      baseDomain: 'customer.example',
      name: 'SendGrid',
      type: 'ESP',
      asn: 11377,
    });
  });

  test('base domains use the ICANN section of the PSL: cloud hosts group under their operator', async () => {
    const enricher = await createEnricher(options());
    const result = await enricher.enrichAll(['3.80.1.2', '198.2.1.1']);
    expect(result.get('3.80.1.2')).toMatchObject({ baseDomain: 'amazonaws.com', name: 'Amazon Web Services', type: 'hosting' });
    expect(result.get('198.2.1.1')).toMatchObject({ ptr: 'localhost', baseDomain: null, name: null });
  });

  test('no PTR and no known ASN: only what the database knows', async () => {
    const enricher = await createEnricher(options());
    const result = await enricher.enrichAll(['203.1.1.1']);
    expect(result.get('203.1.1.1')).toEqual({
      ptr: null,
      baseDomain: null,
      name: null,
      type: null,
      asn: 64500,
      asName: null,
      country: null,
    });
  });

  test('offline, the sender map and the ASN data still apply', async () => {
    const calls: string[] = [];
    const enricher = await createEnricher(
      options({
        offline: true,
        resolver: async (ip) => {
          calls.push(ip);
          return [];
        },
      }),
    );
    const result = await enricher.enrichAll(['167.89.1.1', '54.240.8.30']);
    expect(calls).toEqual([]);
    expect(result.get('167.89.1.1')).toMatchObject({ ptr: null, name: 'SendGrid', asn: 11377 });
    expect(result.get('54.240.8.30')).toMatchObject({ ptr: null, name: null, asn: 14618, country: 'US' });
  });

  test('a throwing ASN lookup leaves those columns null and never rejects', async () => {
    const enricher = await createEnricher(
      options({
        asnLookup: () => {
          throw new Error('database exploded');
        },
      }),
    );
    const result = await enricher.enrichAll(['54.240.8.30']);
    expect(result.get('54.240.8.30')).toMatchObject({ name: 'Amazon SES', asn: null, asName: null, country: null });
  });

  test('results are keyed by the strings given, every distinct one once, in order', async () => {
    const enricher = await createEnricher(options());
    const result = await enricher.enrichAll(new Set(['209.85.220.41', 'garbage', '10.0.0.1']));
    expect([...result.keys()]).toEqual(['209.85.220.41', 'garbage', '10.0.0.1']);
    expect(result.get('garbage')?.ptr).toBeNull();
  });

  test('without a cache file, save() does nothing', async () => {
    const enricher = await createEnricher(options());
    await enricher.enrichAll(['54.240.8.30']);
    await expect(enricher.save()).resolves.toBeUndefined();
  });
});

describe('forward-confirmed reverse DNS (a PTR name counts only when its A/AAAA records point back)', () => {
  // Anyone controls the reverse zone of their own IPs: this one claims to be Google's mail server.
  const FORGED = '45.33.1.1';
  const REAL_GOOGLE = '209.85.220.41';
  const zone = {
    ptr: {
      [FORGED]: ['mail-sor-f41.google.com.'],
      [REAL_GOOGLE]: ['mail-sor-f41.google.com.'],
      '45.33.2.2': ['forwarder.google.com', 'host.self-named.example'],
      '2a00:1450:4864::1': ['mail-ot1-f41.google.com'],
    } as Record<string, string[]>,
    // google.com's own A/AAAA records: the real IPs only.
    a: {
      'mail-sor-f41.google.com': [REAL_GOOGLE],
      'forwarder.google.com': ['209.85.220.69'],
      'host.self-named.example': ['45.33.2.2'],
      'mail-ot1-f41.google.com': ['2a00:1450:4864::1'],
    } as Record<string, string[]>,
  };
  const queries: string[] = [];
  const zoneOptions = (overrides: Partial<EnricherOptions> = {}): EnricherOptions =>
    options({
      resolver: async (ip) => zone.ptr[ip] ?? [],
      addressResolver: async (name, family) => {
        queries.push(`${name}/${family}`);
        return (zone.a[name] ?? []).filter((address) => (family === 6) === address.includes(':'));
      },
      asnLookup: (ip) =>
        ip.startsWith('209.85.') || ip.startsWith('2a00:1450:')
          ? { asn: 15169, asName: 'GOOGLE', country: 'US' }
          : { asn: 63949, asName: 'EXAMPLE-ISP', country: 'DE' },
      ...overrides,
    });

  test('a forged PTR (google.com for an IP google.com does not list) names nothing: no ptr, base domain, service or forwarder', async () => {
    const enricher = await createEnricher(zoneOptions());
    const result = await enricher.enrichAll([FORGED, REAL_GOOGLE]);
    expect(result.get(FORGED)).toEqual({
      ptr: null,
      baseDomain: null,
      name: null,
      type: null,
      asn: 63949,
      asName: 'EXAMPLE-ISP',
      country: 'DE',
    });
    expect(isKnownForwarder(result.get(FORGED)!.ptr, result.get(FORGED)!.asn)).toBe(false);
    // The real one is confirmed and named.
    expect(result.get(REAL_GOOGLE)).toMatchObject({ ptr: 'mail-sor-f41.google.com', baseDomain: 'google.com', name: 'Google Workspace' });
    expect(isKnownForwarder(result.get(REAL_GOOGLE)!.ptr, result.get(REAL_GOOGLE)!.asn)).toBe(true);
    expect(enricher.stats()).toMatchObject({ lookups: 2, forwardLookups: 2, unconfirmed: 1, failures: 0 });
  });

  test('of several PTR names, the smallest confirmed one; IPv6 is confirmed by AAAA', async () => {
    queries.length = 0;
    const enricher = await createEnricher(zoneOptions());
    const result = await enricher.enrichAll(['45.33.2.2', '2a00:1450:4864::1']);
    // forwarder.google.com sorts first but points elsewhere: the self-named host is what is confirmed.
    expect(result.get('45.33.2.2')).toMatchObject({ ptr: 'host.self-named.example', baseDomain: 'self-named.example' });
    expect(result.get('2a00:1450:4864::1')).toMatchObject({ ptr: 'mail-ot1-f41.google.com', name: 'Google Workspace' });
    expect(queries.sort()).toEqual(['forwarder.google.com/4', 'host.self-named.example/4', 'mail-ot1-f41.google.com/6']);
  });

  test('a forward lookup that fails is a failure (retried after the failure TTL), not a confirmation', async () => {
    let now = Date.parse('2026-01-01T00:00:00Z');
    let broken = true;
    const enricher = await createEnricher(
      zoneOptions({
        now: () => new Date(now),
        addressResolver: async (name) => {
          if (broken) throw Object.assign(new Error('SERVFAIL'), { code: 'ESERVFAIL' });
          return zone.a[name] ?? [];
        },
      }),
    );
    expect((await enricher.enrichAll([REAL_GOOGLE])).get(REAL_GOOGLE)?.ptr).toBeNull();
    expect(enricher.stats()).toMatchObject({ failures: 1, unconfirmed: 0 });
    broken = false;
    now += 2 * 60 * 60 * 1000;
    expect((await enricher.enrichAll([REAL_GOOGLE])).get(REAL_GOOGLE)?.ptr).toBe('mail-sor-f41.google.com');
  });

  test('the confirmation is cached: names that failed it are not stored, and are not asked again while fresh', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dmarcops-fcrdns-'));
    try {
      const cacheFile = join(dir, 'ptr.json');
      const first = await createEnricher(zoneOptions({ cacheFile }));
      await first.enrichAll([FORGED, REAL_GOOGLE]);
      await first.save();
      const saved = JSON.parse(await readFile(cacheFile, 'utf8')) as {
        entries: Record<string, { ptr: string | null; confirmed?: boolean }>;
      };
      expect(saved.entries[FORGED]).toMatchObject({ ptr: null, confirmed: false });
      expect(saved.entries[REAL_GOOGLE]).toMatchObject({ ptr: 'mail-sor-f41.google.com', confirmed: true });
      expect(await readFile(cacheFile, 'utf8')).not.toContain(`"${FORGED}": {\n  "ptr": "mail`);

      const calls: string[] = [];
      const second = await createEnricher(
        zoneOptions({
          cacheFile,
          resolver: async (ip) => {
            calls.push(ip);
            return zone.ptr[ip] ?? [];
          },
        }),
      );
      const result = await second.enrichAll([FORGED, REAL_GOOGLE]);
      expect(calls).toEqual([]);
      expect(result.get(FORGED)?.ptr).toBeNull();
      expect(result.get(REAL_GOOGLE)?.ptr).toBe('mail-sor-f41.google.com');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('cache entries from before confirmation existed: looked up again online; offline, no name', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dmarcops-fcrdns-'));
    try {
      const cacheFile = join(dir, 'ptr.json');
      const resolvedAt = new Date().toISOString();
      await writeFile(
        cacheFile,
        JSON.stringify({
          version: 1,
          entries: {
            [FORGED]: { ptr: 'mail-sor-f41.google.com', resolvedAt },
            [REAL_GOOGLE]: { ptr: 'mail-sor-f41.google.com', resolvedAt },
          },
        }),
      );
      const offline = await createEnricher(zoneOptions({ cacheFile, offline: true }));
      const cached = await offline.enrichAll([FORGED, REAL_GOOGLE]);
      expect([cached.get(FORGED)?.ptr, cached.get(REAL_GOOGLE)?.ptr]).toEqual([null, null]);

      const calls: string[] = [];
      const online = await createEnricher(
        zoneOptions({
          cacheFile,
          resolver: async (ip) => {
            calls.push(ip);
            return zone.ptr[ip] ?? [];
          },
        }),
      );
      const fresh = await online.enrichAll([FORGED, REAL_GOOGLE]);
      expect(calls.sort()).toEqual([REAL_GOOGLE, FORGED].sort());
      expect([fresh.get(FORGED)?.ptr, fresh.get(REAL_GOOGLE)?.ptr]).toEqual([null, 'mail-sor-f41.google.com']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
