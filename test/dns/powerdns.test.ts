/**
 * The PowerDNS provider against a real PowerDNS Authoritative server (gsqlite3 + HTTP API, started by
 * test/services/powerdns.ts). What is written is checked three ways: through the provider, in the raw
 * zone JSON, and over DNS (node:dns, and dig when it is installed).
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ManagedRecord } from '../../scripts/policy/model.ts';
import { isDmarcRecord } from '../../scripts/policy/record.ts';
import { splitCharacterStrings } from '../../scripts/lib/dns-txt.ts';
import { computePlan } from '../../scripts/dns/plan.ts';
import { createPowerDnsProvider, formatTxtContent, readTxtContent } from '../../scripts/dns/providers/powerdns.ts';
import type { DnsProvider, RecordChange, TxtRecord } from '../../scripts/dns/types.ts';
import { startPowerDns, type PowerDnsServer, type PowerDnsZoneJson, type SeedRecord } from '../services/powerdns.ts';

const ZONE = 'example.test';
const STALE = 'v=DMARC1; p=none; rua=mailto:old@example.test';
const DUPLICATE = 'v=DMARC1; p=quarantine';
const UNRELATED = 'google-site-verification=abc123';
const NEW = 'v=DMARC1; p=reject; rua=mailto:dmarc@example.test';
const SUB = 'v=DMARC1; p=quarantine; adkim=s';
const AUTH = 'v=DMARC1';

const NAMES = {
  policy: `_dmarc.${ZONE}`,
  sub: `_dmarc.sub.${ZONE}`,
  auth: `x.example._report._dmarc.${ZONE}`,
  old: `_dmarc.old.${ZONE}`,
  legacy: `_dmarc.legacy.${ZONE}`,
  alias: `_dmarc.alias.${ZONE}`,
};
const ASKED = [NAMES.policy, NAMES.sub, NAMES.auth, NAMES.old, NAMES.legacy];

const quoted = (value: string) => JSON.stringify(value); // plain ASCII without quotes or backslashes
const SEED: SeedRecord[] = [
  { name: ZONE, type: 'A', content: '192.0.2.1' },
  { name: ZONE, type: 'MX', content: '10 mail.example.test.' },
  { name: `mail.${ZONE}`, type: 'A', content: '192.0.2.25' },
  { name: ZONE, type: 'TXT', content: quoted('v=spf1 mx -all'), ttl: 3600 },
  { name: NAMES.policy, type: 'TXT', content: quoted(STALE) },
  { name: NAMES.policy, type: 'TXT', content: quoted(DUPLICATE) },
  { name: NAMES.policy, type: 'TXT', content: quoted(UNRELATED) },
  { name: NAMES.old, type: 'TXT', content: quoted('v=DMARC1; p=reject'), ttl: 600 },
  { name: NAMES.legacy, type: 'TXT', content: quoted('v=DMARC1; p=none'), ttl: 900 },
  { name: NAMES.legacy, type: 'TXT', content: quoted('ms=12345') },
  { name: NAMES.alias, type: 'CNAME', content: 'dmarc.provider.example.' },
];

let pdns: PowerDnsServer;

beforeAll(async () => {
  pdns = await startPowerDns();
});

afterAll(async () => {
  await pdns?.stop();
});

beforeEach(async () => {
  await pdns.deleteZone(ZONE);
  await pdns.createZone(ZONE, SEED);
});

/** A provider whose requests are recorded. */
function provider(overrides: { apiKey?: string; apiUrl?: string } = {}): { dns: DnsProvider; calls: { method: string; url: string }[] } {
  const calls: { method: string; url: string }[] = [];
  const dns = createPowerDnsProvider({
    apiUrl: overrides.apiUrl ?? pdns.apiUrl,
    apiKey: overrides.apiKey ?? pdns.apiKey,
    serverId: pdns.serverId,
    fetch: async (input, init) => {
      calls.push({ method: init?.method ?? 'GET', url: String(input) });
      return fetch(input, init);
    },
  });
  return { dns, calls };
}

