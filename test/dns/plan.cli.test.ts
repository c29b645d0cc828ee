/**
 * `dmarcops plan` and `dmarcops apply` over the repository's own domains/ folder, with fake providers
 * injected in place of Cloudflare and PowerDNS (the cross-provider end-to-end suites use the real ones).
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { main, parseCommandLine } from '../../scripts/cli.ts';
import { makeApplyCommand, parseDnsServer } from '../../scripts/cli/apply.ts';
import type { Command } from '../../scripts/cli/command.ts';
import { EXIT_CHANGES, makePlanCommand } from '../../scripts/cli/plan.ts';
import type { DnsCommandDeps } from '../../scripts/cli/plan.ts';
import { ManualProvider, providerFor } from '../../scripts/dns/providers/index.ts';
import type { Plan } from '../../scripts/dns/types.ts';
import type { DnsProviderName } from '../../scripts/policy/model.ts';
import { captureOutput } from '../helpers/output.ts';
import { FakeProvider, fakeResolver } from './fake-provider.ts';

const NOW = new Date('2026-03-01T12:00:00Z');
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dmarcops-plan-cli-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function providers() {
  const cloudflare = new FakeProvider('cloudflare', { 'example.com': [{ name: 'www.example.com', ttl: 300, value: 'not ours' }] });
  const powerdns = new FakeProvider('powerdns', { 'example.org': [] });
  const deps: DnsCommandDeps = { resolve: fakeResolver(cloudflare, powerdns), now: NOW, removedDomains: [] };
  return { cloudflare, powerdns, deps };
}

async function run(command: Command, args: string[], env: Record<string, string> = {}) {
  const { values, positionals } = parseCommandLine(command, args);
  const output = captureOutput();
  try {
    const code = await command.run(values, positionals, { args, output, env, cwd: process.cwd() });
    return { code, output, error: undefined };
  } catch (error) {
    return { code: (error as { exitCode?: number }).exitCode ?? -1, output, error: error as Error };
  }
}

describe('dmarcops plan', () => {
  test('text: the four records of domains/ to create, never writing', async () => {
    const { cloudflare, powerdns, deps } = providers();
    const { code, output } = await run(makePlanCommand(deps), []);
    expect(code).toBe(0);
    const text = output.text();
    expect(text).toContain('dmarcops plan: 4 names read in 2 zones (cloudflare 1, powerdns 1)');
    expect(text).toContain('+ _dmarc.example.com TXT (cloudflare example.com)');
    expect(text).toContain('+ example.org._report._dmarc.example.com TXT (cloudflare example.com)');
    expect(text).toContain('Plan: 4 to create, 0 to update, 0 to delete.');
    expect(cloudflare.applyCalls).toEqual([]);
    expect(powerdns.applyCalls).toEqual([]);
  });

  test('--format json prints one plan object; --out writes the same; the job summary gets Markdown', async () => {
    const { deps } = providers();
    const out = join(dir, 'plan.json');
    const summary = join(dir, 'summary.md');
    const { code, output } = await run(makePlanCommand(deps), ['--format', 'json', '--out', out], { GITHUB_STEP_SUMMARY: summary });
    expect(code).toBe(0);
    const plan = JSON.parse(output.text()) as Plan;
    expect(Object.keys(plan)).toEqual(['version', 'checksum', 'generatedAt', 'changes', 'notices', 'zones']);
    expect(plan.changes.map((change) => change.name)).toEqual([
      '_dmarc.example.com',
      '_dmarc.mail.example.com',
      'example.org._report._dmarc.example.com',
      '_dmarc.example.org',
    ]);
    expect(JSON.parse(await readFile(out, 'utf8'))).toEqual(plan);
    expect(await readFile(summary, 'utf8')).toMatch(/^## dmarcops plan\n\n\*\*Plan: 4 to create, 0 to update, 0 to delete\.\*\*/);
  });

  test('--detailed-exitcode: 3 with changes, 0 without', async () => {
    const { deps } = providers();
    expect((await run(makePlanCommand(deps), ['--detailed-exitcode'])).code).toBe(EXIT_CHANGES);
    await run(makeApplyCommand(deps), []);
    const after = await run(makePlanCommand(deps), ['--detailed-exitcode']);
    expect(after.code).toBe(0);
    expect(after.output.text()).toContain('No changes. DNS matches the domain files.');
  });

  test('usage errors: an unknown format, a bad number', async () => {
    const { deps } = providers();
    expect((await run(makePlanCommand(deps), ['--format', 'xml'])).code).toBe(2);
    expect((await run(makePlanCommand(deps), ['--max-deletes', 'ten'])).code).toBe(2);
  });

  test('help says what the exit codes mean; the commands are listed', async () => {
    const output = captureOutput();
    expect(await main(['plan', '--help'], output, {})).toBe(0);
    expect(output.text()).toMatch(/^ {2}3 {2}changes, with --detailed-exitcode$/m);
    const general = captureOutput();
    await main(['--help'], general, {});
    expect(general.text()).toMatch(/^ {2}plan {5}/m);
    expect(general.text()).toMatch(/^ {2}apply {4}/m);
    expect(general.text()).toMatch(/^ {2}comment {2}/m);
  });
});

