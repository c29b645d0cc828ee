import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { formatBytes } from '../lib/text.ts';
import type { BudgetReport } from '../site/budget.ts';
import { DmarcopsError, usageError } from '../lib/errors.ts';
import type { Command, CommandContext, OptionSpec } from './command.ts';
import { DATA_OPTION, DOMAINS_OPTION, EXIT, JSON_OPTION } from './command.ts';
import { printable } from '../lib/escape.ts';

const DEFAULT_PORT = 4321;
/** Pages listed in the budget table. */
const LARGEST_PAGES = 5;

export const siteCommand: Command = {
  name: 'site',
  summary: 'build the static dashboard (and check its page weight), or serve a built one locally',
  actions: [
    {
      name: 'build',
      summary:
        "build the dashboard from the dataset and the domain files, without IP addresses, host names or reporters' e-mail addresses unless " +
        '--show-addresses or --private; fails when a page weighs more than 300 KiB compressed',
    },
    { name: 'serve', summary: 'serve a built site under its base path, as GitHub Pages would, until Ctrl-C' },
  ],
  description: [
    'build: renders site/ (Astro) from the dataset and the domain files into --out, then weighs every page (HTML + the scripts, styles and images it loads, ' +
      'gzip-compressed) against a 300 KiB budget. serve: serves a built site under its base path, as GitHub Pages would, until Ctrl-C.',
  ],
  options: [
    { ...DATA_OPTION, actions: ['build'] },
    { ...DOMAINS_OPTION, description: 'domain files', actions: ['build'] },
    { name: 'out', type: 'string', value: 'dir', default: 'site/dist', description: 'the built site; emptied by build' },
    {
      name: 'base',
      type: 'string',
      value: 'path',
      defaultText: 'build: DMARCOPS_SITE_BASE, else /<repo>/ from GITHUB_REPOSITORY, else /; serve: the base the site was built with',
      description: 'path the site is served under, e.g. /dmarc/',
    },
    {
      name: 'site-url',
      type: 'string',
      value: 'url',
      defaultText: 'DMARCOPS_SITE_URL',
      description: 'absolute URL of the deployed site',
      actions: ['build'],
    },
    {
      name: 'show-addresses',
      type: 'boolean',
      default: false,
      description:
        "show source IP addresses, PTR host names and reporters' e-mail addresses; by default a build leaves them out (the site says so), because free Pages " +
        'sites are public',
      actions: ['build'],
    },
    {
      name: 'redact',
      type: 'boolean',
      default: false,
      description: 'leave them out even with --private (the default otherwise)',
      actions: ['build'],
    },
    {
      name: 'live-dns',
      type: 'boolean',
      default: false,
      description: "look up each domain's published _dmarc record while building (network)",
      actions: ['build'],
    },
    {
      name: 'private',
      type: 'boolean',
      default: false,
      description:
        'the site is served by private GitHub Pages (Enterprise Cloud): no "this site is public" banner, ' +
        'and addresses shown; free Pages sites are public to the whole internet',
      actions: ['build'],
    },
    { ...JSON_OPTION, description: 'the page count, timings and budget report as one JSON object', actions: ['build'] },
    { name: 'quiet', type: 'boolean', default: false, description: "only Astro's errors, not its per-page log", actions: ['build'] },
    {
      name: 'port',
      type: 'string',
      value: 'n',
      defaultText: `${DEFAULT_PORT}; 0 picks a free one`,
      description: 'port',
      actions: ['serve'],
    },
    {
      name: 'host',
      type: 'string',
      value: 'address',
      defaultText: '127.0.0.1, this machine only',
      description: 'address to listen on',
      actions: ['serve'],
    },
  ] satisfies OptionSpec[],
  exclusive: [['show-addresses', 'redact']],
  examples: [
    { command: 'dmarcops site build && dmarcops site serve', description: 'build the dashboard and look at it on http://127.0.0.1:4321/' },
  ],
  exit: { 0: 'ok', 1: 'build failed or a page is over budget' },
  async run(values, positionals, context) {
    // The action, and which options go with it, are checked against the table before run.
    const [action, ...extra] = positionals;
    if (extra.length > 0) throw usageError(`unexpected argument ${extra[0]}`);
    return action === 'build' ? runBuild(values, context) : runServe(values, context);
  },
};

type Values = Parameters<Command['run']>[0];

