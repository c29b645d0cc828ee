/**
 * End to end against the Cloudflare-compatible sandbox (an HTTP server on 127.0.0.1): the real CLI
 * (`main` in-process, the cloudflare provider on the official SDK, configured from the environment
 * only) over a temp folder of domain files. Checks what the issue asks: the plan shows exactly the
 * DMARC changes, apply makes them in one batch per zone, a second plan shows none, every record
 * dmarcops does not own is byte-identical (ids, content, timestamps), and the safety gates hold:
 * stale reviewed plan, policy downgrade without --force, 429s, failed batches.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { main } from '../../scripts/cli.ts';
import { loadZonesFile, startCloudflareSandbox } from '../../scripts/dns/sandbox/cloudflare-api.ts';
import type { CloudflareSandbox, RecordSeed, SandboxRecord, ZoneSeed } from '../../scripts/dns/sandbox/cloudflare-api.ts';
import type { Plan } from '../../scripts/dns/types.ts';
import { formatMtaStsPolicy, policyFileId } from '../../scripts/policy/mtasts.ts';
import { captureOutput } from '../helpers/output.ts';

const STALE = 'v=DMARC1; p=none; rua=mailto:old-reports@example.com';
const DUPLICATE = 'v=DMARC1; p=none; pct=100';
const VERIFICATION = 'ms-domain-verification=1b2c3d4e';

const WANT = {
  apex: 'v=DMARC1; p=quarantine; rua=mailto:dmarc@example.com',
  mail: 'v=DMARC1; p=reject; rua=mailto:dmarc@example.com',
  net: 'v=DMARC1; p=reject; rua=mailto:dmarc@example.com',
  auth: 'v=DMARC1',
};

const q = (value: string): string => JSON.stringify(value);

function zones(extra: { zone: string; record: RecordSeed }[] = []): ZoneSeed[] {
  const seeds: ZoneSeed[] = [
    {
      name: 'example.com',
      records: [
        { type: 'A', name: 'example.com', content: '192.0.2.80', ttl: 3600 },
        { type: 'A', name: 'relay.example.com', content: '192.0.2.10', ttl: 300 },
        { type: 'CNAME', name: 'www.example.com', content: 'example.com', ttl: 3600 },
        { type: 'MX', name: 'example.com', content: 'mx1.example.com', priority: 10, ttl: 3600 },
        { type: 'MX', name: 'example.com', content: 'mx2.example.com', priority: 20, ttl: 3600 },
        { type: 'TXT', name: 'example.com', content: q('v=spf1 include:_spf.google.com ip4:192.0.2.10 -all'), ttl: 3600 },
        { type: 'TXT', name: '_dmarc.example.com', content: q(STALE), ttl: 300, comment: 'set up by hand' },
        { type: 'TXT', name: '_dmarc.example.com', content: q(DUPLICATE), ttl: 300 },
        { type: 'TXT', name: '_dmarc.example.com', content: q(VERIFICATION), ttl: 300 },
      ],
    },
    {
      name: 'example.net',
      records: [
        { type: 'A', name: 'example.net', content: '192.0.2.90', ttl: 3600 },
        { type: 'MX', name: 'example.net', content: '.', priority: 0, ttl: 3600 },
        { type: 'TXT', name: 'example.net', content: q('v=spf1 -all'), ttl: 3600 },
      ],
    },
    // Not managed by any domain file: must never be touched (nor even listed).
    { name: 'example.edu', records: [{ type: 'TXT', name: '_dmarc.example.edu', content: q('v=DMARC1; p=none'), ttl: 300 }] },
  ];
  for (const { zone, record } of extra) seeds.find((seed) => seed.name === zone)?.records?.push(record);
  return seeds;
}

const DOMAIN_FILES: Record<string, string> = {
  '_defaults.yaml': ['policy: none', 'dns:', '  provider: cloudflare', '  ttl: 3600', 'owners:', '  - "@example-org/mail-admins"', ''].join(
    '\n',
  ),
  'example.com.yaml': ['policy: quarantine', 'reports:', '  - dmarc@example.com', 'dns:', '  zone: example.com', ''].join('\n'),
  'mail.example.com.yaml': ['policy: reject', 'reports:', '  - dmarc@example.com', 'dns:', '  zone: example.com', ''].join('\n'),
  // Reports to a mailbox in another managed zone: dmarcops publishes example.net._report._dmarc.example.com.
  'example.net.yaml': ['policy: reject', 'reports:', '  - dmarc@example.com', 'dns:', '  zone: example.net', ''].join('\n'),
};

let root: string;
let run = 0;
let dir: string;
let sandbox: CloudflareSandbox;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'dmarcops-e2e-cf-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

async function setup(extra: { zone: string; record: RecordSeed }[] = []): Promise<void> {
  sandbox = await startCloudflareSandbox({ zones: zones(extra) });
  dir = join(root, `run-${++run}`);
  await mkdir(join(dir, 'domains'), { recursive: true });
  for (const [file, text] of Object.entries(DOMAIN_FILES)) await writeFile(join(dir, 'domains', file), text);
}
beforeEach(async () => {
  await setup();
});
afterEach(async () => {
  await sandbox.stop();
});

async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const output = captureOutput();
  const env = { CLOUDFLARE_BASE_URL: sandbox.baseURL, CLOUDFLARE_API_TOKEN: sandbox.token, NO_COLOR: '1' };
  const code = await main(args, output, env, dir);
  return { code, stdout: output.stdout.join('\n'), stderr: output.stderr.join('\n') };
}

async function planJson(): Promise<Plan> {
  const result = await cli('plan', '--format', 'json');
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as Plan;
}

/** Everything the sandbox holds, as it holds it (ids, content, timestamps), zone by zone. */
function snapshot(): Record<string, SandboxRecord[]> {
  return Object.fromEntries(sandbox.state.zones.map((zone) => [zone.name, sandbox.api.records(zone.name)]));
}

