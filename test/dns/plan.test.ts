import { describe, expect, test } from 'vitest';
import { planChecksum, canonicalJson } from '../../scripts/dns/checksum.ts';
import { computePlan, describeRisk, describeTagChanges, lookupTargets, makePlan, readZones, weakenings } from '../../scripts/dns/plan.ts';
import type { ZoneListing } from '../../scripts/dns/plan.ts';
import type { RecordChange } from '../../scripts/dns/types.ts';
import type { DomainPolicy, ManagedRecord } from '../../scripts/policy/model.ts';
import { managedRecords } from '../../scripts/policy/record.ts';
import { makePolicy } from '../helpers/policy.ts';
import { FakeProvider, fakeResolver } from './fake-provider.ts';

const NOW = new Date('2026-03-01T12:00:00Z');

function desired(...policies: DomainPolicy[]): ManagedRecord[] {
  return managedRecords(policies);
}

async function plan(records: ManagedRecord[], providers: FakeProvider[], options: Parameters<typeof makePlan>[2] = {}) {
  return (await makePlan(records, fakeResolver(...providers), { now: NOW, ...options })).plan;
}

const txt = (name: string, value: string, ttl = 3600) => ({ name, value, ttl });

describe('computing the plan', () => {
  test('a new domain is a create; matching DNS gives no changes', async () => {
    const cloudflare = new FakeProvider('cloudflare', { 'example.com': [] });
    const first = await plan(desired(makePolicy('example.com')), [cloudflare]);
    expect(first.changes).toEqual([
      {
        action: 'create',
        provider: 'cloudflare',
        zone: 'example.com',
        name: '_dmarc.example.com',
        type: 'TXT',
        before: null,
        after: ['v=DMARC1; p=reject'],
        ttlBefore: null,
        ttlAfter: 3600,
        reason: 'new domain example.com',
        risky: false,
      },
    ]);
    cloudflare.add('example.com', txt('_dmarc.example.com', 'v=DMARC1; p=reject'));
    const second = await plan(desired(makePolicy('example.com')), [cloudflare]);
    expect(second.changes).toEqual([]);
    expect(second.zones).toEqual([{ provider: 'cloudflare', zone: 'example.com', names: 1 }]);
  });

  test('a stronger policy is an update that is not risky; the reason names the tags', async () => {
    const cloudflare = new FakeProvider('cloudflare', { 'example.com': [txt('_dmarc.example.com', 'v=DMARC1; p=none')] });
    const result = await plan(desired(makePolicy('example.com', { p: 'reject' })), [cloudflare]);
    expect(result.changes).toMatchObject([
      { action: 'update', before: ['v=DMARC1; p=none'], after: ['v=DMARC1; p=reject'], reason: 'p=none → p=reject', risky: false },
    ]);
  });

  test('a weaker policy is risky, and says how', async () => {
    const cloudflare = new FakeProvider('cloudflare', { 'example.com': [txt('_dmarc.example.com', 'v=DMARC1; p=reject')] });
    const result = await plan(desired(makePolicy('example.com', { p: 'quarantine' })), [cloudflare]);
    const [change] = result.changes;
    expect(change).toMatchObject({ action: 'update', risky: true, reason: 'p=reject → p=quarantine' });
    expect(describeRisk(change as RecordChange)).toBe(
      'weakens the policy: p reject → quarantine, sp reject → quarantine, np reject → quarantine',
    );
  });

  test('only a TTL difference is an update with the TTL in the reason', async () => {
    const cloudflare = new FakeProvider('cloudflare', { 'example.com': [txt('_dmarc.example.com', 'v=DMARC1; p=reject', 300)] });
    const result = await plan(desired(makePolicy('example.com')), [cloudflare]);
    expect(result.changes).toMatchObject([{ action: 'update', ttlBefore: 300, ttlAfter: 3600, reason: 'ttl 300 → 3600', risky: false }]);
  });

  test('a record written differently but meaning the same is rewritten in canonical form', async () => {
    const cloudflare = new FakeProvider('cloudflare', { 'example.com': [txt('_dmarc.example.com', 'v=DMARC1;p=reject;')] });
    const result = await plan(desired(makePolicy('example.com')), [cloudflare]);
    expect(result.changes).toMatchObject([{ action: 'update', reason: 'same policy, rewritten in canonical form', risky: false }]);
  });

  test('a TXT at _dmarc that is not DMARC is reported and left alone', async () => {
    const cloudflare = new FakeProvider('cloudflare', {
      'example.com': [txt('_dmarc.example.com', 'v=DMARC1; p=reject'), txt('_dmarc.example.com', 'google-site-verification=abc')],
    });
    const result = await plan(desired(makePolicy('example.com')), [cloudflare]);
    expect(result.changes).toEqual([]);
    expect(result.notices).toEqual([
      {
        level: 'warning',
        zone: 'example.com',
        name: '_dmarc.example.com',
        message: '1 TXT record here is not DMARC ("google-site-verification=abc"): left alone; --delete-unrelated removes it',
      },
    ]);
  });

  test('--delete-unrelated makes it ours: removed in a risky update, DMARC kept', async () => {
    const cloudflare = new FakeProvider('cloudflare', {
      'example.com': [txt('_dmarc.example.com', 'v=DMARC1; p=reject'), txt('_dmarc.example.com', 'google-site-verification=abc')],
    });
    const result = await plan(desired(makePolicy('example.com')), [cloudflare], { deleteUnrelated: true });
    expect(result.notices).toEqual([]);
    const [change] = result.changes;
    expect(change).toMatchObject({
      action: 'update',
      before: ['google-site-verification=abc', 'v=DMARC1; p=reject'],
      after: ['v=DMARC1; p=reject'],
      reason: 'removes 1 TXT record that is not DMARC (--delete-unrelated)',
      risky: true,
    });
    expect(describeRisk(change as RecordChange)).toBe('deletes 1 TXT record that is not DMARC');
  });

  test('two DMARC records at one name are shown and replaced by one (not risky: receivers ignored both)', async () => {
    const cloudflare = new FakeProvider('cloudflare', {
      'example.com': [txt('_dmarc.example.com', 'v=DMARC1; p=reject'), txt('_dmarc.example.com', 'v=DMARC1; p=none')],
    });
    const result = await plan(desired(makePolicy('example.com', { p: 'quarantine' })), [cloudflare]);
    expect(result.changes).toMatchObject([
      {
        action: 'update',
        before: ['v=DMARC1; p=none', 'v=DMARC1; p=reject'],
        after: ['v=DMARC1; p=quarantine'],
        reason: '2 DMARC records at one name (invalid): replaced by one',
        risky: false,
      },
    ]);
    expect(result.notices).toMatchObject([
      {
        level: 'warning',
        message: '2 DMARC records at one name: receivers ignore them all (RFC 7489 §6.6.3); the plan replaces them with one',
      },
    ]);
  });

  test('a removed domain file deletes its record in a managed zone (risky); unmanaged zones are never looked at', async () => {
    const cloudflare = new FakeProvider('cloudflare', {
      'example.com': [txt('_dmarc.example.com', 'v=DMARC1; p=reject'), txt('_dmarc.old.example.com', 'v=DMARC1; p=none', 300)],
      'other.example': [txt('_dmarc.other.example', 'v=DMARC1; p=none')],
    });
    const records = desired(makePolicy('example.com'));
    const targets = lookupTargets(records, { removedDomains: ['old.example.com', 'other.example', 'example.com'] });
    expect(targets).toEqual([{ provider: 'cloudflare', zone: 'example.com', names: ['_dmarc.example.com', '_dmarc.old.example.com'] }]);
    const result = await plan(records, [cloudflare], { removedDomains: ['old.example.com', 'other.example'] });
    expect(result.changes).toEqual([
      {
        action: 'delete',
        provider: 'cloudflare',
        zone: 'example.com',
        name: '_dmarc.old.example.com',
        type: 'TXT',
        before: ['v=DMARC1; p=none'],
        after: null,
        ttlBefore: 300,
        ttlAfter: null,
        reason: 'no domain file for old.example.com (removed from domains/)',
        risky: true,
      },
    ]);
    expect(describeRisk(result.changes[0] as RecordChange)).toBe(
      'deletes the DMARC record: receivers apply no DMARC policy to old.example.com',
    );
    expect(cloudflare.listCalls.map((call) => call.zone)).toEqual(['example.com']);
  });

  test('a removed domain whose name holds only a non-DMARC TXT gives no change', async () => {
    const cloudflare = new FakeProvider('cloudflare', { 'example.com': [txt('_dmarc.old.example.com', 'something else')] });
    const result = await plan(desired(makePolicy('example.com')), [cloudflare], { removedDomains: ['old.example.com'] });
    expect(result.changes).toMatchObject([{ action: 'create', name: '_dmarc.example.com' }]);
  });

  test('a removed domain is looked up in the most specific managed zone', () => {
    const records = desired(
      makePolicy('example.com'),
      makePolicy('a.sub.example.com', { dns: { provider: 'powerdns', zone: 'sub.example.com', ttl: 60 } }),
    );
    const targets = lookupTargets(records, { removedDomains: ['b.sub.example.com'] });
    expect(targets).toEqual([
      { provider: 'cloudflare', zone: 'example.com', names: ['_dmarc.example.com'] },
      { provider: 'powerdns', zone: 'sub.example.com', names: ['_dmarc.a.sub.example.com', '_dmarc.b.sub.example.com'] },
    ]);
  });

  test('report authorisations: created in the destination zone, deleted when a domain stops reporting there', async () => {
    const rua = [{ uri: 'mailto:dmarc@example.com' }];
    const withRua = desired(
      makePolicy('example.com', { rua }),
      makePolicy('example.org', { rua, dns: { provider: 'powerdns', zone: 'example.org', ttl: 1800 } }),
    );
    const cloudflare = new FakeProvider('cloudflare', { 'example.com': [] });
    const powerdns = new FakeProvider('powerdns', { 'example.org': [] });
    const created = await plan(withRua, [cloudflare, powerdns]);
    expect(created.changes.map((change) => [change.action, change.provider, change.name, change.after, change.reason])).toEqual([
      ['create', 'cloudflare', '_dmarc.example.com', ['v=DMARC1; p=reject; rua=mailto:dmarc@example.com'], 'new domain example.com'],
      [
        'create',
        'cloudflare',
        'example.org._report._dmarc.example.com',
        ['v=DMARC1'],
        "authorises example.org's aggregate reports to example.com",
      ],
      ['create', 'powerdns', '_dmarc.example.org', ['v=DMARC1; p=reject; rua=mailto:dmarc@example.com'], 'new domain example.org'],
    ]);

    // example.org now reports to itself; a third domain still reports to example.com, so the host is known.
    cloudflare.add('example.com', txt('example.org._report._dmarc.example.com', 'v=DMARC1'));
    const later = desired(
      makePolicy('example.com', { rua }),
      makePolicy('example.net', { rua }),
      makePolicy('example.org', {
        rua: [{ uri: 'mailto:dmarc@example.org' }],
        dns: { provider: 'powerdns', zone: 'example.org', ttl: 1800 },
      }),
    );
    cloudflare.zones.set('example.net', []);
    const result = await plan(later, [cloudflare, powerdns]);
    const deletion = result.changes.find((change) => change.action === 'delete');
    expect(deletion).toMatchObject({
      provider: 'cloudflare',
      name: 'example.org._report._dmarc.example.com',
      before: ['v=DMARC1'],
      reason: 'example.org no longer reports to example.com',
      risky: true,
    });
    expect(describeRisk(deletion as RecordChange)).toBe(
      "deletes the report authorisation: receivers stop sending example.org's aggregate reports to example.com",
    );
  });

  test('manual domains are never read: their records become notices', async () => {
    const cloudflare = new FakeProvider('cloudflare', { 'example.com': [] });
    const result = await plan(desired(makePolicy('manual.example', { dns: { provider: 'manual', zone: 'manual.example', ttl: 3600 } })), [
      cloudflare,
    ]);
    expect(result.changes).toEqual([]);
    expect(result.zones).toEqual([]);
    expect(result.notices).toEqual([
      {
        level: 'info',
        zone: 'manual.example',
        name: '_dmarc.manual.example',
        message: 'provider manual: publish _dmarc.manual.example TXT "v=DMARC1; p=reject" by hand (dmarcops record manual.example)',
      },
    ]);
    expect(cloudflare.listCalls).toEqual([]);
  });

  test('changes are sorted by provider, zone and name', async () => {
    const cloudflare = new FakeProvider('cloudflare', { 'b.example': [], 'a.example': [] });
    const powerdns = new FakeProvider('powerdns', { 'a.example': [] });
    const records = desired(
      makePolicy('b.example'),
      makePolicy('z.a.example', { dns: { provider: 'cloudflare', zone: 'a.example', ttl: 3600 } }),
      makePolicy('a.example'),
      makePolicy('x.a.example', { dns: { provider: 'powerdns', zone: 'a.example', ttl: 3600 } }),
    );
    powerdns.zones.set('a.example', []);
    const result = await plan(records, [cloudflare, powerdns]);
    expect(result.changes.map((change) => `${change.provider} ${change.zone} ${change.name}`)).toEqual([
      'cloudflare a.example _dmarc.a.example',
      'cloudflare a.example _dmarc.z.a.example',
      'cloudflare b.example _dmarc.b.example',
      'powerdns a.example _dmarc.x.a.example',
    ]);
  });

  test('names are compared case-insensitively and without the trailing dot', () => {
    const records = desired(makePolicy('example.com'));
    const listings: ZoneListing[] = [
      {
        provider: 'cloudflare',
        zone: 'example.com',
        names: ['_dmarc.example.com'],
        records: [{ name: '_dmarc.example.com', ttl: 3600, value: 'v=DMARC1; p=reject' }],
      },
    ];
    expect(computePlan(records, listings, { now: NOW }).changes).toEqual([]);
  });
});

