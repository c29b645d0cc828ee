import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { formatBytes } from '../lib/text.ts';
import type { BudgetReport } from '../site/budget.ts';
import type { Command, CommandContext } from './command.ts';
import { CliError, DOMAINS_OPTION, EXIT, JSON_OPTION } from './command.ts';
import { printable } from '../lib/escape.ts';

const BUILD_OPTIONS = ['data', 'domains', 'out', 'base', 'site-url', 'show-addresses', 'redact', 'live-dns', 'private', 'json', 'quiet'];
const SERVE_OPTIONS = ['out', 'base', 'port', 'host'];
const DEFAULT_PORT = 4321;
/** Pages listed in the budget table. */
const LARGEST_PAGES = 5;

export const siteCommand: Command = {
  name: 'site',
  summary: 'build the static dashboard (and check its page weight), or serve a built one locally',
  usage: 'dmarcops site build [--data <dir>] [--domains <dir>] [--out <dir>] [--base <path>] [--site-url <url>] [--show-addresses | --redact] [--live-dns] [--private] [--json]\n       dmarcops site serve [--out <dir>] [--base <path>] [--port <n>] [--host <address>]',
  help: [
    'build: renders site/ (Astro) from the dataset and the domain files into --out, then weighs every page',
    '(HTML + the scripts, styles and images it loads, gzip-compressed) against a 300 KB budget.',
    'serve: serves a built site under its base path, as GitHub Pages would, until Ctrl-C.',
    '',
    'options:',
    '  --data <dir>        dataset root (default: reports)',
    '  --domains <dir>     domain files (default: domains)',
    '  --out <dir>         the built site (default: site/dist); emptied by build',
    '  --base <path>       path the site is served under, e.g. /dmarc/ (default: DMARCOPS_SITE_BASE, else',
    '                      /<repo>/ from GITHUB_REPOSITORY, else /); serve: default the base the site was built with',
    '  --site-url <url>    absolute URL of the deployed site (default: DMARCOPS_SITE_URL)',
    '  --show-addresses    show source IP addresses, PTR host names and reporters\' e-mail addresses; by default',
    '                      a build leaves them out (the site says so), because free Pages sites are public',
    '  --redact            leave them out even with --private (the default otherwise)',
    '  --live-dns          look up each domain\'s published _dmarc record while building (network)',
    '  --private           the site is served by private GitHub Pages (Enterprise Cloud): no "this site is',
    '                      public" banner, and addresses shown; free Pages sites are public to the whole internet',
    '  --json              build: the page count, timings and budget report as one JSON object',
    '  --quiet             build: only Astro\'s errors, not its per-page log',
    `  --port <n>          serve: port (default: ${DEFAULT_PORT}; 0 picks a free one)`,
    '  --host <address>    serve: address to listen on (default: 127.0.0.1, this machine only)',
    '',
    'exit: 0 ok, 1 build failed or a page is over budget, 2 usage error',
  ].join('\n'),
  options: {
    ...JSON_OPTION,
    ...DOMAINS_OPTION,
    data: { type: 'string', default: 'reports' },
    out: { type: 'string', default: 'site/dist' },
    base: { type: 'string' },
    'site-url': { type: 'string' },
    'show-addresses': { type: 'boolean', default: false },
    redact: { type: 'boolean', default: false },
    'live-dns': { type: 'boolean', default: false },
    private: { type: 'boolean', default: false },
    quiet: { type: 'boolean', default: false },
    port: { type: 'string' },
    host: { type: 'string' },
  },
  allowPositionals: true,
  async run(values, positionals, context) {
    const [action, ...extra] = positionals;
    if (action !== 'build' && action !== 'serve') throw new CliError(action === undefined ? 'say what to do: `site build` or `site serve`' : `unknown action \`${action}\`: use \`site build\` or \`site serve\``, EXIT.usage);
    if (extra.length > 0) throw new CliError(`unexpected argument ${extra[0]}`, EXIT.usage);
    const allowed = action === 'build' ? BUILD_OPTIONS : SERVE_OPTIONS;
    const misplaced = givenOptions(context.args).filter((name) => !allowed.includes(name));
    if (misplaced.length > 0) throw new CliError(`--${misplaced[0]} does not apply to \`site ${action}\``, EXIT.usage);
    return action === 'build' ? runBuild(values, context) : runServe(values, context);
  },
};

type Values = Parameters<Command['run']>[0];

async function runBuild(values: Values, { output, env, cwd }: CommandContext): Promise<number> {
  if (values['show-addresses'] && values.redact) throw new CliError('--show-addresses and --redact contradict each other: pass one', EXIT.usage);
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
  let result;
  try {
    result = await buildSite(options);
  } catch (error) {
    if (!(error instanceof SiteBudgetError)) throw error;
    if (json) output.out(JSON.stringify({ ...error.result, error: error.message }, null, 2));
    else printResult(output, error.result);
    throw new CliError(error.message, EXIT.findings);
  }
  if (json) output.out(JSON.stringify(result, null, 2));
  else printResult(output, result);
  return EXIT.ok;
}

function printResult(output: CommandContext['output'], result: { pages: number; redacted: boolean; seconds: number; base: string; outDir: string; budget: BudgetReport }): void {
  const { budget } = result;
  output.out(`built ${result.pages} page${result.pages === 1 ? '' : 's'} in ${result.seconds.toFixed(1)} s into ${result.outDir} (base ${result.base})`);
  output.out(
    result.redacted
      ? 'IP addresses, host names and reporters\' e-mail addresses: left out (the default; --show-addresses shows them)'
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
  const rows = shown.map((page) => [printable(page.page), formatBytes(page.bytes), formatBytes(page.htmlBytes), formatBytes(page.bytes - page.htmlBytes), formatBytes(page.lazyBytes)]);
  const header = ['page', 'total', 'html', 'assets', 'lazy'];
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]!.length)));
  const line = (cells: string[]) => cells.map((cell, column) => (column === 0 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!))).join('  ');
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
  if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65535) throw new CliError(`--port must be a number from 0 to 65535, not ${portText}`, EXIT.usage);
  const port = Number(portText);
  const outDir = resolve(cwd, String(values.out));
  const info = await stat(outDir).catch(() => null);
  if (!info?.isDirectory()) throw new CliError(`no built site in ${outDir}: run \`dmarcops site build\` first`);
  const { siteBase } = await import('../site/build.ts');
  const { builtSiteBase, serveSite } = await import('../site/serve.ts');
  const base = typeof values.base === 'string' ? values.base : ((await builtSiteBase(outDir)) ?? siteBase(env));
  const host = typeof values.host === 'string' ? values.host : '127.0.0.1';
  let server;
  try {
    server = await serveSite(outDir, { base, port, host });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') throw new CliError(`port ${port} is in use: pass another --port (0 picks a free one)`);
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

/** Option names as typed (`--live-dns`, `--port=1`), to tell which action they were meant for. */
function givenOptions(args: string[]): string[] {
  const names: string[] = [];
  for (const arg of args) {
    if (arg === '--') break;
    if (arg.startsWith('--')) names.push(arg.slice(2).split('=')[0]!);
  }
  return names;
}
