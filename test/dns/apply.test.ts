import { afterEach, describe, expect, test } from 'vitest';
import { applyDns, evaluateGates, executePlan, verifyDns } from '../../scripts/dns/apply.ts';
import { makePlan } from '../../scripts/dns/plan.ts';
import type { DomainPolicy, ManagedRecord } from '../../scripts/policy/model.ts';
import { managedRecords } from '../../scripts/policy/record.ts';
import { splitCharacterStrings } from '../../scripts/lib/dns-txt.ts';
import { makePolicy } from '../helpers/policy.ts';
import { startDnsServer } from './dns-server.ts';
import type { DnsTestServer } from './dns-server.ts';
import { FakeProvider, fakeResolver } from './fake-provider.ts';

const txt = (name: string, value: string, ttl = 3600) => ({ name, value, ttl });
const desired = (...policies: DomainPolicy[]): ManagedRecord[] => managedRecords(policies);

/** A fleet across two providers in the state a first apply finds: some records right, some not. */
function fleet() {
  const cloudflare = new FakeProvider('cloudflare', {
    'example.com': [
      txt('_dmarc.example.com', 'v=DMARC1; p=none'),
      txt('_dmarc.example.com', 'google-site-verification=abc'),
      txt('www.example.com', 'unrelated and never listed'),
    ],
    'example.net': [],
  });
  const powerdns = new FakeProvider('powerdns', {
    'example.org': [txt('_dmarc.example.org', 'v=DMARC1; p=reject'), txt('_dmarc.example.org', 'v=DMARC1; p=none')],
  });
  const rua = [{ uri: 'mailto:dmarc@example.com' }];
  const records = desired(
    makePolicy('example.com', { p: 'quarantine', rua }),
    makePolicy('mail.example.com', { dns: { provider: 'cloudflare', zone: 'example.com', ttl: 300 } }),
    makePolicy('example.net', { rua }),
    makePolicy('example.org', { dns: { provider: 'powerdns', zone: 'example.org', ttl: 1800 } }),
  );
  return { cloudflare, powerdns, records, resolve: fakeResolver(cloudflare, powerdns) };
}

describe('gates', () => {
  test('risky changes need force; deletions are capped fleet-wide, force or not; a reviewed checksum must match', async () => {
    const cloudflare = new FakeProvider('cloudflare', {
      'example.com': [
        txt('_dmarc.example.com', 'v=DMARC1; p=reject'),
        ...['a', 'b', 'c'].map((d) => txt(`_dmarc.${d}.example.com`, 'v=DMARC1; p=none')),
      ],
    });
    const { plan } = await makePlan(desired(makePolicy('example.com', { p: 'none' })), fakeResolver(cloudflare), {
      removedDomains: ['a.example.com', 'b.example.com', 'c.example.com'],
    });
    expect(plan.changes.map((change) => [change.action, change.risky])).toEqual([
      ['delete', true],
      ['delete', true],
      ['delete', true],
      ['update', true],
    ]);

    const refused = evaluateGates(plan);
    expect(refused.ok).toBe(false);
    expect(refused.problems).toEqual([
      '4 risky changes (deletions or weaker policies) need --force (or the dmarcops:force label on the pull request)',
    ]);
    expect(evaluateGates(plan, { force: true }).ok).toBe(true);
    expect(evaluateGates(plan, { force: true, maxDeletes: 2 }).problems).toEqual([
      '3 deletions exceed the cap of 2 per run; raise it with --max-deletes 3 if that is intended',
    ]);
    expect(evaluateGates(plan, { force: true, reviewedChecksum: plan.checksum })).toMatchObject({ ok: true, checksumMatches: true });
    const stale = evaluateGates(plan, { force: true, reviewedChecksum: '0'.repeat(64) });
    expect(stale.ok).toBe(false);
    expect(stale.problems[0]).toMatch(/^the plan differs from the reviewed one \(reviewed 000000000000…, now [0-9a-f]{12}…\)/);
  });
});

