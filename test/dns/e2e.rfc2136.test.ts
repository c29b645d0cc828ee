/**
 * End to end against a real BIND 9 (test/services/bind.ts): the real CLI (`main` in-process, the
 * rfc2136 provider configured from the DMARCOPS_RFC2136_* variables only) over a temp folder of
 * domain files, then the result checked over DNS (`apply --verify-dns`, node:dns and dig) and in the
 * whole zone by AXFR.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { main } from '../../scripts/cli.ts';
import type { Plan } from '../../scripts/dns/types.ts';
import { captureOutput } from '../helpers/output.ts';
import { startBind, type BindServer } from '../services/bind.ts';
import { locateExecutable } from '../services/process.ts';

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

const SEEDS: Record<string, string[]> = {
  'example.org': [
    '@ 3600 IN A 192.0.2.81',
    '@ 3600 IN MX 10 mx1',
    'mx1 3600 IN A 192.0.2.25',
    'www 3600 IN CNAME @',
    '@ 3600 IN TXT "v=spf1 mx ip4:192.0.2.10 -all"',
    `_dmarc 300 IN TXT "${STALE}"`,
    `_dmarc 300 IN TXT "${DUPLICATE}"`,
    `_dmarc 300 IN TXT "${VERIFICATION}"`,
  ],
  'example.net': ['@ 3600 IN A 192.0.2.90', '@ 3600 IN MX 0 .', '@ 3600 IN TXT "v=spf1 -all"'],
};

const DOMAIN_FILES: Record<string, string> = {
  '_defaults.yaml': ['policy: none', 'dns:', '  provider: rfc2136', '  ttl: 3600', 'owners:', '  - "@example-org/mail-admins"', ''].join(
    '\n',
  ),
  'example.org.yaml': ['policy: quarantine', 'reports:', '  - dmarc@example.org', 'dns:', '  zone: example.org', ''].join('\n'),
  'mail.example.org.yaml': ['policy: reject', 'reports:', '  - dmarc@example.org', 'dns:', '  zone: example.org', ''].join('\n'),
  'example.net.yaml': ['policy: reject', 'reports:', '  - dmarc@example.org', 'dns:', '  zone: example.net', ''].join('\n'),
};

let bind: BindServer;
let root: string;
let dir: string;
let run = 0;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'dmarcops-e2e-rfc2136-'));
  bind = await startBind();
});
afterAll(async () => {
  await bind?.stop();
  await rm(root, { recursive: true, force: true });
});

beforeEach(async () => {
  for (const [zone, lines] of Object.entries(SEEDS)) {
    await bind.deleteZone(zone);
    await bind.createZone(zone, lines);
  }
  dir = join(root, `run-${++run}`);
  await mkdir(join(dir, 'domains'), { recursive: true });
  for (const [file, text] of Object.entries(DOMAIN_FILES)) await writeFile(join(dir, 'domains', file), text);
});

async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const output = captureOutput();
  const env = {
    DMARCOPS_RFC2136_SERVER: bind.address,
    DMARCOPS_RFC2136_KEY_NAME: bind.key.name,
    DMARCOPS_RFC2136_KEY_SECRET: bind.key.secret,
    NO_COLOR: '1',
  };
  const code = await main(args, output, env, dir);
  return { code, stdout: output.stdout.join('\n'), stderr: output.stderr.join('\n') };
}

/** Both zones by AXFR, SOA left out. */
async function zones(): Promise<string[]> {
  return (await Promise.all(Object.keys(SEEDS).map((zone) => bind.zoneRecords(zone)))).flat().sort();
}

async function serials(): Promise<number[]> {
  return Promise.all(Object.keys(SEEDS).map(async (zone) => (await bind.resolver().resolveSoa(zone)).serial));
}

