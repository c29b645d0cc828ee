/**
 * End to end against a real PowerDNS Authoritative server (test/services/powerdns.ts): the real CLI
 * (`main` in-process, the powerdns provider configured from PDNS_API_URL / PDNS_API_KEY only) over a
 * temp folder of domain files, then the answer checked over DNS: by `apply --verify-dns`, by node:dns
 * and by dig (when installed).
 */
import { execFile, execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test, vi } from 'vitest';
import { main } from '../../scripts/cli.ts';
import type { Plan } from '../../scripts/dns/types.ts';
import { formatMtaStsPolicy, policyFileId } from '../../scripts/policy/mtasts.ts';
import { captureOutput } from '../helpers/output.ts';
import { startPowerDns } from '../services/powerdns.ts';
import type { PowerDnsServer, PowerDnsZoneJson, SeedRecord } from '../services/powerdns.ts';

const STALE = 'v=DMARC1; p=none; rua=mailto:old-reports@example.org';
const DUPLICATE = 'v=DMARC1; p=none; pct=100';
const VERIFICATION = 'ms-domain-verification=1b2c3d4e';

const WANT = {
  apex: 'v=DMARC1; p=quarantine; rua=mailto:dmarc@example.org',
  mail: 'v=DMARC1; p=reject; rua=mailto:dmarc@example.org',
  net: 'v=DMARC1; p=reject; rua=mailto:dmarc@example.org',
  auth: 'v=DMARC1',
};
const MANAGED = ['_dmarc.example.org', '_dmarc.mail.example.org', 'example.net._report._dmarc.example.org', '_dmarc.example.net'];

const q = (value: string): string => JSON.stringify(value);
const SEEDS: Record<string, SeedRecord[]> = {
  'example.org': [
    { name: 'example.org', type: 'A', content: '192.0.2.81', ttl: 3600 },
    { name: 'example.org', type: 'MX', content: '10 mx1.example.org.', ttl: 3600 },
    { name: 'mx1.example.org', type: 'A', content: '192.0.2.25', ttl: 3600 },
    { name: 'www.example.org', type: 'CNAME', content: 'example.org.', ttl: 3600 },
    { name: 'example.org', type: 'TXT', content: q('v=spf1 mx ip4:192.0.2.10 -all'), ttl: 3600 },
    { name: '_dmarc.example.org', type: 'TXT', content: q(STALE), ttl: 300 },
    { name: '_dmarc.example.org', type: 'TXT', content: q(DUPLICATE) },
    { name: '_dmarc.example.org', type: 'TXT', content: q(VERIFICATION) },
  ],
  'example.net': [
    { name: 'example.net', type: 'A', content: '192.0.2.90', ttl: 3600 },
    { name: 'example.net', type: 'MX', content: '0 .', ttl: 3600 },
    { name: 'example.net', type: 'TXT', content: q('v=spf1 -all'), ttl: 3600 },
  ],
};

const DOMAIN_FILES: Record<string, string> = {
  '_defaults.yaml': ['policy: none', 'dns:', '  provider: powerdns', '  ttl: 3600', 'owners:', '  - "@example-org/mail-admins"', ''].join(
    '\n',
  ),
  'example.org.yaml': ['policy: quarantine', 'reports:', '  - dmarc@example.org', 'dns:', '  zone: example.org', ''].join('\n'),
  'mail.example.org.yaml': ['policy: reject', 'reports:', '  - dmarc@example.org', 'dns:', '  zone: example.org', ''].join('\n'),
  'example.net.yaml': ['policy: reject', 'reports:', '  - dmarc@example.org', 'dns:', '  zone: example.net', ''].join('\n'),
};

let pdns: PowerDnsServer;
let root: string;
let dir: string;
let run = 0;
/** Requests to the PowerDNS API made by the CLI (the provider uses the global fetch). */
let calls: { method: string; url: string }[] = [];

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'dmarcops-e2e-pdns-'));
  pdns = await startPowerDns();
});
afterAll(async () => {
  await pdns?.stop();
  await rm(root, { recursive: true, force: true });
});

beforeEach(async () => {
  for (const [zone, records] of Object.entries(SEEDS)) {
    await pdns.deleteZone(zone);
    await pdns.createZone(zone, records);
  }
  dir = join(root, `run-${++run}`);
  await mkdir(join(dir, 'domains'), { recursive: true });
  for (const [file, text] of Object.entries(DOMAIN_FILES)) await writeFile(join(dir, 'domains', file), text);
  calls = [];
  const realFetch = globalThis.fetch;
  vi.spyOn(globalThis, 'fetch').mockImplementation((input, init) => {
    const url = input instanceof Request ? input.url : String(input);
    if (url.startsWith(pdns.apiUrl)) calls.push({ method: init?.method ?? (input instanceof Request ? input.method : 'GET'), url });
    return realFetch(input, init);
  });
});
afterEach(() => {
  vi.restoreAllMocks();
});

