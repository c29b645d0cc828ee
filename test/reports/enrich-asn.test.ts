import { mkdtemp as makeTemp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ASN_PACKAGE, asnDatabaseStatus, lookupAsn, lookupCountry, openAsnDatabase, readCache } from '../../scripts/reports/enrich/asn.ts';
import type { AsnDatabaseFiles } from '../../scripts/reports/enrich/asn.ts';

// Every temp dir this suite makes, removed at the end (and only those).
const tempDirs: string[] = [];
async function mkdtemp(prefix: string): Promise<string> {
  const dir = await makeTemp(prefix);
  tempDirs.push(dir);
  return dir;
}
afterAll(async () => {
  await Promise.all(tempDirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

/** Files in the packages' format (same columns, quoting and order), with made-up ranges. */
async function fixture(overrides: Partial<Record<keyof AsnDatabaseFiles, string>> = {}): Promise<AsnDatabaseFiles> {
  const dir = await mkdtemp(join(tmpdir(), 'dmarcops-asn-'));
  const contents: Record<keyof AsnDatabaseFiles, string> = {
    asnIpv4: [
      '1.0.0.0,1.0.0.255,13335,"Cloudflare, Inc."',
      '8.8.4.0,8.8.4.255,15169,Google LLC',
      '8.8.8.0,8.8.8.255,15169,Google LLC',
      '9.9.9.0,9.9.9.255,19281,"Quad9 ""the"" resolver"',
      '11.0.0.0,11.0.0.255,64500,',
      '223.255.255.0,223.255.255.255,64501,Last Range',
      '',
    ].join('\r\n'),
    asnIpv6: [
      '2001:4860::,2001:4860:ffff:ffff:ffff:ffff:ffff:ffff,15169,Google LLC',
      '2606:4700::,2606:4700:ffff:ffff:ffff:ffff:ffff:ffff,13335,"Cloudflare, Inc."',
      '2a00:1450:4000::,2a00:1450:4000:0:ffff:ffff:ffff:ffff,15169,Google LLC',
    ].join('\n'),
    countryIpv4: ['1.0.0.0,1.0.0.255,AU', '8.0.0.0,8.255.255.255,US', '11.0.0.0,11.0.0.255,ZZ'].join('\n'),
    countryIpv6: ['2001:4860::,2001:4860:ffff:ffff:ffff:ffff:ffff:ffff,US'].join('\n'),
  };
  const files: AsnDatabaseFiles = { asnIpv4: '', asnIpv6: '' };
  for (const key of Object.keys(contents) as (keyof AsnDatabaseFiles)[]) {
    const path = join(dir, `${key}.csv`);
    await writeFile(path, overrides[key] ?? contents[key]);
    files[key] = path;
  }
  return files;
}

describe('the range database (fixture files in the package format)', () => {
  let files: AsnDatabaseFiles;
  beforeAll(async () => {
    files = await fixture();
  });

  test('IPv4: ranges are inclusive at both ends; gaps are null', () => {
    const db = openAsnDatabase(files);
    expect(db.lookup('8.8.8.8')).toEqual({ asn: 15169, asName: 'Google LLC', country: 'US' });
    expect(db.lookup('8.8.8.0')?.asn).toBe(15169);
    expect(db.lookup('8.8.8.255')?.asn).toBe(15169);
    expect(db.lookup('8.8.9.0')).toBeNull();
    expect(db.lookup('8.8.7.255')).toBeNull();
    expect(db.lookup('1.0.0.0')).toEqual({ asn: 13335, asName: 'Cloudflare, Inc.', country: 'AU' });
    expect(db.lookup('223.255.255.255')?.asName).toBe('Last Range');
    expect(db.lookup('5.5.5.5')).toBeNull();
  });

  test('quoted names with commas and doubled quotes; an empty name is null; no country is null', () => {
    const db = openAsnDatabase(files);
    expect(db.lookup('9.9.9.9')).toEqual({ asn: 19281, asName: 'Quad9 "the" resolver', country: null });
    expect(db.lookup('11.0.0.1')).toEqual({ asn: 64500, asName: null, country: 'ZZ' });
  });

  test('IPv6, in any spelling; IPv4-mapped IPv6 is looked up as IPv4', () => {
    const db = openAsnDatabase(files);
    expect(db.lookup('2001:4860:4860::8888')).toEqual({ asn: 15169, asName: 'Google LLC', country: 'US' });
    expect(db.lookup('2001:4860:4860:0000:0000:0000:0000:8888')?.asn).toBe(15169);
    expect(db.lookup('2606:4700:4700::1111')).toEqual({ asn: 13335, asName: 'Cloudflare, Inc.', country: null });
    expect(db.lookup('2a00:1450:4000::1')?.asn).toBe(15169);
    expect(db.lookup('2a00:1450:4000:1::1')).toBeNull(); // past the range's end in the low 64 bits
    expect(db.lookup('2a00:1450:3fff:ffff:ffff:ffff:ffff:ffff')).toBeNull();
    expect(db.lookup('::ffff:8.8.8.8')?.asn).toBe(15169);
  });

  test('private, reserved and invalid addresses are null without a search', () => {
    const db = openAsnDatabase(files);
    for (const ip of [
      '10.0.0.1',
      '127.0.0.1',
      '192.168.1.1',
      '172.16.0.1',
      '100.64.0.1',
      '169.254.1.1',
      '::1',
      'fe80::1',
      'fd12::1',
      '2001:db8::1',
      'ff02::1',
      '224.0.0.1',
      'nonsense',
      '',
    ]) {
      expect(db.lookup(ip), ip).toBeNull();
    }
  });

  test('tables load lazily, each at its first use', () => {
    const db = openAsnDatabase(files);
    expect(db.stats().ranges).toEqual({});
    db.lookup('8.8.8.8');
    expect(db.stats().ranges).toEqual({ asnIpv4: 6, countryIpv4: 3 });
    db.lookup('2001:4860::1');
    expect(db.stats().ranges).toEqual({ asnIpv4: 6, countryIpv4: 3, asnIpv6: 3, countryIpv6: 1 });
    expect(db.country('1.0.0.7')).toBe('AU');
  });

  test('country files are optional', () => {
    const db = openAsnDatabase({ asnIpv4: files.asnIpv4, asnIpv6: files.asnIpv6 });
    expect(db.lookup('8.8.8.8')).toEqual({ asn: 15169, asName: 'Google LLC', country: null });
  });

  test('an unsorted file is refused (bisection would give wrong answers)', async () => {
    const unsorted = await fixture({ asnIpv4: '8.8.8.0,8.8.8.255,15169,Google\n1.0.0.0,1.0.0.255,13335,Cloudflare\n' });
    expect(() => openAsnDatabase(unsorted).lookup('8.8.8.8')).toThrow(/not sorted/);
  });
});

// The real database comes from npm. These tests run once it is installed (see the README).
const status = asnDatabaseStatus();
const installed = status.available;
const why = installed ? '' : ` — SKIPPED: ${ASN_PACKAGE} is not installed (npm install ${ASN_PACKAGE} @ip-location-db/asn-country)`;

describe.skipIf(!installed)(`the installed offline database${why}`, () => {
  test('well-known addresses', () => {
    expect(lookupAsn('8.8.8.8')).toMatchObject({ asn: 15169, country: 'US' });
    expect(lookupAsn('8.8.8.8')?.asName).toMatch(/google/i);
    expect(lookupAsn('1.1.1.1')).toMatchObject({ asn: 13335 });
    expect(lookupAsn('1.1.1.1')?.asName).toMatch(/cloudflare/i);
    expect(lookupAsn('2001:4860:4860::8888')).toMatchObject({ asn: 15169 });
    expect(lookupAsn('2606:4700:4700::1111')).toMatchObject({ asn: 13335 });
    expect(lookupAsn('209.85.220.41')?.asn).toBe(15169); // Gmail's outbound servers
    expect(lookupAsn('167.89.0.1')?.asn).toBe(11377); // SendGrid
  });

  test('private and reserved ranges are null', () => {
    for (const ip of ['10.0.0.1', '192.168.1.1', '127.0.0.1', '::1', 'fe80::1', '2001:db8::1']) expect(lookupAsn(ip), ip).toBeNull();
  });

  test('country codes are ISO 3166-1 alpha-2 when a country package is installed', () => {
    if (status.countryPackage === undefined) return;
    expect(lookupCountry('8.8.8.8')).toBe('US');
    expect(lookupAsn('2001:4860:4860::8888')?.country).toMatch(/^[A-Z]{2}$/);
  });

  test('reports what it loaded', () => {
    lookupAsn('2001:4860:4860::8888');
    const loaded = asnDatabaseStatus();
    expect(loaded.asnPackage).toMatch(/^@ip-location-db\/asn@/);
    expect(loaded.ranges?.asnIpv4).toBeGreaterThan(100_000);
    expect(loaded.ranges?.asnIpv6).toBeGreaterThan(10_000);
  });
});

describe.skipIf(installed)('without the offline database', () => {
  test('lookups are null and the reason says what to install', () => {
    expect(lookupAsn('8.8.8.8')).toBeNull();
    expect(status.reason).toContain(ASN_PACKAGE);
  });
});

describe('the binary cache of parsed tables', () => {
  const answers = (db: ReturnType<typeof openAsnDatabase>) =>
    ['1.0.0.1', '9.9.9.9', '11.0.0.1', '2606:4700::1', '8.8.8.8', '12.0.0.1'].map((ip) => db.lookup(ip));

  test('writes the cache on a miss, answers the same from it on a hit, and rebuilds a corrupt one', async () => {
    const files = await fixture({
      asnIpv4: '1.0.0.0,1.0.0.255,13335,"Cloudflare, Inc."\n9.9.9.0,9.9.9.255,19281,"Café ""Ü"" Net"\n11.0.0.0,11.0.0.255,64500,\n',
    });
    const cacheDir = await mkdtemp(join(tmpdir(), 'dmarcops-asn-cache-'));
    const plain = answers(openAsnDatabase(files));
    expect(plain[1]).toEqual({ asn: 19281, asName: 'Café "Ü" Net', country: null });

    expect(answers(openAsnDatabase(files, { cacheDir }))).toEqual(plain); // miss: parses, writes
    const written = (await readdir(cacheDir)).filter((f) => f.endsWith('.bin'));
    expect(written.length).toBe(4);
    expect((await readdir(cacheDir)).some((f) => f.endsWith('.tmp'))).toBe(false);

    // A hit (UTF-8 names survive the round trip).
    const ipv4 = written.find((f) => f.startsWith('asnIpv4-'))!;
    const onDisk = await readFile(join(cacheDir, ipv4));
    expect(readCache(join(cacheDir, ipv4), 1, true)?.nameList).toContain('Café "Ü" Net');
    expect(answers(openAsnDatabase(files, { cacheDir }))).toEqual(plain);

    // Corrupt (truncated, then garbage): parsed again and rewritten.
    for (const damaged of [onDisk.subarray(0, onDisk.length - 5), Buffer.from('garbage!')]) {
      await writeFile(join(cacheDir, ipv4), damaged);
      expect(readCache(join(cacheDir, ipv4), 1, true)).toBeNull();
      expect(answers(openAsnDatabase(files, { cacheDir }))).toEqual(plain);
      expect(await readFile(join(cacheDir, ipv4))).toEqual(onDisk);
    }
  });

  test('a cache hit does not read the CSV', async () => {
    const files = await fixture();
    const cacheDir = await mkdtemp(join(tmpdir(), 'dmarcops-asn-cache-'));
    const mtime = new Date('2020-01-01T00:00:00Z'); // whole seconds: restored exactly below
    await utimes(files.asnIpv4, mtime, mtime);
    const expected = answers(openAsnDatabase(files, { cacheDir }));
    const { size } = await stat(files.asnIpv4);
    await writeFile(files.asnIpv4, 'x'.repeat(size)); // unparseable, same size…
    await utimes(files.asnIpv4, mtime, mtime); // …and same mtime: the cache key is unchanged
    expect(answers(openAsnDatabase(files, { cacheDir }))).toEqual(expected);
    expect(() => answers(openAsnDatabase(files))).toThrow(/malformed row/);
  });
});
