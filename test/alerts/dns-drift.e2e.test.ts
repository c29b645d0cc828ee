/**
 * DNS drift against the local Cloudflare API (scripts/dns/sandbox): `dmarcops alerts` makes the
 * read-only plan through the cloudflare provider (official SDK, credentials from the environment)
 * with a read-only token. The records as the repository publishes them raise nothing; a record
 * edited directly through the Cloudflare API (as someone in the dashboard would) raises a drift alert.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Cloudflare from 'cloudflare';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { AlertRun } from '../../scripts/alerts/model.ts';
import { main } from '../../scripts/cli.ts';
import { startCloudflareSandbox } from '../../scripts/dns/sandbox/cloudflare-api.ts';
import type { CloudflareSandbox } from '../../scripts/dns/sandbox/cloudflare-api.ts';
import { captureOutput } from '../helpers/output.ts';

const WANT = 'v=DMARC1; p=quarantine; rua=mailto:dmarc@example.com';
const EDITED = 'v=DMARC1; p=none; rua=mailto:dmarc@example.com';
const READ_TOKEN = 'read-only-token-for-the-plan-0123456789ab';

let dir: string;
let sandbox: CloudflareSandbox;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dmarcops-alerts-drift-'));
  await mkdir(join(dir, 'domains'));
  await writeFile(join(dir, 'domains', '_defaults.yaml'), 'policy: none\ndns:\n  provider: cloudflare\n');
  await writeFile(join(dir, 'domains', 'example.com.yaml'), 'policy: quarantine\nreports: [dmarc@example.com]\n');
  sandbox = await startCloudflareSandbox({
    readOnlyTokens: [READ_TOKEN],
    zones: [
      {
        name: 'example.com',
        records: [
          { type: 'TXT', name: '_dmarc.example.com', content: JSON.stringify(WANT), ttl: 3600 },
          { type: 'TXT', name: 'example.com', content: JSON.stringify('v=spf1 -all'), ttl: 3600 },
        ],
      },
    ],
  });
});

afterAll(async () => {
  await sandbox?.stop();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

async function alertsRun(env: Record<string, string>): Promise<AlertRun> {
  const output = captureOutput();
  const code = await main(
    ['alerts', '--dry-run', '--json', '--data', join(dir, 'reports'), '--now', '2026-03-02T06:00:00Z'],
    output,
    { NO_COLOR: '1', ...env },
    dir,
  );
  expect(code, output.stderr.join('\n')).toBe(0);
  return JSON.parse(output.text()) as AlertRun;
}

const readEnv = () => ({ CLOUDFLARE_BASE_URL: sandbox.baseURL, CLOUDFLARE_API_TOKEN: READ_TOKEN });

describe('DNS drift', () => {
  test('the published records match: no drift alert, and the rule ran', async () => {
    const run = await alertsRun(readEnv());
    expect(run.evaluated).toContain('dns-drift');
    expect(run.alerts.filter((a) => a.rule === 'dns-drift')).toEqual([]);
  });

  test('a record edited directly in Cloudflare raises a drift alert; the plan never writes', async () => {
    const client = new Cloudflare({ apiToken: sandbox.token, baseURL: sandbox.baseURL });
    const zone = sandbox.state.zones.find((z) => z.name === 'example.com')!;
    const record = sandbox.api.records('example.com').find((r) => r.name === '_dmarc.example.com')!;
    await client.dns.records.edit(record.id, {
      zone_id: zone.id,
      type: 'TXT',
      name: '_dmarc.example.com',
      content: JSON.stringify(EDITED),
      ttl: 300,
    });
    const writes = sandbox.requests.filter((r) => r.method !== 'GET').length;

    const run = await alertsRun(readEnv());
    const drift = run.alerts.filter((a) => a.rule === 'dns-drift');
    expect(drift.map((a) => a.key)).toEqual(['dns-drift/_dmarc.example.com']);
    expect(drift[0]).toMatchObject({ severity: 'critical', domain: 'example.com', since: '2026-03-02' });
    expect(drift[0]?.figures.find((f) => f.label === 'In DNS')?.value).toBe(EDITED);
    expect(drift[0]?.figures.find((f) => f.label === 'In the repository')?.value).toBe(WANT);
    expect(drift[0]?.summary).toContain('(p=none → p=quarantine; ttl 300 → 3600)');
    expect(sandbox.requests.filter((r) => r.method !== 'GET').length).toBe(writes);
  });

  test('without read credentials DNS drift is not checked, and says so (its issues are left alone)', async () => {
    const run = await alertsRun({});
    expect(run.evaluated).not.toContain('dns-drift');
    expect(run.notes.join('\n')).toMatch(/DNS drift was not checked: .*CLOUDFLARE_API_TOKEN/);
  });
});