describe('reading the zones', () => {
  test('one listing per zone, with every name at once, at most `concurrency` zones at a time', async () => {
    const zones = Object.fromEntries(Array.from({ length: 12 }, (_, index) => [`z${index}.example`, []]));
    const cloudflare = new FakeProvider('cloudflare', zones, { latencyMs: 5 });
    const policies = Object.keys(zones).flatMap((zone) => [
      makePolicy(zone),
      makePolicy(`a.${zone}`, { dns: { provider: 'cloudflare', zone, ttl: 3600 } }),
    ]);
    await makePlan(desired(...policies), fakeResolver(cloudflare), { concurrency: 3 });
    expect(cloudflare.listCalls).toHaveLength(12);
    expect(cloudflare.listCalls.find((call) => call.zone === 'z3.example')?.names).toEqual(['_dmarc.a.z3.example', '_dmarc.z3.example']);
    expect(cloudflare.maxInFlight).toBeLessThanOrEqual(3);
  });

  test('records at names that were not asked for are dropped', async () => {
    const sloppy = new FakeProvider('cloudflare', { 'example.com': [] });
    sloppy.listTxt = async () => [
      txt('_dmarc.example.com', 'v=DMARC1; p=reject'),
      txt('_dmarc.unrelated.example.com', 'v=DMARC1; p=none'),
      txt('www.example.com', 'hello'),
    ];
    const [listing] = await readZones(
      [{ provider: 'cloudflare', zone: 'example.com', names: ['_dmarc.example.com'] }],
      fakeResolver(sloppy),
    );
    expect(listing?.records.map((record) => record.name)).toEqual(['_dmarc.example.com']);
  });

  test('a provider error names the provider and zone', async () => {
    const cloudflare = new FakeProvider('cloudflare', {});
    await expect(plan(desired(makePolicy('example.com')), [cloudflare])).rejects.toThrow(
      'cloudflare zone example.com: cannot list TXT records: zone example.com not found',
    );
  });
});