describe('apply', () => {
  test('plan → apply → plan gives zero changes; one applyZone per zone; records not ours survive', async () => {
    const { cloudflare, powerdns, records, resolve } = fleet();
    const first = await applyDns(records, resolve, { force: true });
    expect(first.status).toBe('applied');
    expect(first.plan.changes.map((change) => `${change.action} ${change.zone} ${change.name}`)).toEqual([
      'update example.com _dmarc.example.com',
      'create example.com _dmarc.mail.example.com',
      'create example.com example.net._report._dmarc.example.com',
      'create example.net _dmarc.example.net',
      'update example.org _dmarc.example.org',
    ]);
    expect(first.verification?.changes).toEqual([]);
    expect(cloudflare.applyCalls.map((call) => [call.zone, call.changes.length])).toEqual([
      ['example.com', 3],
      ['example.net', 1],
    ]);
    expect(powerdns.applyCalls.map((call) => [call.zone, call.changes.length])).toEqual([['example.org', 1]]);
    // `current` is what was listed for the changed names, the non-DMARC TXT included.
    expect(cloudflare.applyCalls[0]?.current.map((record) => record.value).sort()).toEqual([
      'google-site-verification=abc',
      'v=DMARC1; p=none',
    ]);

    expect(cloudflare.values('example.com', '_dmarc.example.com')).toEqual([
      'google-site-verification=abc',
      'v=DMARC1; p=quarantine; rua=mailto:dmarc@example.com',
    ]);
    expect(cloudflare.values('example.com', 'www.example.com')).toEqual(['unrelated and never listed']);
    expect(powerdns.values('example.org', '_dmarc.example.org')).toEqual(['v=DMARC1; p=reject']);

    const again = await makePlan(records, resolve);
    expect(again.plan.changes).toEqual([]);
    const second = await applyDns(records, resolve);
    expect(second.status).toBe('no-changes');
    expect(cloudflare.applyCalls).toHaveLength(2);
  });

  test('refused by a gate: nothing is written', async () => {
    const cloudflare = new FakeProvider('cloudflare', { 'example.com': [txt('_dmarc.example.com', 'v=DMARC1; p=reject')] });
    const result = await applyDns(desired(makePolicy('example.com', { p: 'none' })), fakeResolver(cloudflare));
    expect(result.status).toBe('refused');
    expect(result.gates.problems).toHaveLength(1);
    expect(cloudflare.applyCalls).toEqual([]);
    expect(cloudflare.values('example.com', '_dmarc.example.com')).toEqual(['v=DMARC1; p=reject']);
  });

  test('a reviewed plan that no longer matches refuses; the same plan applies', async () => {
    const cloudflare = new FakeProvider('cloudflare', { 'example.com': [] });
    const records = desired(makePolicy('example.com'));
    const { plan: reviewed } = await makePlan(records, fakeResolver(cloudflare));
    cloudflare.add('example.com', txt('_dmarc.example.com', 'v=DMARC1; p=quarantine'));
    const stale = await applyDns(records, fakeResolver(cloudflare), { reviewedChecksum: reviewed.checksum });
    expect(stale.status).toBe('refused');
    expect(cloudflare.applyCalls).toEqual([]);

    const { plan: current } = await makePlan(records, fakeResolver(cloudflare));
    const applied = await applyDns(records, fakeResolver(cloudflare), { reviewedChecksum: current.checksum });
    expect(applied.status).toBe('applied');
  });

  test('a removed domain is deleted with force; a non-DMARC TXT only with deleteUnrelated', async () => {
    const cloudflare = new FakeProvider('cloudflare', {
      'example.com': [
        txt('_dmarc.example.com', 'v=DMARC1; p=reject'),
        txt('_dmarc.gone.example.com', 'v=DMARC1; p=none'),
        txt('_dmarc.gone.example.com', 'keep me'),
      ],
    });
    const records = desired(makePolicy('example.com'));
    const result = await applyDns(records, fakeResolver(cloudflare), { force: true, removedDomains: ['gone.example.com'] });
    expect(result.status).toBe('applied');
    expect(cloudflare.values('example.com', '_dmarc.gone.example.com')).toEqual(['keep me']);
    const unrelated = await applyDns(records, fakeResolver(cloudflare), {
      force: true,
      removedDomains: ['gone.example.com'],
      deleteUnrelated: true,
    });
    expect(unrelated.plan.changes).toMatchObject([{ action: 'delete', before: ['keep me'] }]);
    expect(cloudflare.values('example.com', '_dmarc.gone.example.com')).toEqual([]);
  });

  test('a failing zone fails the run; zones not started yet are skipped, not half-done', async () => {
    const cloudflare = new FakeProvider(
      'cloudflare',
      { 'a.example': [], 'b.example': [], 'c.example': [] },
      { failApply: (zone) => (zone === 'a.example' ? new Error('HTTP 403 token cannot edit DNS') : undefined) },
    );
    const result = await applyDns(
      desired(makePolicy('a.example'), makePolicy('b.example'), makePolicy('c.example')),
      fakeResolver(cloudflare),
      { concurrency: 1 },
    );
    expect(result.status).toBe('failed');
    expect(result.outcomes.map((outcome) => [outcome.zone, outcome.status, outcome.error])).toEqual([
      ['a.example', 'failed', 'HTTP 403 token cannot edit DNS'],
      ['b.example', 'skipped', undefined],
      ['c.example', 'skipped', undefined],
    ]);
    expect(result.verification?.changes).toEqual([]);
    expect(cloudflare.values('b.example', '_dmarc.b.example')).toEqual([]);
  });

  test('a provider that drops writes is caught by planning again', async () => {
    const cloudflare = new FakeProvider('cloudflare', { 'example.com': [] }, { dropWrites: true });
    const result = await applyDns(desired(makePolicy('example.com')), fakeResolver(cloudflare));
    expect(result.status).toBe('failed');
    expect(result.verification?.changes).toMatchObject([{ action: 'create', name: '_dmarc.example.com' }]);
  });

  test('DNS changed between plan and apply: the zone fails instead of overwriting', async () => {
    const cloudflare = new FakeProvider('cloudflare', { 'example.com': [txt('_dmarc.example.com', 'v=DMARC1; p=none')] });
    const records = desired(makePolicy('example.com'));
    const { plan, listings } = await makePlan(records, fakeResolver(cloudflare));
    cloudflare.zones.set('example.com', [txt('_dmarc.example.com', 'v=DMARC1; p=quarantine')]);
    const [outcome] = await executePlan(plan, listings, fakeResolver(cloudflare));
    expect(outcome).toMatchObject({ status: 'failed' });
    expect(outcome?.error).toMatch(/no longer there/);
  });

  test('zones are written with bounded concurrency', async () => {
    const zones = Object.fromEntries(Array.from({ length: 10 }, (_, index) => [`z${index}.example`, []]));
    const cloudflare = new FakeProvider('cloudflare', zones, { latencyMs: 5 });
    const result = await applyDns(desired(...Object.keys(zones).map((zone) => makePolicy(zone))), fakeResolver(cloudflare), {
      concurrency: 2,
      readConcurrency: 4,
    });
    expect(result.status).toBe('applied');
    expect(cloudflare.applyCalls).toHaveLength(10);
    expect(cloudflare.maxInFlight).toBeLessThanOrEqual(4);
  });
});