const owned = (record: SandboxRecord): boolean => record.type === 'TXT' && /^"?v=DMARC1/i.test(record.content);

function notOwned(state: Record<string, SandboxRecord[]>): Record<string, SandboxRecord[]> {
  return Object.fromEntries(Object.entries(state).map(([zone, records]) => [zone, records.filter((record) => !owned(record))]));
}

/** name → the DMARC values there (unquoted), for the managed zones. */
function dmarcValues(state: Record<string, SandboxRecord[]>): Record<string, string[]> {
  const values: Record<string, string[]> = {};
  for (const records of Object.values(state)) {
    for (const record of records.filter(owned)) (values[record.name] ??= []).push(JSON.parse(record.content) as string);
  }
  for (const list of Object.values(values)) list.sort();
  return values;
}

const zoneId = (name: string): string => sandbox.state.zones.find((zone) => zone.name === name)?.id ?? '';
const batches = () => sandbox.requests.filter((request) => request.method === 'POST' && request.path.endsWith('/dns_records/batch'));
const writes = () => sandbox.requests.filter((request) => request.method !== 'GET');

describe('dmarcops plan / apply against the Cloudflare sandbox', () => {
  test('plan shows exactly the DMARC changes; apply makes them in one batch per zone; plan again: none; other records untouched', async () => {
    const before = snapshot();

    const plan = await planJson();
    const changes = plan.changes.map(({ action, zone, name, before: was, after, risky }) => ({
      action,
      zone,
      name,
      before: was,
      after,
      risky,
    }));
    expect(changes).toEqual(
      expect.arrayContaining([
        {
          action: 'update',
          zone: 'example.com',
          name: '_dmarc.example.com',
          before: [DUPLICATE, STALE].sort(),
          after: [WANT.apex],
          risky: false,
        },
        { action: 'create', zone: 'example.com', name: '_dmarc.mail.example.com', before: null, after: [WANT.mail], risky: false },
        {
          action: 'create',
          zone: 'example.com',
          name: 'example.net._report._dmarc.example.com',
          before: null,
          after: [WANT.auth],
          risky: false,
        },
        { action: 'create', zone: 'example.net', name: '_dmarc.example.net', before: null, after: [WANT.net], risky: false },
      ]),
    );
    expect(plan.changes).toHaveLength(4);
    expect(plan.notices.some((notice) => notice.name === '_dmarc.example.com' && notice.message.includes(VERIFICATION))).toBe(true);
    expect((await cli('plan', '--detailed-exitcode')).code).toBe(3);
    expect(writes()).toEqual([]); // planning never writes

    const applied = await cli('apply');
    expect(applied.code, applied.stderr).toBe(0);
    expect(applied.stdout).toContain('Applied 4 changes.');

    const posted = batches();
    expect(posted).toHaveLength(2);
    expect(posted.map((request) => request.path).sort()).toEqual(
      [`/zones/${zoneId('example.com')}/dns_records/batch`, `/zones/${zoneId('example.net')}/dns_records/batch`].sort(),
    );
    expect(posted.every((request) => request.status === 200)).toBe(true);
    expect(writes()).toHaveLength(2); // nothing but the batches wrote

    const second = await cli('plan', '--detailed-exitcode');
    expect(second.code, second.stdout).toBe(0);
    expect(second.stdout).toContain('No changes.');

    const after = snapshot();
    expect(JSON.stringify(notOwned(after))).toBe(JSON.stringify(notOwned(before)));
    expect(after['example.edu']).toEqual(before['example.edu']);
    expect(dmarcValues(after)).toEqual({
      '_dmarc.example.com': [WANT.apex],
      '_dmarc.mail.example.com': [WANT.mail],
      'example.net._report._dmarc.example.com': [WANT.auth],
      '_dmarc.example.net': [WANT.net],
      '_dmarc.example.edu': ['v=DMARC1; p=none'],
    });
    expect(after['example.com']?.filter(owned).every((record) => record.ttl === 3600)).toBe(true);

    // Idempotent: apply again writes nothing.
    const again = await cli('apply');
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('Nothing to apply.');
    expect(batches()).toHaveLength(2);
  });

  test('apply --plan: the reviewed plan applies; a stale one (DNS changed behind its back) is refused and nothing is written', async () => {
    expect((await cli('plan', '--out', 'plan.json')).code).toBe(0);
    // Someone edits DNS by hand after the plan was reviewed.
    const response = await fetch(`${sandbox.baseURL}/zones/${zoneId('example.net')}/dns_records`, {
      method: 'POST',
      headers: { authorization: `Bearer ${sandbox.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ type: 'TXT', name: '_dmarc.example.net', content: q('v=DMARC1; p=none'), ttl: 120 }),
    });
    expect(response.status).toBe(200);
    const edited = snapshot();
    const writesBefore = writes().length;

    const stale = await cli('apply', '--plan', 'plan.json');
    expect(stale.code).toBe(1);
    expect(stale.stderr).toContain('the plan differs from the reviewed one');
    expect(writes()).toHaveLength(writesBefore);
    expect(snapshot()).toEqual(edited);

    // Planned and reviewed afresh, it applies.
    expect((await cli('plan', '--out', 'plan.json')).code).toBe(0);
    const fresh = await cli('apply', '--plan', 'plan.json');
    expect(fresh.code, fresh.stderr).toBe(0);
    expect((await cli('plan', '--detailed-exitcode')).code).toBe(0);
  });

  test('a policy downgrade (reject → none) is refused without --force and applied with it', async () => {
    expect((await cli('apply')).code).toBe(0);
    await writeFile(
      join(dir, 'domains', 'mail.example.com.yaml'),
      DOMAIN_FILES['mail.example.com.yaml']?.replace('policy: reject', 'policy: none') ?? '',
    );
    const converged = snapshot();
    const batchesBefore = batches().length;

    const plan = await planJson();
    expect(plan.changes).toHaveLength(1);
    expect(plan.changes[0]).toMatchObject({
      action: 'update',
      name: '_dmarc.mail.example.com',
      risky: true,
      after: ['v=DMARC1; p=none; rua=mailto:dmarc@example.com'],
    });

    const refused = await cli('apply');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('--force');
    expect(batches()).toHaveLength(batchesBefore);
    expect(snapshot()).toEqual(converged);

    const forced = await cli('apply', '--force');
    expect(forced.code, forced.stderr).toBe(0);
    expect(batches()).toHaveLength(batchesBefore + 1);
    expect(dmarcValues(snapshot())['_dmarc.mail.example.com']).toEqual(['v=DMARC1; p=none; rua=mailto:dmarc@example.com']);
    expect((await cli('plan', '--detailed-exitcode')).code).toBe(0);
  });

  test('429s on listings and on the batch: apply still converges', async () => {
    sandbox.inject(
      { kind: 'rate-limit', method: 'GET', times: 2, retryAfter: 0.05 },
      { kind: 'rate-limit', method: 'POST', path: /\/dns_records\/batch$/, times: 2, retryAfter: 0.05 },
    );
    const applied = await cli('apply');
    expect(applied.code, applied.stderr).toBe(0);
    const limited = sandbox.requests.filter((request) => request.status === 429);
    expect(limited).toHaveLength(4);
    expect(limited.filter((request) => request.method === 'POST')).toHaveLength(2);
    // Each zone's batch went through exactly once.
    expect(batches().filter((request) => request.status === 200)).toHaveLength(2);
    expect((await cli('plan', '--detailed-exitcode')).code).toBe(0);
  });

  test('a batch the API fails (500, not retried) leaves that zone unchanged; the next run completes it', async () => {
    const before = snapshot();
    sandbox.inject({
      kind: 'server-error',
      status: 500,
      method: 'POST',
      path: `/zones/${zoneId('example.com')}/dns_records/batch`,
      shouldRetry: false,
      times: 1,
    });
    const failed = await cli('apply');
    expect(failed.code).toBe(1);
    expect(failed.stderr).toContain('apply failed or did not converge');
    expect(snapshot()['example.com']).toEqual(before['example.com']);

    const retried = await cli('apply');
    expect(retried.code, retried.stderr).toBe(0);
    expect((await cli('plan', '--detailed-exitcode')).code).toBe(0);
    expect(JSON.stringify(notOwned(snapshot()))).toBe(JSON.stringify(notOwned(before)));
  });

  test('a batch with a record the API rejects (TXT beside a CNAME) fails as a whole: the zone is exactly as before', async () => {
    await sandbox.stop();
    await setup([
      { zone: 'example.com', record: { type: 'CNAME', name: '_dmarc.mail.example.com', content: 'dmarc.esp.example', ttl: 300 } },
    ]);
    const before = snapshot();
    const failed = await cli('apply');
    expect(failed.code).toBe(1);
    const batch = batches().find((request) => request.path.includes(zoneId('example.com')));
    expect(batch?.status).toBe(400);
    const body = batch?.body as { deletes?: unknown[]; patches?: unknown[]; posts?: unknown[] } | undefined;
    expect((body?.deletes?.length ?? 0) + (body?.patches?.length ?? 0)).toBeGreaterThan(0);
    expect(body?.posts?.length).toBeGreaterThan(0);
    // The batch also held the update of _dmarc.example.com (deletes and a patch before the failing post): none of it stuck.
    expect(snapshot()['example.com']).toEqual(before['example.com']);
  });
});

describe('MTA-STS and TLS reporting records through the sandbox', () => {
  const git = (...args: string[]) =>
    execFileSync('git', args, {
      cwd: dir,
      encoding: 'utf8',
      env: {
        ...process.env,
        GIT_AUTHOR_NAME: 't',
        GIT_AUTHOR_EMAIL: 't@example.com',
        GIT_COMMITTER_NAME: 't',
        GIT_COMMITTER_EMAIL: 't@example.com',
      },
    });
  const HANDMADE = 'v=STSv1; id=20240101000000';
  const VENDOR = 'tls-vendor-verification=42';
  const WITH_TRANSPORT =
    `${DOMAIN_FILES['example.com.yaml']}tls_reports: [tls-reports@example.com]\nmta_sts:\n` +
    '  mode: testing\n  mx: [mx1.example.com, mx2.example.com]\n  max_age: 86400\n';
  const stsId = policyFileId(formatMtaStsPolicy({ mode: 'testing', mx: ['mx1.example.com', 'mx2.example.com'], maxAge: 86400 }));
  const values = (name: string) =>
    (sandbox.api.records('example.com') as SandboxRecord[])
      .filter((record) => record.type === 'TXT' && record.name === name)
      .map((record) => JSON.parse(record.content) as string)
      .sort();

  test(
    'an MTA-STS record published by hand is taken over (new id), _smtp._tls is created ' +
      'beside a TXT that is not ours; removing the keys deletes them only with --force',
    async () => {
      await sandbox.stop();
      await setup([
        { zone: 'example.com', record: { type: 'TXT', name: '_mta-sts.example.com', content: q(HANDMADE), ttl: 300 } },
        { zone: 'example.com', record: { type: 'TXT', name: '_smtp._tls.example.com', content: q(VENDOR), ttl: 300 } },
      ]);
      await writeFile(join(dir, 'domains', 'example.com.yaml'), WITH_TRANSPORT);
      git('init', '-q', '-b', 'main');
      git('add', '-A');
      git('commit', '-q', '-m', 'MTA-STS in testing');

      const plan = await planJson();
      expect(plan.changes.filter((change) => change.name.startsWith('_mta-sts') || change.name.startsWith('_smtp'))).toMatchObject([
        { action: 'update', name: '_mta-sts.example.com', before: [HANDMADE], after: [`v=STSv1; id=${stsId}`], risky: false },
        {
          action: 'create',
          name: '_smtp._tls.example.com',
          before: null,
          after: ['v=TLSRPTv1; rua=mailto:tls-reports@example.com'],
          risky: false,
        },
      ]);
      expect(plan.notices).toContainEqual(
        expect.objectContaining({ name: '_smtp._tls.example.com', message: expect.stringContaining(VENDOR) }),
      );
      const applied = await cli('apply');
      expect(applied.code, applied.stderr).toBe(0);
      expect((await cli('plan', '--detailed-exitcode')).code).toBe(0);
      expect(values('_mta-sts.example.com')).toEqual([`v=STSv1; id=${stsId}`]);
      expect(values('_smtp._tls.example.com')).toEqual([VENDOR, 'v=TLSRPTv1; rua=mailto:tls-reports@example.com']);

      // The keys leave the file: git history says dmarcops published those names, so the plan deletes them.
      await writeFile(join(dir, 'domains', 'example.com.yaml'), DOMAIN_FILES['example.com.yaml'] ?? '');
      git('commit', '-q', '-am', 'no more MTA-STS');
      const removal = await planJson();
      expect(removal.changes.map(({ action, name, risky }) => ({ action, name, risky }))).toEqual([
        { action: 'delete', name: '_mta-sts.example.com', risky: true },
        { action: 'delete', name: '_smtp._tls.example.com', risky: true },
      ]);
      const converged = snapshot();
      const refused = await cli('apply');
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain('--force');
      expect(snapshot()).toEqual(converged);
      const forced = await cli('apply', '--force');
      expect(forced.code, forced.stderr).toBe(0);
      expect(values('_mta-sts.example.com')).toEqual([]);
      expect(values('_smtp._tls.example.com')).toEqual([VENDOR]);
      expect((await cli('plan', '--detailed-exitcode')).code).toBe(0);
    },
  );
});

describe('dmarcops sandbox cloudflare', () => {
  async function bare(...args: string[]): Promise<{ code: number; text: string }> {
    const output = captureOutput();
    const code = await main(args, output, {}, process.cwd());
    return { code, text: [...output.stdout, ...output.stderr].join('\n') };
  }

  test('--help, and usage errors before anything listens', async () => {
    const help = await bare('sandbox', '--help');
    expect(help.code).toBe(0);
    expect(help.text).toContain('usage: dmarcops sandbox cloudflare [--port <n>] [--zones <file>] [--latency <ms>]');
    expect((await bare('sandbox')).code).toBe(2);
    expect((await bare('sandbox', 'route53')).code).toBe(2);
    expect((await bare('sandbox', 'cloudflare', '--latency', 'soon')).code).toBe(2);
    const missing = await bare('sandbox', 'cloudflare', '--port', '0', '--zones', join(root, 'no-such-zones.json'));
    expect(missing.code).toBe(2);
    expect(missing.text).toContain('cannot read the zones file');
  });

  test('docs/sandbox-zones.json: example.com with unrelated records, a stale and a duplicate DMARC record; example.org', async () => {
    const seeds = await loadZonesFile(join(process.cwd(), 'docs', 'sandbox-zones.json'));
    expect(seeds.map((seed) => seed.name)).toEqual(['example.com', 'example.org']);
    const records = seeds[0]?.records ?? [];
    expect(records.filter((record) => record.type === 'MX').length).toBeGreaterThan(0);
    expect(records.filter((record) => record.type === 'A').length).toBeGreaterThan(0);
    expect(
      records.filter((record) => record.type === 'TXT' && record.name === 'example.com' && record.content?.startsWith('"v=spf1')),
    ).toHaveLength(1);
    expect(records.filter((record) => record.name === '_dmarc.example.com' && record.content?.startsWith('"v=DMARC1'))).toHaveLength(2);
  });
});