describe('dmarcops apply', () => {
  test('with the reviewed plan: applies, verifies by planning again, and a second run has nothing to do', async () => {
    const { cloudflare, powerdns, deps } = providers();
    const out = join(dir, 'reviewed.json');
    await run(makePlanCommand(deps), ['--out', out]);
    const summary = join(dir, 'apply-summary.md');
    const { code, output } = await run(makeApplyCommand(deps), ['--plan', out], { GITHUB_STEP_SUMMARY: summary });
    expect(code).toBe(0);
    expect(output.text()).toContain('Verified: planning again gives no changes.');
    expect(output.text()).toContain('Applied 4 changes.');
    expect(output.stderr).toEqual(['applying 3 changes to cloudflare example.com…', 'applying 1 change to powerdns example.org…']);
    expect(cloudflare.values('example.com', '_dmarc.example.com')).toEqual([
      'v=DMARC1; p=quarantine; sp=reject; t=y; rua=mailto:dmarc-reports@example.com',
    ]);
    expect(powerdns.values('example.org', '_dmarc.example.org')).toHaveLength(1);
    expect(await readFile(summary, 'utf8')).toMatch(
      /^## dmarcops apply\n\n✅ Applied and verified\.\n\n\| provider \| zone \| changes \| result \|/,
    );

    const second = await run(makeApplyCommand(deps), []);
    expect(second.code).toBe(0);
    expect(second.output.text()).toContain('Nothing to apply.');
  });

  test('a reviewed plan that DNS no longer matches is refused, nothing written', async () => {
    const { cloudflare, deps } = providers();
    const out = join(dir, 'stale.json');
    await run(makePlanCommand(deps), ['--out', out]);
    cloudflare.add('example.com', { name: '_dmarc.example.com', ttl: 3600, value: 'v=DMARC1; p=none' });
    const { code, error, output } = await run(makeApplyCommand(deps), ['--plan', out]);
    expect(code).toBe(1);
    expect(error?.message).toMatch(/^refused, nothing changed: the plan differs from the reviewed one/);
    expect(output.text()).toContain('apply would refuse and change nothing:');
    expect(cloudflare.applyCalls).toEqual([]);
  });

  test('a weaker policy needs --force; the text says what would happen', async () => {
    const { cloudflare, deps } = providers();
    cloudflare.add('example.com', {
      name: '_dmarc.mail.example.com',
      ttl: 3600,
      value: 'v=DMARC1; p=reject; adkim=s; rua=mailto:dmarc-reports@example.com; t=n',
    });
    cloudflare.add('example.com', {
      name: '_dmarc.example.com',
      ttl: 3600,
      value: 'v=DMARC1; p=reject; rua=mailto:dmarc-reports@example.com',
    });
    const refused = await run(makeApplyCommand(deps), []);
    expect(refused.code).toBe(1);
    expect(refused.output.text()).toContain(
      '! risky: weakens the policy: p reject → none (t=y: one step less), sp reject → quarantine (t=y: one step less), ' +
        'np reject → quarantine (t=y: one step less); apply needs --force',
    );
    expect(refused.error?.message).toMatch(/1 risky change \(a deletion or a weaker policy\) needs --force/);
    expect(cloudflare.applyCalls).toEqual([]);
    const forced = await run(makeApplyCommand(deps), ['--force']);
    expect(forced.code).toBe(0);
  });

  test('--verify-dns takes IP addresses with optional ports', () => {
    expect(parseDnsServer('192.0.2.53')).toBe('192.0.2.53');
    expect(parseDnsServer('127.0.0.1:5353')).toBe('127.0.0.1:5353');
    expect(parseDnsServer('2001:db8::53')).toBe('2001:db8::53');
    expect(parseDnsServer('[2001:db8::53]:5353')).toBe('[2001:db8::53]:5353');
    expect(() => parseDnsServer('ns1.example.com')).toThrow(/IP address/);
    expect(() => parseDnsServer('127.0.0.1:70000')).toThrow(/IP address/);
  });
});

describe('providers by name', () => {
  test('manual lists nothing and refuses to write; unknown names and missing settings say so', async () => {
    const manual = await providerFor('manual', {});
    expect(manual).toBeInstanceOf(ManualProvider);
    expect(await manual.listTxt('example.com', ['_dmarc.example.com'])).toEqual([]);
    await expect(manual.applyZone('example.com', [], [])).rejects.toThrow(/manual provider/);
    await expect(providerFor('route53' as DnsProviderName, {})).rejects.toThrow(
      /unknown DNS provider "route53"; use cloudflare, powerdns, rfc2136, manual in dns.provider/,
    );
    await expect(providerFor('rfc2136', {})).rejects.toThrow(/DMARCOPS_RFC2136_SERVER/);
    await expect(providerFor('powerdns', {})).rejects.toThrow(/PDNS_API_URL/);
  });
});
