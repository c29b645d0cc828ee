import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, test, vi } from 'vitest';
import { main } from '../../scripts/cli.ts';
import { budgetTable } from '../../scripts/cli/site.ts';
import type { BudgetReport } from '../../scripts/site/budget.ts';
import type { BuildSiteOptions, BuildSiteResult } from '../../scripts/site/build.ts';
import { exited } from '../services/process.ts';
import { captureOutput } from '../helpers/output.ts';

// The Astro build itself is tested in test/site/build.test.ts; here only what the command makes of it.
const build = vi.hoisted(() => ({ calls: [] as unknown[], result: undefined as unknown, overBudget: false }));
vi.mock('../../scripts/site/build.ts', async (importOriginal) => {
  const original = await importOriginal<typeof import('../../scripts/site/build.ts')>();
  return {
    ...original,
    buildSite: async (options: BuildSiteOptions) => {
      build.calls.push(options);
      if (build.overBudget) throw new original.SiteBudgetError(build.result as BuildSiteResult);
      return build.result;
    },
  };
});

const page = (name: string, bytes: number) => ({
  page: name,
  bytes,
  htmlBytes: 1000,
  lazyBytes: 2048,
  assets: [{ path: '_astro/app.js', bytes: bytes - 1000 }],
  lazyAssets: [],
});