async function runBuild(values: Values, { output, env, cwd }: CommandContext): Promise<number> {
  const { buildSite, SiteBudgetError } = await import('../site/build.ts');
  const json = Boolean(values.json);
  const options: Parameters<typeof buildSite>[0] = {
    dataDir: resolve(cwd, String(values.data)),
    domainsDir: resolve(cwd, String(values.domains)),
    outDir: resolve(cwd, String(values.out)),
    liveDns: Boolean(values['live-dns']),
    // Astro's progress lines go to stdout, which --json keeps for the JSON alone.
    quiet: json || values.quiet === true,
    env,
  };
  if (typeof values.base === 'string') options.base = values.base;
  if (typeof values['site-url'] === 'string') options.siteUrl = values['site-url'];
  if (values.private) options.visibility = 'private';
  // Neither flag: buildSite decides (shown on a private site only).
  if (values['show-addresses']) options.showAddresses = true;
  if (values.redact) options.showAddresses = false;
  let result: Awaited<ReturnType<typeof buildSite>>;
  try {
    result = await buildSite(options);
  } catch (error) {
    if (!(error instanceof SiteBudgetError)) throw error;
    if (json) output.out(JSON.stringify({ ...error.result, error: error.message }, null, 2));
    else printResult(output, error.result);
    throw error;
  }
  if (json) output.out(JSON.stringify(result, null, 2));
  else printResult(output, result);
  return EXIT.ok;
}

function printResult(
  output: CommandContext['output'],
  result: { pages: number; redacted: boolean; seconds: number; base: string; outDir: string; budget: BudgetReport },
): void {
  const { budget } = result;
  output.out(
    `built ${result.pages} page${result.pages === 1 ? '' : 's'} in ${result.seconds.toFixed(1)} s into ${result.outDir} (base ${result.base})`,
  );
  output.out(
    result.redacted
      ? "IP addresses, host names and reporters' e-mail addresses: left out (the default; --show-addresses shows them)"
      : `IP addresses, host names and reporters' e-mail addresses: ${output.style('bold', 'shown')} on every page`,
  );
  output.out('');
  output.out(budgetTable(budget, output));
  output.out('');
  output.out(`site: ${formatBytes(budget.totalBytes)} on disk in ${budget.files} files`);
  for (const warning of budget.warnings) output.err(`${output.style(['bold', 'yellow'], 'warning')}: ${printable(warning)}`);
}

/** The heaviest pages, one line each: total, HTML, assets and lazily loaded chunks. */
export function budgetTable(budget: BudgetReport, output: Pick<CommandContext['output'], 'style'>): string {
  const shown = budget.pages.slice(0, LARGEST_PAGES);
  const rows = shown.map((page) => [
    printable(page.page),
    formatBytes(page.bytes),
    formatBytes(page.htmlBytes),
    formatBytes(page.bytes - page.htmlBytes),
    formatBytes(page.lazyBytes),
  ]);
  const header = ['page', 'total', 'html', 'assets', 'lazy'];
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]!.length)));
  const line = (cells: string[]) =>
    cells.map((cell, column) => (column === 0 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!))).join('  ');
  const lines = [
    `largest pages of ${budget.pages.length}, gzip-compressed (budget ${formatBytes(budget.limitBytes)} per page, lazy chunks not counted):`,
    output.style('dim', line(header)),
    ...shown.map((page, index) => {
      const text = line(rows[index]!);
      return page.bytes > budget.limitBytes ? output.style(['bold', 'red'], text) : text;
    }),
  ];
  return lines.join('\n');
}

async function runServe(values: Values, { output, env, cwd }: CommandContext): Promise<number> {
  const portText = typeof values.port === 'string' ? values.port : String(DEFAULT_PORT);
  if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65535) throw usageError(`--port must be a number from 0 to 65535, not ${portText}`);
  const port = Number(portText);
  const outDir = resolve(cwd, String(values.out));
  const info = await stat(outDir).catch(() => null);
  if (!info?.isDirectory()) throw new DmarcopsError('site-not-built', `no built site in ${outDir}: run \`dmarcops site build\` first`);
  const { siteBase } = await import('../site/build.ts');
  const { builtSiteBase, serveSite } = await import('../site/serve.ts');
  const base = typeof values.base === 'string' ? values.base : ((await builtSiteBase(outDir)) ?? siteBase(env));
  const host = typeof values.host === 'string' ? values.host : '127.0.0.1';
  let server: Awaited<ReturnType<typeof serveSite>>;
  try {
    server = await serveSite(outDir, { base, port, host });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE')
      throw new DmarcopsError('port-in-use', `port ${port} is in use: pass another --port (0 picks a free one)`, { cause: error });
    throw error;
  }
  output.out(`serving ${outDir} at ${server.url} (Ctrl-C to stop)`);
  await new Promise<void>((resolveStop) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolveStop();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  await server.close();
  output.out('stopped');
  return EXIT.ok;
}