async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const output = captureOutput();
  const env = { PDNS_API_URL: pdns.apiUrl, PDNS_API_KEY: pdns.apiKey, NO_COLOR: '1' };
  const code = await main(args, output, env, dir);
  return { code, stdout: output.stdout.join('\n'), stderr: output.stderr.join('\n') };
}

async function zones(): Promise<Record<string, PowerDnsZoneJson>> {
  return Object.fromEntries(await Promise.all(Object.keys(SEEDS).map(async (zone) => [zone, await pdns.getZone(zone)] as const)));
}

const isDmarc = (content: string): boolean => /^"v=DMARC1/i.test(content);

/**
 * Every record dmarcops does not own, as PowerDNS holds it (SOA aside: its serial is bumped on every
 * change). PowerDNS keeps one TTL per RRset, so the TTL of a managed name's RRset is left out.
 */
function notOwned(state: Record<string, PowerDnsZoneJson>): string[] {
  const lines: string[] = [];
  for (const zone of Object.values(state)) {
    for (const rrset of zone.rrsets) {
      if (rrset.type === 'SOA') continue;
      const name = rrset.name.replace(/\.$/, '');
      for (const record of rrset.records) {
        if (rrset.type === 'TXT' && isDmarc(record.content)) continue;
        lines.push(`${name} ${MANAGED.includes(name) ? '-' : rrset.ttl} ${rrset.type} ${record.content} ${record.disabled}`);
      }
    }
  }
  return lines.sort();
}

function dmarcValues(state: Record<string, PowerDnsZoneJson>): Record<string, string[]> {
  const values: Record<string, string[]> = {};
  for (const zone of Object.values(state)) {
    for (const rrset of zone.rrsets) {
      if (rrset.type !== 'TXT') continue;
      const found = rrset.records.filter((record) => isDmarc(record.content)).map((record) => JSON.parse(record.content) as string);
      if (found.length > 0) values[rrset.name.replace(/\.$/, '')] = found.sort();
    }
  }
  return values;
}

async function resolveTxt(name: string): Promise<string[]> {
  return (await pdns.resolver().resolveTxt(name)).map((strings) => strings.join('')).sort();
}

describe('dmarcops plan / apply against PowerDNS', () => {
  test('plan shows exactly the DMARC changes; apply makes them (one PATCH per zone) and they resolve; plan again: none; other records untouched', async () => {
    const before = await zones();

    const planned = await cli('plan', '--format', 'json');
    expect(planned.code, planned.stderr).toBe(0);
    const plan = JSON.parse(planned.stdout) as Plan;
    expect(
      plan.changes.map(({ action, zone, name, before: was, after, risky }) => ({ action, zone, name, before: was, after, risky })),
    ).toEqual(
      expect.arrayContaining([
        {
          action: 'update',
          zone: 'example.org',
          name: '_dmarc.example.org',
          before: [DUPLICATE, STALE].sort(),
          after: [WANT.apex],
          risky: false,
        },
        { action: 'create', zone: 'example.org', name: '_dmarc.mail.example.org', before: null, after: [WANT.mail], risky: false },
        {
          action: 'create',
          zone: 'example.org',
          name: 'example.net._report._dmarc.example.org',
          before: null,
          after: [WANT.auth],
          risky: false,
        },
        { action: 'create', zone: 'example.net', name: '_dmarc.example.net', before: null, after: [WANT.net], risky: false },
      ]),
    );
    expect(plan.changes).toHaveLength(4);
    expect(calls.filter((call) => call.method !== 'GET')).toEqual([]);

    const applied = await cli('apply', '--verify-dns', `127.0.0.1:${pdns.dnsPort}`);
    expect(applied.code, `${applied.stdout}\n${applied.stderr}\n${pdns.log().slice(-3000)}`).toBe(0);
    expect(applied.stdout).toContain('Applied 4 changes.');
    const patches = calls.filter((call) => call.method === 'PATCH');
    expect(patches.map((call) => new URL(call.url).pathname).sort()).toEqual([
      '/api/v1/servers/localhost/zones/example.net.',
      '/api/v1/servers/localhost/zones/example.org.',
    ]);
    expect(calls.filter((call) => call.method !== 'GET' && call.method !== 'PATCH')).toEqual([]);

    const second = await cli('plan', '--detailed-exitcode');
    expect(second.code, second.stdout).toBe(0);
    expect(second.stdout).toContain('No changes.');

    const after = await zones();
    expect(notOwned(after)).toEqual(notOwned(before));
    expect(dmarcValues(after)).toEqual({
      '_dmarc.example.org': [WANT.apex],
      '_dmarc.mail.example.org': [WANT.mail],
      'example.net._report._dmarc.example.org': [WANT.auth],
      '_dmarc.example.net': [WANT.net],
    });

    // Over DNS: node:dns, and dig when it is installed.
    expect(await resolveTxt('_dmarc.example.org')).toEqual([WANT.apex, VERIFICATION].sort());
    expect(await resolveTxt('_dmarc.example.net')).toEqual([WANT.net]);
    expect(await resolveTxt('example.net._report._dmarc.example.org')).toEqual([WANT.auth]);
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
        '_dmarc.mail.example.org',
      ]);
      expect(stdout.trim()).toBe(q(WANT.mail));
    }

    // Idempotent: apply again writes nothing.
    const patchesBefore = calls.filter((call) => call.method === 'PATCH').length;
    const again = await cli('apply');
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('Nothing to apply.');
    expect(calls.filter((call) => call.method === 'PATCH')).toHaveLength(patchesBefore);
  });

  test('a policy downgrade is refused without --force (nothing written) and applied with it', async () => {
    expect((await cli('apply')).code).toBe(0);
    await writeFile(
      join(dir, 'domains', 'mail.example.org.yaml'),
      DOMAIN_FILES['mail.example.org.yaml']?.replace('policy: reject', 'policy: none') ?? '',
    );
    const converged = await zones();
    const patchesBefore = calls.filter((call) => call.method === 'PATCH').length;

    const refused = await cli('apply');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('--force');
    expect(calls.filter((call) => call.method === 'PATCH')).toHaveLength(patchesBefore);
    expect(await zones()).toEqual(converged);

    const forced = await cli('apply', '--force', '--verify-dns', `127.0.0.1:${pdns.dnsPort}`);
    expect(forced.code, forced.stderr).toBe(0);
    expect(await resolveTxt('_dmarc.mail.example.org')).toEqual(['v=DMARC1; p=none; rua=mailto:dmarc@example.org']);
    expect((await cli('plan', '--detailed-exitcode')).code).toBe(0);
  });
});