/** Every record dmarcops does not own; at managed names the TTL is left out (one TTL per RRset). */
function notOwned(lines: readonly string[]): string[] {
  return lines
    .filter((line) => !/ TXT "v=DMARC1/.test(line))
    .map((line) => {
      const [name = '', ttl, ...rest] = line.split(' ');
      return [name, MANAGED.includes(name.replace(/\.$/, '')) ? '-' : ttl, ...rest].join(' ');
    });
}

async function resolveTxt(name: string): Promise<string[]> {
  return (await bind.resolver().resolveTxt(name)).map((strings) => strings.join('')).sort();
}

describe('dmarcops plan / apply against BIND 9 (rfc2136)', () => {
  test('plan shows exactly the DMARC changes; apply makes them (one UPDATE per zone) and they resolve; plan again: none; other records untouched', async () => {
    const before = await zones();
    const serialsBefore = await serials();

    const planned = await cli('plan', '--format', 'json');
    expect(planned.code, planned.stderr).toBe(0);
    const plan = JSON.parse(planned.stdout) as Plan;
    expect(
      plan.changes.map(({ action, provider, zone, name, before: was, after, risky }) => ({
        action,
        provider,
        zone,
        name,
        before: was,
        after,
        risky,
      })),
    ).toEqual(
      expect.arrayContaining([
        {
          action: 'update',
          provider: 'rfc2136',
          zone: 'example.org',
          name: '_dmarc.example.org',
          before: [DUPLICATE, STALE].sort(),
          after: [WANT.apex],
          risky: false,
        },
        {
          action: 'create',
          provider: 'rfc2136',
          zone: 'example.org',
          name: '_dmarc.mail.example.org',
          before: null,
          after: [WANT.mail],
          risky: false,
        },
        {
          action: 'create',
          provider: 'rfc2136',
          zone: 'example.org',
          name: 'example.net._report._dmarc.example.org',
          before: null,
          after: [WANT.auth],
          risky: false,
        },
        {
          action: 'create',
          provider: 'rfc2136',
          zone: 'example.net',
          name: '_dmarc.example.net',
          before: null,
          after: [WANT.net],
          risky: false,
        },
      ]),
    );
    expect(plan.changes).toHaveLength(4);
    expect(await zones()).toEqual(before); // plan writes nothing
    expect(await serials()).toEqual(serialsBefore);

    const applied = await cli('apply', '--verify-dns', bind.address);
    expect(applied.code, `${applied.stdout}\n${applied.stderr}\n${bind.log().slice(-3000)}`).toBe(0);
    expect(applied.stdout).toContain('Applied 4 changes.');
    // BIND bumps the serial once per UPDATE message: one per zone.
    expect(await serials()).toEqual(serialsBefore.map((serial) => serial + 1));

    const second = await cli('plan', '--detailed-exitcode');
    expect(second.code, second.stdout).toBe(0);
    expect(second.stdout).toContain('No changes.');

    const after = await zones();
    expect(notOwned(after)).toEqual(notOwned(before));
    expect(after.filter((line) => / TXT "v=DMARC1/.test(line))).toEqual(
      [
        `_dmarc.example.org. 3600 IN TXT "${WANT.apex}"`,
        `_dmarc.mail.example.org. 3600 IN TXT "${WANT.mail}"`,
        `example.net._report._dmarc.example.org. 3600 IN TXT "${WANT.auth}"`,
        `_dmarc.example.net. 3600 IN TXT "${WANT.net}"`,
      ].sort(),
    );

    // Over DNS: node:dns and dig.
    expect(await resolveTxt('_dmarc.example.org')).toEqual([WANT.apex, VERIFICATION].sort());
    expect(await resolveTxt('_dmarc.example.net')).toEqual([WANT.net]);
    expect(await resolveTxt('example.net._report._dmarc.example.org')).toEqual([WANT.auth]);
    const dig = locateExecutable('dig');
    if (dig === undefined) throw new Error('dig not found (Debian package bind9-dnsutils)');
    const { stdout } = await promisify(execFile)(dig, [
      '+short',
      '+norecurse',
      '+time=2',
      '+tries=2',
      '@127.0.0.1',
      '-p',
      String(bind.port),
      'TXT',
      '_dmarc.mail.example.org',
    ]);
    expect(stdout.trim()).toBe(JSON.stringify(WANT.mail));

    // Idempotent: apply again writes nothing.
    const again = await cli('apply');
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('Nothing to apply.');
    expect(await serials()).toEqual(serialsBefore.map((serial) => serial + 1));
  });

  test('a policy downgrade is refused without --force (nothing written) and applied with it', async () => {
    expect((await cli('apply')).code).toBe(0);
    await writeFile(
      join(dir, 'domains', 'mail.example.org.yaml'),
      DOMAIN_FILES['mail.example.org.yaml']?.replace('policy: reject', 'policy: none') ?? '',
    );
    const converged = await zones();

    const refused = await cli('apply');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('--force');
    expect(await zones()).toEqual(converged);

    const forced = await cli('apply', '--force', '--verify-dns', bind.address);
    expect(forced.code, forced.stderr).toBe(0);
    expect(await resolveTxt('_dmarc.mail.example.org')).toEqual(['v=DMARC1; p=none; rua=mailto:dmarc@example.org']);
    expect((await cli('plan', '--detailed-exitcode')).code).toBe(0);
  });

  test('a wrong key fails the plan with a sentence naming the setting, not the secret', async () => {
    const output = captureOutput();
    const secret = Buffer.alloc(32, 3).toString('base64');
    const env = {
      DMARCOPS_RFC2136_SERVER: bind.address,
      DMARCOPS_RFC2136_KEY_NAME: bind.key.name,
      DMARCOPS_RFC2136_KEY_SECRET: secret,
      NO_COLOR: '1',
    };
    const code = await main(['plan'], output, env, dir);
    const text = [...output.stdout, ...output.stderr].join('\n');
    expect(code).toBe(1);
    expect(text).toMatch(/rfc2136 zone example\.(net|org): cannot list TXT records: .*BADSIG.*DMARCOPS_RFC2136_KEY_SECRET/);
    expect(text).not.toContain(secret);
  });
});
