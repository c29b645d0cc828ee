/** The alerts config: defaults, located findings like the domain files', and `dmarcops validate` checking it. */
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import schema from '../../scripts/alerts/alerts.schema.json' with { type: 'json' };
import { DEFAULT_ALERTS_CONFIG, dashboardRoot, domainPageUrl, loadAlertsConfig, parseAlertsConfig } from '../../scripts/alerts/config.ts';
import { main } from '../../scripts/cli.ts';
import { captureOutput } from '../helpers/output.ts';

test('alerts.schema.json is a valid draft 2020-12 schema (strict mode)', () => {
  const ajv = new Ajv2020({ strict: true, allowUnionTypes: true });
  expect(ajv.validateSchema(schema), ajv.errorsText()).toBe(true);
  expect(() => ajv.compile(schema)).not.toThrow();
});

describe('parseAlertsConfig', () => {
  test('an empty file, and the shipped domains/_alerts.yaml, are the defaults', async () => {
    expect(parseAlertsConfig('', 'a.yaml')).toEqual({ config: DEFAULT_ALERTS_CONFIG, findings: [], file: 'a.yaml' });
    const shipped = await loadAlertsConfig('domains/_alerts.yaml');
    expect(shipped.findings).toEqual([]);
    expect(shipped.config).toEqual(DEFAULT_ALERTS_CONFIG);
  });

  test('a missing file is the defaults', async () => {
    expect(await loadAlertsConfig('/nonexistent/_alerts.yaml')).toMatchObject({ config: DEFAULT_ALERTS_CONFIG, findings: [] });
  });

  test('values are read, the URL gets its slash, ignored domains are lower-cased', () => {
    const { config } = parseAlertsConfig(
      'dashboard_url: https://dmarc.example.com\nrules:\n  spoofing_surge:\n    factor: 2.5\n' +
        '    ignore: [Lists.Example.COM]\ndeclare_sender:\n  enabled: true\n  base: trunk\n',
      'a.yaml',
    );
    expect(config.dashboardUrl).toBe('https://dmarc.example.com/');
    expect(config.rules.spoofingSurge).toMatchObject({ factor: 2.5, ignore: ['lists.example.com'], recentDays: 2 });
    expect(config.declareSender).toEqual({ enabled: true, base: 'trunk' });
  });

  test('mistakes are findings at their line and column, with a suggestion', () => {
    const text =
      'rules:\n  new_source:\n    min_mesages: 10\n  sender_failing:\n    min_pass_percent: 120\n  spoofing_surge:\n    factor: lots\n';
    const { findings, config } = parseAlertsConfig(text, 'domains/_alerts.yaml');
    expect(findings.map((f) => [f.rule, f.line, f.col])).toEqual([
      ['unknown-key', 3, 5],
      ['invalid-value', 5, 23],
      ['invalid-type', 7, 13],
    ]);
    expect(findings[0]?.message).toBe('unknown key `min_mesages` in `rules.new_source`; did you mean `min_messages`?');
    expect(findings[1]?.message).toBe('`rules.sender_failing.min_pass_percent` must be at most 100, not 120');
    expect(findings[2]?.message).toBe('`rules.spoofing_surge.factor` must be a number, not `lots`');
    // A config with errors is never half-used.
    expect(config).toBe(DEFAULT_ALERTS_CONFIG);
    expect(parseAlertsConfig('rules: [\n', 'x.yaml').findings[0]?.rule).toBe('yaml-syntax');
    expect(parseAlertsConfig('dashboard_url: "javascript:alert(1)"\n', 'x.yaml').findings[0]?.rule).toBe('invalid-value');
  });
});

describe('dashboard links', () => {
  test('from the config, else the Pages address of GITHUB_REPOSITORY', () => {
    const config = DEFAULT_ALERTS_CONFIG;
    expect(dashboardRoot(config, { GITHUB_REPOSITORY: 'Example-Org/dmarc' })).toBe('https://example-org.github.io/dmarc/');
    expect(dashboardRoot(config, { GITHUB_REPOSITORY: 'octo/octo.github.io' })).toBe('https://octo.github.io/');
    expect(dashboardRoot(config, {})).toBeNull();
    expect(dashboardRoot({ ...config, dashboardUrl: 'https://d.example/' }, { GITHUB_REPOSITORY: 'a/b' })).toBe('https://d.example/');
    expect(domainPageUrl('https://d.example/', 'example.com', '7d')).toBe('https://d.example/d/example.com/?w=7d');
    expect(domainPageUrl(null, 'example.com')).toBeNull();
  });
});

describe('dmarcops validate', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dmarcops-alerts-config-'));
    await cp('domains', join(dir, 'domains'), { recursive: true });
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('checks domains/_alerts.yaml with the domain files and points at the mistake', async () => {
    const domains = join(dir, 'domains');
    const clean = captureOutput();
    expect(await main(['validate', '--domains', domains], clean, {})).toBe(0);
    await writeFile(join(domains, '_alerts.yaml'), 'rules:\n  reports_stoped:\n    days: 3\n');
    const output = captureOutput();
    expect(await main(['validate', '--domains', domains], output, {})).toBe(1);
    expect(output.text()).toMatch(
      /_alerts\.yaml:2:3: error: unknown key `reports_stoped` in `rules`; did you mean `reports_stopped`\? \[unknown-key\]/,
    );
    expect(output.text()).toContain('2 |   reports_stoped:');
    // The alerts command refuses to run on it, with the same finding.
    const alerts = captureOutput();
    expect(await main(['alerts', '--domains', domains, '--data', join(dir, 'none'), '--dry-run', '--skip-dns'], alerts, {})).toBe(1);
    expect(alerts.stderr.join('\n')).toContain('unknown key `reports_stoped`');
  });
});