describe('MTA-STS and TLS reporting records on PowerDNS', () => {
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
  const VENDOR = 'tls-vendor-verification=42';
  const policy = { mode: 'enforce' as const, mx: ['mx1.example.org'], maxAge: 604800 };
  const sts = `v=STSv1; id=${policyFileId(formatMtaStsPolicy(policy))}`;
  const tlsrpt = 'v=TLSRPTv1; rua=mailto:tls-reports@example.org';

  test('created and answered over DNS (apply --verify-dns), a TXT that is not ours kept; removing the keys deletes them with --force', async () => {
    await pdns.deleteZone('example.org');
    await pdns.createZone('example.org', [
      ...(SEEDS['example.org'] ?? []),
      { name: '_smtp._tls.example.org', type: 'TXT', content: q(VENDOR), ttl: 300 },
    ]);
    const withTransport = `${DOMAIN_FILES['example.org.yaml']}tls_reports: [tls-reports@example.org]\nmta_sts: {mode: enforce, mx: [mx1.example.org]}\n`;
    await writeFile(join(dir, 'domains', 'example.org.yaml'), withTransport);
    git('init', '-q', '-b', 'main');
    git('add', '-A');
    git('commit', '-q', '-m', 'MTA-STS');

    const applied = await cli('apply', '--verify-dns', `127.0.0.1:${pdns.dnsPort}`);
    expect(applied.code, applied.stderr).toBe(0);
    expect(await resolveTxt('_mta-sts.example.org')).toEqual([sts]);
    expect(await resolveTxt('_smtp._tls.example.org')).toEqual([VENDOR, tlsrpt].sort());
    expect((await cli('plan', '--detailed-exitcode')).code).toBe(0);

    await writeFile(join(dir, 'domains', 'example.org.yaml'), DOMAIN_FILES['example.org.yaml'] ?? '');
    git('commit', '-q', '-am', 'withdrawn');
    const plan = JSON.parse((await cli('plan', '--format', 'json')).stdout) as Plan;
    expect(plan.changes.map(({ action, name, risky }) => `${action} ${name} ${risky}`)).toEqual([
      'delete _mta-sts.example.org true',
      'delete _smtp._tls.example.org true',
    ]);
    const patches = calls.filter((call) => call.method === 'PATCH').length;
    expect((await cli('apply')).code).toBe(1);
    expect(calls.filter((call) => call.method === 'PATCH')).toHaveLength(patches);
    const forced = await cli('apply', '--force', '--verify-dns', `127.0.0.1:${pdns.dnsPort}`);
    expect(forced.code, forced.stderr).toBe(0);
    await expect(resolveTxt('_mta-sts.example.org')).rejects.toThrow();
    expect(await resolveTxt('_smtp._tls.example.org')).toEqual([VENDOR]);
  });
});