describe('checksum', () => {
  test('stable: independent of listing order and generatedAt, sensitive to the before state', async () => {
    const records = desired(makePolicy('example.com'));
    const listing = (values: string[]): ZoneListing[] => [
      {
        provider: 'cloudflare',
        zone: 'example.com',
        names: ['_dmarc.example.com'],
        records: values.map((value) => txt('_dmarc.example.com', value)),
      },
    ];
    const a = computePlan(records, listing(['v=DMARC1; p=none', 'v=DMARC1; p=quarantine']), { now: NOW });
    const b = computePlan(records, listing(['v=DMARC1; p=quarantine', 'v=DMARC1; p=none']), { now: new Date('2027-01-01T00:00:00Z') });
    const c = computePlan(records, listing(['v=DMARC1; p=none']), { now: NOW });
    expect(a.checksum).toMatch(/^[0-9a-f]{64}$/);
    expect(b.checksum).toBe(a.checksum);
    expect(c.checksum).not.toBe(a.checksum);
    expect(planChecksum([...a.changes].reverse())).toBe(a.checksum);
    expect(planChecksum([])).toBe(computePlan([], [], {}).checksum);
  });

  test('canonical JSON sorts keys at every level and drops undefined', () => {
    expect(canonicalJson({ b: [{ d: 1, c: undefined, a: 'x' }], a: null })).toBe('{"a":null,"b":[{"a":"x","d":1}]}');
  });
});