function change(partial: Pick<RecordChange, 'action' | 'name' | 'before' | 'after'> & Partial<RecordChange>): RecordChange {
  return {
    provider: 'powerdns',
    zone: ZONE,
    type: 'TXT',
    ttlBefore: partial.before === null ? null : 300,
    ttlAfter: partial.after === null ? null : 300,
    reason: 'test',
    risky: partial.action === 'delete',
    ...partial,
  };
}

/** The TXT answers at a name as lists of character-strings; [] when there is no TXT there. */
async function served(name: string): Promise<string[][]> {
  try {
    return (await pdns.resolver().resolveTxt(name)).sort((a, b) => a.join('').localeCompare(b.join('')));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOTFOUND' || code === 'ENODATA') return [];
    throw error;
  }
}

/** The zone minus what dmarcops may change: DMARC records at the managed names, their TTL, and the SOA serial. */
function unrelatedPart(zone: PowerDnsZoneJson): unknown {
  const managed = new Set(ASKED.map((name) => `${name}.`));
  const rrsets = zone.rrsets.flatMap((rrset) => {
    if (rrset.type === 'SOA') {
      return [
        {
          ...rrset,
          records: rrset.records.map((record) => ({ ...record, content: record.content.replace(/^(\S+ \S+ )\d+/, '$1<serial>') })),
        },
      ];
    }
    if (rrset.type !== 'TXT' || !managed.has(rrset.name)) return [rrset];
    const kept = rrset.records.filter((record) => !isDmarcRecord(readTxtContent(record.content).value));
    return kept.length === 0 ? [] : [{ name: rrset.name, type: rrset.type, comments: rrset.comments, records: kept }];
  });
  const { serial: _serial, edited_serial: _edited, ...rest } = zone;
  return { ...rest, rrsets };
}