function budgetReport(pages: ReturnType<typeof page>[], limitBytes = 300 * 1024): BudgetReport {
  return {
    limitBytes,
    pages,
    overBudget: pages.filter((entry) => entry.bytes > limitBytes),
    totalBytes: 5 * 1024 * 1024,
    files: 42,
    warnings: ['/favicon.svg is outside the base /repo/: it would not load on the deployed site (index.html and 1 more)'],
  };
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dmarcops-cli-site-'));
  await writeFile(join(dir, 'index.html'), '<h1>dashboard</h1>');
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('dmarcops site: arguments', () => {
  test.each([
    [['site'], /say what to do: `site build` or `site serve`/],
    [['site', 'deploy'], /unknown action `deploy`/],
    [['site', 'build', 'extra'], /unexpected argument extra/],
    [['site', 'serve', '--redact'], /--redact does not apply to `site serve`/],
    [['site', 'build', '--port', '1'], /--port does not apply to `site build`/],
    [['site', 'serve', '--port', 'http'], /--port must be a number from 0 to 65535, not http/],
    [['site', 'serve', '--port=70000'], /--port must be a number from 0 to 65535, not 70000/],
    [['site', 'build', '--nope'], /Unknown option '--nope'/],
    [['site', 'build', '--show-addresses', '--redact'], /--show-addresses and --redact exclude each other: give one/],
    [['site', 'serve', '--show-addresses'], /--show-addresses does not apply to `site serve`/],
  ])('%j is a usage error', async (argv, message) => {
    const output = captureOutput();
    expect(await main(argv, output, {}, dir)).toBe(2);
    expect(output.stderr.join('\n')).toMatch(message);
  });

  test('serve without a built site says how to build one', async () => {
    const output = captureOutput();
    expect(await main(['site', 'serve', '--out', 'missing'], output, {}, dir)).toBe(1);
    expect(output.stderr.join('\n')).toMatch(/no built site in .*missing: run `dmarcops site build` first/);
  });

  test('--help lists both actions and the visibility caveat', async () => {
    const output = captureOutput();
    expect(await main(['site', '--help'], output, {})).toBe(0);
    expect(output.text()).toMatch(/dmarcops site build/);
    expect(output.text()).toMatch(/dmarcops site serve/);
    expect(output.text()).toMatch(/free Pages sites are public/);
    expect(output.text()).toMatch(/--show-addresses {8}build: show source IP addresses, PTR host names and reporters' e-mail/);
  });

  test('the budget table shows the heaviest five pages', () => {
    const budget = budgetReport([
      page('heavy/index.html', 400 * 1024),
      ...['a', 'b', 'c', 'd', 'e'].map((name) => page(`${name}/index.html`, 10_000)),
    ]);
    const lines = budgetTable(budget, { style: (_format, text) => text }).split('\n');
    expect(lines[0]).toBe('largest pages of 6, gzip-compressed (budget 300 KiB per page, lazy chunks not counted):');
    expect(lines[1]).toMatch(/^page\s+total\s+html\s+assets\s+lazy$/);
    expect(lines[2]).toMatch(/^heavy\/index\.html\s+400 KiB\s+1000 B\s+399 KiB\s+2 KiB$/);
    expect(lines).toHaveLength(2 + 5);
  });
});

describe('dmarcops site build', () => {
  beforeEach(() => {
    build.calls.length = 0;
    build.overBudget = false;
    build.result = {
      pages: 2,
      redacted: true,
      seconds: 3.25,
      base: '/repo/',
      outDir: join(dir, 'out'),
      budget: budgetReport([page('index.html', 20_000), page('reports/index.html', 10_000)]),
    };
  });

  test('passes paths resolved against the working folder, the flags and the environment', async () => {
    const output = captureOutput();
    const env = { GITHUB_REPOSITORY: 'acme/dmarc' };
    expect(
      await main(
        [
          'site',
          'build',
          '--data',
          'data',
          '--out',
          'out',
          '--base',
          '/x/',
          '--site-url',
          'https://acme.example',
          '--redact',
          '--live-dns',
          '--private',
        ],
        output,
        env,
        dir,
      ),
    ).toBe(0);
    expect(build.calls).toEqual([
      {
        dataDir: join(dir, 'data'),
        domainsDir: join(dir, 'domains'),
        outDir: join(dir, 'out'),
        base: '/x/',
        siteUrl: 'https://acme.example',
        showAddresses: false,
        liveDns: true,
        visibility: 'private',
        quiet: false,
        env,
      },
    ]);
    expect(output.stdout[0]).toBe(`built 2 pages in 3.3 s into ${join(dir, 'out')} (base /repo/)`);
    expect(output.stdout[1]).toBe(
      "IP addresses, host names and reporters' e-mail addresses: left out (the default; --show-addresses shows them)",
    );
    expect(output.text()).toMatch(/largest pages of 2, gzip-compressed \(budget 300 KiB per page/);
    expect(output.text()).toMatch(/\nindex\.html\s+19\.5 KiB\s+1000 B\s+18\.6 KiB\s+2 KiB\n/);
    expect(output.text()).toMatch(/site: 5 MiB on disk in 42 files/);
    expect(output.stderr).toEqual([
      'warning: /favicon.svg is outside the base /repo/: it would not load on the deployed site (index.html and 1 more)',
    ]);
  });

  test('defaults: no base, URL, visibility or address choice given, so the build decides (redacted unless the site is private)', async () => {
    expect(await main(['site', 'build'], captureOutput(), {}, dir)).toBe(0);
    expect(build.calls).toEqual([
      {
        dataDir: join(dir, 'reports'),
        domainsDir: join(dir, 'domains'),
        outDir: join(dir, 'site', 'dist'),
        liveDns: false,
        quiet: false,
        env: {},
      },
    ]);
  });

  test('--show-addresses opts in, and the summary says the addresses are shown', async () => {
    build.result = { ...(build.result as BuildSiteResult), redacted: false };
    const output = captureOutput();
    expect(await main(['site', 'build', '--show-addresses'], output, {}, dir)).toBe(0);
    expect(build.calls).toEqual([expect.objectContaining({ showAddresses: true })]);
    expect(build.calls[0]).not.toHaveProperty('visibility');
    expect(output.stdout[1]).toBe("IP addresses, host names and reporters' e-mail addresses: shown on every page");
  });

  test('--json prints one object and keeps Astro quiet', async () => {
    const output = captureOutput();
    expect(await main(['site', 'build', '--json'], output, {}, dir)).toBe(0);
    expect((build.calls[0] as BuildSiteOptions).quiet).toBe(true);
    const printed = JSON.parse(output.text());
    expect(printed).toEqual(build.result);
  });

  test('a page over budget: the report, the message, exit 1', async () => {
    build.overBudget = true;
    build.result = {
      pages: 1,
      redacted: true,
      seconds: 1,
      base: '/',
      outDir: join(dir, 'out'),
      budget: budgetReport([page('heavy/index.html', 400 * 1024)]),
    };
    const output = captureOutput();
    expect(await main(['site', 'build'], output, {}, dir)).toBe(1);
    expect(output.text()).toMatch(/heavy\/index\.html\s+400 KiB/);
    expect(output.stderr.join('\n')).toContain(
      'dmarcops site: 1 page over the 300 KiB compressed budget: [site-over-budget]\n' +
        '  heavy/index.html is 400 KiB compressed, over the 300 KiB budget (HTML 1000 B; biggest assets: _astro/app.js 399 KiB)',
    );

    const json = captureOutput();
    expect(await main(['site', 'build', '--json'], json, {}, dir)).toBe(1);
    const printed = JSON.parse(json.text());
    expect(printed.budget.overBudget.map((entry: { page: string }) => entry.page)).toEqual(['heavy/index.html']);
    expect(printed.error).toMatch(/^1 page over the 300 KiB compressed budget/);
  });
});

describe('dmarcops site serve', () => {
  test('prints its URL, serves the site under the base, and stops cleanly on SIGTERM', async () => {
    // A real process: the command runs until a signal, which only a separate process can receive safely.
    const child = spawn(process.execPath, ['bin/dmarcops.js', 'site', 'serve', '--out', dir, '--port', '0', '--base', '/repo'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    try {
      const deadline = Date.now() + 15_000;
      while (!/http:\/\/\S+/.test(stdout) && child.exitCode === null && Date.now() < deadline)
        await new Promise((resolve) => setTimeout(resolve, 50));
      const url = /(http:\/\/\S+)/.exec(stdout)?.[1];
      expect(url, `no URL printed; stderr: ${stderr}`).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/repo\/$/);
      const response = await fetch(url!);
      expect(response.status).toBe(200);
      expect(await response.text()).toBe('<h1>dashboard</h1>');
    } finally {
      child.kill('SIGTERM');
      await exited(child);
    }
    expect(child.exitCode).toBe(0);
    expect(stdout).toMatch(/stopped/);
  });
});
