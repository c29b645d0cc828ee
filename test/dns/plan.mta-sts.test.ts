/**
 * The planner with MTA-STS and TLS reporting records: which TXT values at `_mta-sts.<d>` and
 * `_smtp._tls.<d>` are dmarcops's (the name's kind decides), what is created, updated, left alone,
 * deleted, and which changes are risky. Fake provider; the e2e suites run the same through Cloudflare
 * (sandbox) and PowerDNS.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { executePlan } from '../../scripts/dns/apply.ts';
import { describeRisk, lookupTargets, makePlan } from '../../scripts/dns/plan.ts';
import { isOwnedValue } from '../../scripts/dns/owned.ts';
import { formerTransportNames } from '../../scripts/dns/removed.ts';
import type { RecordChange } from '../../scripts/dns/types.ts';
import type { DomainPolicy, ManagedRecord } from '../../scripts/policy/model.ts';
import { formatMtaStsPolicy, policyFileId } from '../../scripts/policy/mtasts.ts';
import { managedRecords } from '../../scripts/policy/record.ts';
import { makePolicy } from '../helpers/policy.ts';
import { FakeProvider, fakeResolver } from './fake-provider.ts';

const NOW = new Date('2026-03-01T12:00:00Z');
const txt = (name: string, value: string, ttl = 3600) => ({ name, value, ttl });
const testing = { mode: 'testing' as const, mx: ['mx.example.com'], maxAge: 86400 };
const enforce = { mode: 'enforce' as const, mx: ['mx.example.com'], maxAge: 604800 };
const withTransport = (fields: Partial<DomainPolicy> = {}) =>
  makePolicy('example.com', { mtaSts: testing, tlsRpt: ['mailto:tls@example.com'], ...fields });

async function plan(records: ManagedRecord[], provider: FakeProvider, options: Parameters<typeof makePlan>[2] = {}) {
  return makePlan(records, fakeResolver(provider), { now: NOW, ...options });
}

describe('ownership at _mta-sts and _smtp._tls', () => {
  test('the name decides: v=STSv1 at _mta-sts, v=TLSRPTv1 at _smtp._tls, v=DMARC1 at _dmarc; nothing else', () => {
    expect(isOwnedValue('_mta-sts.example.com', 'v=STSv1; id=1')).toBe(true);
    expect(isOwnedValue('_mta-sts.example.com', 'v=DMARC1; p=none')).toBe(false);
    expect(isOwnedValue('_smtp._tls.example.com', 'v=TLSRPTv1; rua=mailto:a@example.com')).toBe(true);
    expect(isOwnedValue('_smtp._tls.example.com', 'v=STSv1; id=1')).toBe(false);
    expect(isOwnedValue('_dmarc.example.com', 'v=STSv1; id=1')).toBe(false);
    expect(isOwnedValue('_dmarc.example.com', 'v=DMARC1; p=none')).toBe(true);
  });

  test('new records are created beside _dmarc with reasons; a second plan after apply is empty', async () => {
    const cloudflare = new FakeProvider('cloudflare', { 'example.com': [] });
    const records = managedRecords([withTransport()]);
    const first = await plan(records, cloudflare);
    const id = policyFileId(formatMtaStsPolicy(testing));
    expect(first.plan.changes.map((change) => [change.action, change.name, change.after, change.reason, change.risky])).toEqual([
      ['create', '_dmarc.example.com', ['v=DMARC1; p=reject'], 'new domain example.com', false],
      ['create', '_mta-sts.example.com', [`v=STSv1; id=${id}`], `MTA-STS for example.com (policy id ${id})`, false],
      ['create', '_smtp._tls.example.com', ['v=TLSRPTv1; rua=mailto:tls@example.com'], 'TLS reports for example.com', false],
    ]);
    await executePlan(first.plan, first.listings, fakeResolver(cloudflare));
    expect((await plan(records, cloudflare)).plan.changes).toEqual([]);
  });

  test('other TXT at those names is reported and left alone; a policy change is an update of the id, not risky', async () => {
    const cloudflare = new FakeProvider('cloudflare', {
      'example.com': [
        txt('_dmarc.example.com', 'v=DMARC1; p=reject'),
        txt('_mta-sts.example.com', `v=STSv1; id=${policyFileId(formatMtaStsPolicy(testing))}`),
        txt('_mta-sts.example.com', 'verification=abc'),
        txt('_smtp._tls.example.com', 'v=TLSRPTv1; rua=mailto:tls@example.com'),
        txt('_smtp._tls.example.com', 'v=DMARC1; p=none'),
      ],
    });
    const run = await plan(managedRecords([withTransport({ mtaSts: enforce })]), cloudflare);
    const newId = policyFileId(formatMtaStsPolicy(enforce));
    expect(run.plan.changes).toMatchObject([
      {
        action: 'update',
        name: '_mta-sts.example.com',
        after: [`v=STSv1; id=${newId}`],
        risky: false,
        reason: `policy id ${policyFileId(formatMtaStsPolicy(testing))} → ${newId}: the policy file changed, senders fetch it again`,
      },
    ]);
    expect(run.plan.notices.map((notice) => [notice.name, notice.message])).toEqual([
      ['_mta-sts.example.com', '1 TXT record here is not MTA-STS ("verification=abc"): left alone; --delete-unrelated removes it'],
      ['_smtp._tls.example.com', '1 TXT record here is not TLS-RPT ("v=DMARC1; p=none"): left alone; --delete-unrelated removes it'],
    ]);
    await executePlan(run.plan, run.listings, fakeResolver(cloudflare));
    expect(cloudflare.values('example.com', '_mta-sts.example.com')).toEqual([`v=STSv1; id=${newId}`, 'verification=abc']);
    expect(cloudflare.values('example.com', '_smtp._tls.example.com')).toEqual([
      'v=DMARC1; p=none',
      'v=TLSRPTv1; rua=mailto:tls@example.com',
    ]);
  });

  test('two MTA-STS records at one name (no policy at all, RFC 8461 §3.1) are replaced by one, not risky', async () => {
    const cloudflare = new FakeProvider('cloudflare', {
      'example.com': [
        txt('_dmarc.example.com', 'v=DMARC1; p=reject'),
        txt('_mta-sts.example.com', 'v=STSv1; id=a'),
        txt('_mta-sts.example.com', 'v=STSv1; id=b'),
      ],
    });
    const run = await plan(managedRecords([withTransport({ tlsRpt: undefined })]), cloudflare);
    expect(run.plan.changes).toMatchObject([
      {
        action: 'update',
        name: '_mta-sts.example.com',
        before: ['v=STSv1; id=a', 'v=STSv1; id=b'],
        risky: false,
        reason: '2 MTA-STS records at one name (invalid): replaced by one',
      },
    ]);
    expect(run.plan.notices.map((notice) => notice.message)).toEqual([
      '2 MTA-STS records at one name: senders ignore them all and apply no MTA-STS policy (RFC 8461 §3.1); the plan replaces them with one',
    ]);
  });

  test('mta_sts and tls_reports removed from a file: their names (from history) are looked up and the records deleted, risky with the reason', async () => {
    const cloudflare = new FakeProvider('cloudflare', {
      'example.com': [
        txt('_dmarc.example.com', 'v=DMARC1; p=reject'),
        txt('_mta-sts.example.com', 'v=STSv1; id=abc'),
        txt('_smtp._tls.example.com', 'v=TLSRPTv1; rua=mailto:tls@example.com'),
        txt('_smtp._tls.example.com', 'someone-else=1'),
      ],
    });
    const records = managedRecords([makePolicy('example.com')]);
    // Without the history the names are not looked at: MTA-STS published by hand is invisible.
    expect((await plan(records, cloudflare)).plan.changes).toEqual([]);
    const formerNames = ['_mta-sts.example.com', '_smtp._tls.example.com'];
    expect(lookupTargets(records, { formerNames })).toEqual([
      { provider: 'cloudflare', zone: 'example.com', names: ['_dmarc.example.com', '_mta-sts.example.com', '_smtp._tls.example.com'] },
    ]);
    const run = await plan(records, cloudflare, { formerNames });
    expect(run.plan.changes.map((change) => [change.action, change.name, change.before, change.reason, change.risky])).toEqual([
      ['delete', '_mta-sts.example.com', ['v=STSv1; id=abc'], 'no mta_sts for example.com in domains/ any more', true],
      [
        'delete',
        '_smtp._tls.example.com',
        ['v=TLSRPTv1; rua=mailto:tls@example.com'],
        'no tls_reports for example.com in domains/ any more',
        true,
      ],
    ]);
    expect(describeRisk(run.plan.changes[0] as RecordChange)).toMatch(
      /senders that cached the policy keep applying it for up to its max_age.*RFC 8461 §8\.3/,
    );
    expect(describeRisk(run.plan.changes[1] as RecordChange)).toBe(
      'deletes the TLS reporting record: senders stop sending TLS reports for example.com',
    );
    await executePlan(run.plan, run.listings, fakeResolver(cloudflare));
    expect(cloudflare.values('example.com', '_smtp._tls.example.com')).toEqual(['someone-else=1']);
    expect(cloudflare.values('example.com', '_mta-sts.example.com')).toEqual([]);
  });

  test('a removed domain file: its _mta-sts and _smtp._tls go with its _dmarc', async () => {
    const cloudflare = new FakeProvider('cloudflare', {
      'example.com': [
        txt('_dmarc.example.com', 'v=DMARC1; p=reject'),
        txt('_dmarc.old.example.com', 'v=DMARC1; p=none'),
        txt('_mta-sts.old.example.com', 'v=STSv1; id=x'),
      ],
    });
    const run = await plan(managedRecords([makePolicy('example.com')]), cloudflare, {
      removedDomains: ['old.example.com'],
      formerNames: ['_mta-sts.old.example.com', '_smtp._tls.old.example.com'],
    });
    expect(run.plan.changes.map((change) => `${change.action} ${change.name}`)).toEqual([
      'delete _dmarc.old.example.com',
      'delete _mta-sts.old.example.com',
    ]);
  });
});

describe('formerTransportNames: which names dmarcops may have published, from git history', () => {
  const git = (cwd: string, ...args: string[]) =>
    execFileSync('git', args, {
      cwd,
      encoding: 'utf8',
      env: {
        ...process.env,
        GIT_AUTHOR_NAME: 't',
        GIT_AUTHOR_EMAIL: 't@example.com',
        GIT_COMMITTER_NAME: 't',
        GIT_COMMITTER_EMAIL: 't@example.com',
      },
    });

  test('files that ever had mta_sts or tls_reports (also deleted ones); the defaults file stands for every domain', async () => {
    const repo = await mkdtemp(join(tmpdir(), 'dmarcops-former-'));
    try {
      git(repo, 'init', '-q', '-b', 'main');
      await mkdir(join(repo, 'domains'));
      await writeFile(join(repo, 'domains/a.example.yaml'), 'policy: none\nmta_sts: {mode: testing, mx: [mx.a.example]}\n');
      await writeFile(join(repo, 'domains/b.example.yaml'), 'policy: none\n');
      await writeFile(join(repo, 'domains/gone.example.yaml'), 'policy: none\n"tls_reports": [t@gone.example]\n');
      git(repo, 'add', '-A');
      git(repo, 'commit', '-q', '-m', 'one');
      await writeFile(join(repo, 'domains/a.example.yaml'), 'policy: none\n');
      git(repo, 'rm', '-q', 'domains/gone.example.yaml');
      git(repo, 'commit', '-q', '-am', 'two');
      expect(await formerTransportNames(join(repo, 'domains'), ['a.example', 'b.example'], repo)).toEqual({
        names: ['_mta-sts.a.example', '_smtp._tls.gone.example'],
      });

      await writeFile(join(repo, 'domains/_defaults.yaml'), 'tls_reports: [t@a.example]\n');
      git(repo, 'add', '-A');
      git(repo, 'commit', '-q', '-m', 'three');
      expect((await formerTransportNames(join(repo, 'domains'), ['a.example', 'b.example'], repo)).names).toEqual([
        '_mta-sts.a.example',
        '_smtp._tls.a.example',
        '_smtp._tls.b.example',
        '_smtp._tls.gone.example',
      ]);
    } finally {
      await rm(repo, { recursive: true, force: true });
    }
  });

  test('outside a git repository: no names, and a warning that says what is not deleted', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dmarcops-nogit-'));
    try {
      const result = await formerTransportNames(dir, ['a.example'], dir);
      expect(result.names).toEqual([]);
      expect(result.warning).toMatch(/MTA-STS and TLS reporting records of removed keys are not deleted/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