/** A loopback port nothing listens on (it was free a moment ago). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const byNameValue = (a: TxtRecord, b: TxtRecord) => a.name.localeCompare(b.name) || a.value.localeCompare(b.value);

describe('PowerDNS provider against a real server', () => {
  it('listTxt returns exactly the TXT records at the names asked, in one API call', async () => {
    const { dns, calls } = provider();
    const records = await dns.listTxt(ZONE, ASKED);
    expect(calls).toEqual([{ method: 'GET', url: `${pdns.apiUrl}/api/v1/servers/localhost/zones/example.test.` }]);
    expect(records.sort(byNameValue)).toEqual(
      [
        { name: NAMES.legacy, ttl: 900, value: 'ms=12345', strings: ['ms=12345'] },
        { name: NAMES.legacy, ttl: 900, value: 'v=DMARC1; p=none', strings: ['v=DMARC1; p=none'] },
        { name: NAMES.old, ttl: 600, value: 'v=DMARC1; p=reject', strings: ['v=DMARC1; p=reject'] },
        { name: NAMES.policy, ttl: 300, value: UNRELATED, strings: [UNRELATED] },
        { name: NAMES.policy, ttl: 300, value: DUPLICATE, strings: [DUPLICATE] },
        { name: NAMES.policy, ttl: 300, value: STALE, strings: [STALE] },
      ].sort(byNameValue),
    );
    // Names are matched without case or trailing dot; nothing else in the zone (apex SPF) leaks in.
    expect(await dns.listTxt(`${ZONE}.`, [`_DMARC.OLD.${ZONE}.`])).toEqual([
      { name: NAMES.old, ttl: 600, value: 'v=DMARC1; p=reject', strings: ['v=DMARC1; p=reject'] },
    ]);
    expect(await dns.listTxt(ZONE, [])).toEqual([]);
    expect(calls).toHaveLength(2); // no request for an empty list of names
  });

  it('applies update, creates and deletes in one PATCH, serves them over DNS, and leaves everything else alone', async () => {
    const { dns, calls } = provider();
    const before = await pdns.getZone(ZONE);
    const current = await dns.listTxt(ZONE, ASKED);
    const changes: RecordChange[] = [
      change({ action: 'update', name: NAMES.policy, before: [DUPLICATE, STALE], after: [NEW], ttlAfter: 600 }),
      change({ action: 'create', name: NAMES.sub, before: null, after: [SUB] }),
      change({ action: 'create', name: NAMES.auth, before: null, after: [AUTH] }),
      change({ action: 'delete', name: NAMES.old, before: ['v=DMARC1; p=reject'], after: null, ttlBefore: 600 }),
      change({ action: 'delete', name: NAMES.legacy, before: ['v=DMARC1; p=none'], after: null, ttlBefore: 900 }),
    ];
    calls.length = 0;
    await dns.applyZone(ZONE, changes, current);
    expect(calls.map((call) => call.method)).toEqual(['GET', 'PATCH']);

    // Over DNS: exactly the new strings; the unrelated TXT at _dmarc is still served beside them.
    expect(await served(NAMES.policy)).toEqual(
      [[UNRELATED], splitCharacterStrings(NEW)].sort((a, b) => a.join('').localeCompare(b.join(''))),
    );
    expect(await served(NAMES.sub)).toEqual([[SUB]]);
    expect(await served(NAMES.auth)).toEqual([[AUTH]]);
    expect(await served(NAMES.old)).toEqual([]);
    expect(await served(NAMES.legacy)).toEqual([['ms=12345']]);
    const dig = ['/usr/bin/dig', '/bin/dig'].find((path) => existsSync(path));
    if (dig !== undefined) {
      const { stdout } = await promisify(execFile)(dig, [
        '+short',
        '+norecurse',
        '+time=2',
        '+tries=2',
        '@127.0.0.1',
        '-p',
        String(pdns.dnsPort),
        'TXT',
        NAMES.policy,
      ]);
      expect(stdout.trim().split('\n').sort()).toEqual([formatTxtContent(NEW), quoted(UNRELATED)].sort());
    }

    // In the zone: the new RRsets as written, the rest byte-identical, the SOA serial bumped by PowerDNS.
    const after = await pdns.getZone(ZONE);
    const txt = (name: string) => after.rrsets.find((rrset) => rrset.name === `${name}.` && rrset.type === 'TXT');
    expect(txt(NAMES.policy)).toMatchObject({
      ttl: 600,
      records: expect.arrayContaining([
        { content: '"v=DMARC1; p=reject; rua=mailto:dmarc@example.test"', disabled: false },
        { content: quoted(UNRELATED), disabled: false },
      ]),
    });
    expect(txt(NAMES.policy)?.records).toHaveLength(2);
    expect(txt(NAMES.legacy)).toMatchObject({ ttl: 900, records: [{ content: quoted('ms=12345'), disabled: false }] });
    expect(txt(NAMES.old)).toBeUndefined();
    expect(unrelatedPart(after)).toEqual(unrelatedPart(before));
    expect(after.serial).toBeGreaterThan(before.serial);
    expect((await pdns.resolver().resolveSoa(ZONE)).serial).toBe(after.serial);

    // Idempotence: planning the same desired state again gives no change, so nothing is sent.
    const desired: ManagedRecord[] = [
      { zone: ZONE, name: NAMES.policy, type: 'TXT', ttl: 600, values: [NEW], provider: 'powerdns', purpose: 'policy', domain: ZONE },
      { zone: ZONE, name: NAMES.sub, type: 'TXT', ttl: 300, values: [SUB], provider: 'powerdns', purpose: 'policy', domain: `sub.${ZONE}` },
      {
        zone: ZONE,
        name: NAMES.auth,
        type: 'TXT',
        ttl: 300,
        values: [AUTH],
        provider: 'powerdns',
        purpose: 'report-authorization',
        domain: 'x.example',
      },
    ];
    calls.length = 0;
    const listed = await dns.listTxt(ZONE, ASKED);
    const plan = computePlan(desired, [{ provider: 'powerdns', zone: ZONE, names: [...ASKED].sort(), records: listed }]);
    expect(plan.changes).toEqual([]);
    await dns.applyZone(ZONE, plan.changes, listed);
    expect(calls.map((call) => call.method)).toEqual(['GET']); // the listing only
    expect(await pdns.getZone(ZONE)).toEqual(after);

    // Replaying the old changes (already applied) reads the zone, finds nothing to do and sends no PATCH.
    calls.length = 0;
    await dns.applyZone(ZONE, changes, current);
    expect(calls.map((call) => call.method)).toEqual(['GET']);
    expect(await pdns.getZone(ZONE)).toEqual(after);
  });

  it('splits a record over 255 octets into several strings that round-trip through the API and DNS', async () => {
    const { dns } = provider();
    const rua = Array.from({ length: 14 }, (_, index) => `mailto:aggregate-reports-${index}@reports.example.test`).join(',');
    const long = `v=DMARC1; p=reject; sp=quarantine; adkim=s; aspf=s; rua=${rua}`;
    expect(new TextEncoder().encode(long).length).toBeGreaterThan(600);
    const name = `_dmarc.long.${ZONE}`;
    await dns.applyZone(ZONE, [change({ action: 'create', name, before: null, after: [long] })], []);

    const expected = splitCharacterStrings(long);
    expect(expected.length).toBeGreaterThanOrEqual(3);
    const content = (await pdns.getZone(ZONE)).rrsets.find((rrset) => rrset.name === `${name}.`)?.records[0]?.content ?? '';
    expect(content).toBe(formatTxtContent(long));
    const stored = readTxtContent(content).strings;
    expect(stored).toEqual(expected);
    for (const piece of stored) expect(new TextEncoder().encode(piece).length).toBeLessThanOrEqual(255);

    expect(await dns.listTxt(ZONE, [name])).toEqual([{ name, ttl: 300, value: long, strings: expected }]);
    expect(await served(name)).toEqual([expected]);
  });

  it('escapes quotes, backslashes and non-ASCII, and reads them back', async () => {
    const { dns } = provider();
    const odd = 'v=DMARC1; p=none; x="quoted" \\back\\slash; note=café';
    const name = `_dmarc.odd.${ZONE}`;
    await dns.applyZone(ZONE, [change({ action: 'create', name, before: null, after: [odd] })], []);
    const content = (await pdns.getZone(ZONE)).rrsets.find((rrset) => rrset.name === `${name}.`)?.records[0]?.content;
    expect(content).toBe('"v=DMARC1; p=none; x=\\"quoted\\" \\\\back\\\\slash; note=caf\\195\\169"');
    expect(await dns.listTxt(ZONE, [name])).toEqual([{ name, ttl: 300, value: odd, strings: [odd] }]);
    // node:dns hands TXT octets over as latin1.
    const answers = await served(name);
    expect(answers.map((strings) => Buffer.from(strings.join(''), 'latin1').toString('utf8'))).toEqual([odd]);
  });

  it('is atomic: a PATCH with one invalid RRset changes nothing', async () => {
    const { dns, calls } = provider();
    const before = await pdns.getZone(ZONE);
    const current = await dns.listTxt(ZONE, [NAMES.policy, NAMES.alias]);
    const changes = [
      change({ action: 'update', name: NAMES.policy, before: [DUPLICATE, STALE], after: [NEW] }),
      change({ action: 'create', name: `_dmarc.new.${ZONE}`, before: null, after: [SUB] }),
      // A TXT where a CNAME lives: PowerDNS refuses this RRset, and with it the whole PATCH.
      change({ action: 'create', name: NAMES.alias, before: null, after: [SUB] }),
    ];
    calls.length = 0;
    const error = await dns.applyZone(ZONE, changes, current).then(
      () => undefined,
      (reason: unknown) => reason as Error,
    );
    expect(error?.message).toMatch(/HTTP 422.*_dmarc\.alias\.example\.test\. IN TXT: Conflicts with pre-existing RRset/);
    expect(calls.map((call) => call.method)).toEqual(['GET', 'PATCH']);
    expect(await pdns.getZone(ZONE)).toEqual(before);
    expect(await served(NAMES.policy)).toHaveLength(3);
  });

  it('refuses a stale plan: nothing is written when the records changed since they were read', async () => {
    const { dns, calls } = provider();
    const current = await dns.listTxt(ZONE, [NAMES.policy, NAMES.sub]);
    await pdns.api('PATCH', `/zones/${ZONE}.`, {
      rrsets: [
        {
          name: `${NAMES.sub}.`,
          type: 'TXT',
          ttl: 300,
          changetype: 'REPLACE',
          records: [{ content: quoted('v=DMARC1; p=none'), disabled: false }],
        },
      ],
    });
    const before = await pdns.getZone(ZONE);
    calls.length = 0;
    const changes = [
      change({ action: 'update', name: NAMES.policy, before: [DUPLICATE, STALE], after: [NEW] }),
      change({ action: 'create', name: NAMES.sub, before: null, after: [SUB] }),
    ];
    await expect(dns.applyZone(ZONE, changes, current)).rejects.toThrow(
      'zone example.test changed since it was planned, nothing written: ' +
        '_dmarc.sub.example.test holds "v=DMARC1; p=none", the plan expected no DMARC record',
    );
    expect(calls.map((call) => call.method)).toEqual(['GET']);
    expect(await pdns.getZone(ZONE)).toEqual(before);
  });

  it('keeps disabled records and non-DMARC records byte for byte when it replaces an RRset', async () => {
    const { dns } = provider();
    const name = `_dmarc.kept.${ZONE}`;
    // Content as another tool may have stored it: split and escaped differently from how we would write it.
    const foreign = '"ver" "ification=\\120yz"';
    await pdns.api('PATCH', `/zones/${ZONE}.`, {
      rrsets: [
        {
          name: `${name}.`,
          type: 'TXT',
          ttl: 300,
          changetype: 'REPLACE',
          records: [
            { content: foreign, disabled: false },
            { content: quoted('v=DMARC1; p=reject; pct=50'), disabled: true },
            { content: quoted('v=DMARC1; p=none'), disabled: false },
          ],
        },
      ],
    });
    const current = await dns.listTxt(ZONE, [name]);
    expect(current.map((record) => record.value).sort()).toEqual(['v=DMARC1; p=none', 'verification=xyz']);
    await dns.applyZone(ZONE, [change({ action: 'update', name, before: ['v=DMARC1; p=none'], after: [NEW] })], current);
    const records = (await pdns.getZone(ZONE)).rrsets.find((rrset) => rrset.name === `${name}.`)?.records;
    expect(records).toEqual(
      expect.arrayContaining([
        { content: foreign, disabled: false },
        { content: quoted('v=DMARC1; p=reject; pct=50'), disabled: true },
        { content: quoted(NEW), disabled: false },
      ]),
    );
    expect(records).toHaveLength(3);
  });

  it('reports a wrong API key with the HTTP status and without the key', async () => {
    const wrongKey = 'wrong-key-Zq8Xv3';
    const { dns } = provider({ apiKey: wrongKey });
    const listing = await dns.listTxt(ZONE, ASKED).then(
      () => undefined,
      (reason: unknown) => reason as Error,
    );
    expect(listing?.message).toMatch(
      new RegExp(
        String.raw`^PowerDNS API at http://127\.0\.0\.1:\d+: reading zone example\.test failed: ` +
          String.raw`HTTP 401 Unauthorized: Unauthorized \(check PDNS_API_KEY; the key is not shown\)$`,
      ),
    );
    expect(listing?.message).not.toContain(wrongKey);
    expect(listing?.message).not.toContain(pdns.apiKey);

    const before = await pdns.getZone(ZONE);
    const applying = await dns.applyZone(ZONE, [change({ action: 'create', name: NAMES.sub, before: null, after: [SUB] })], []).then(
      () => undefined,
      (reason: unknown) => reason as Error,
    );
    expect(applying?.message).toMatch(/HTTP 401/);
    expect(applying?.message).not.toContain(wrongKey);
    expect(await pdns.getZone(ZONE)).toEqual(before);
  });

  it('names the zone and the status when the zone does not exist, and the address when nothing listens', async () => {
    const { dns } = provider();
    await expect(dns.listTxt('missing.test', ['_dmarc.missing.test'])).rejects.toThrow(
      /reading zone missing\.test failed: HTTP 404 Not Found.*PDNS_SERVER_ID/,
    );
    const port = await closedPort();
    const closed = provider({ apiUrl: `http://127.0.0.1:${port}` });
    const error = await closed.dns.listTxt(ZONE, ASKED).then(
      () => undefined,
      (reason: unknown) => reason as Error,
    );
    expect(error?.message).toBe(`PowerDNS API at http://127.0.0.1:${port}: reading zone example.test failed: ECONNREFUSED`);
  });
});