describe('verifying through DNS (a UDP nameserver on 127.0.0.1)', () => {
  let server: DnsTestServer | undefined;
  afterEach(async () => {
    await server?.stop();
    server = undefined;
  });

  /** Serves the fake provider's records, split into character-strings as a real server would hold them. */
  const serve = (provider: FakeProvider) =>
    startDnsServer((name) =>
      [...provider.zones.values()]
        .flat()
        .filter((record) => record.name === name)
        .map((record) => splitCharacterStrings(record.value)),
    );

  test('after apply, each changed name answers with the new values (deletions with none)', async () => {
    const cloudflare = new FakeProvider('cloudflare', { 'example.com': [txt('_dmarc.old.example.com', 'v=DMARC1; p=none')] });
    server = await serve(cloudflare);
    const longRua = Array.from({ length: 8 }, (_, index) => ({ uri: `mailto:dmarc-aggregate-reports-${index}@reports.example.com` }));
    const records = desired(makePolicy('example.com', { rua: longRua }));
    const result = await applyDns(records, fakeResolver(cloudflare), {
      force: true,
      removedDomains: ['old.example.com'],
      verifyDns: { servers: [server.address], attempts: 1 },
    });
    expect(result.status).toBe('applied');
    expect(result.dns?.map((check) => [check.name, check.ok, check.found.length])).toEqual([
      ['_dmarc.example.com', true, 1],
      ['_dmarc.old.example.com', true, 0],
    ]);
    expect(server.queries).toEqual(expect.arrayContaining(['_dmarc.example.com', '_dmarc.old.example.com']));
  });

  test('a nameserver still serving the old record fails the check', async () => {
    const stale = new FakeProvider('cloudflare', { 'example.com': [txt('_dmarc.example.com', 'v=DMARC1; p=none')] });
    server = await serve(stale);
    const [check] = await verifyDns(
      [
        {
          action: 'update',
          provider: 'cloudflare',
          zone: 'example.com',
          name: '_dmarc.example.com',
          type: 'TXT',
          before: ['v=DMARC1; p=none'],
          after: ['v=DMARC1; p=reject'],
          ttlBefore: 3600,
          ttlAfter: 3600,
          reason: '',
          risky: false,
        },
      ],
      { servers: [server.address], attempts: 2, delayMs: 0 },
    );
    expect(check).toMatchObject({ ok: false, expected: ['v=DMARC1; p=reject'], found: ['v=DMARC1; p=none'] });
  });

  test('no answer is an error, not a pass', async () => {
    const [check] = await verifyDns(
      [
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
          reason: '',
          risky: false,
        },
      ],
      { servers: ['127.0.0.1:9'], attempts: 1, timeoutMs: 200 },
    );
    expect(check?.ok).toBe(false);
    expect(check?.error).toMatch(/^E[A-Z]+$/);
  });
});