describe('describing changes', () => {
  test.each([
    ['v=DMARC1; p=reject', 'v=DMARC1; p=quarantine', ['p reject → quarantine', 'sp reject → quarantine', 'np reject → quarantine']],
    ['v=DMARC1; p=reject; sp=reject', 'v=DMARC1; p=reject; sp=none', ['sp reject → none', 'np reject → none']],
    ['v=DMARC1; p=reject', 'v=DMARC1; p=reject; np=quarantine', ['np reject → quarantine']],
    [
      'v=DMARC1; p=reject',
      'v=DMARC1; p=reject; t=y',
      [
        'p reject → quarantine (t=y: one step less)',
        'sp reject → quarantine (t=y: one step less)',
        'np reject → quarantine (t=y: one step less)',
      ],
    ],
    ['v=DMARC1; p=quarantine; t=y', 'v=DMARC1; p=quarantine', []],
    ['v=DMARC1; p=reject', 'v=DMARC1; p=reject; pct=50', ['pct 100 → 50']],
    ['v=DMARC1; p=none', 'v=DMARC1; p=none; pct=10', []],
    ['v=DMARC1; p=none', 'v=DMARC1; p=reject', []],
    ['v=DMARC1; rua=mailto:a@example.com', 'v=DMARC1; p=none', []],
  ])('%s → %s', (before, after, expected) => {
    expect(weakenings([before], [after])).toEqual(expected);
  });

  test('tag changes in words', () => {
    expect(describeTagChanges('v=DMARC1; p=quarantine; t=y', 'v=DMARC1; p=reject; rua=mailto:d@example.com')).toBe(
      'p=quarantine → p=reject; t=y removed; rua=mailto:d@example.com added',
    );
    expect(
      describeTagChanges(
        'v=DMARC1; p=reject; rua=mailto:a-very-long-mailbox-name@reports.example.com',
        'v=DMARC1; p=reject; rua=mailto:another-very-long-mailbox-name@reports.example.com',
      ),
    ).toBe('rua changed');
  });
});
