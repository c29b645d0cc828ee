/**
 * Builds the static dashboard (site/, Astro) from the dataset and the domain files, then checks every
 * page against the weight budget (./budget.ts).
 *
 * The pages learn what to build from environment variables (SITE_ENV in ./model.ts): Astro renders
 * them in this process, so they are set around the build and restored afterwards.
 */
import { mkdir } from 'node:fs/promises';
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { ViteUserConfig } from 'astro';
import { checkBudget, describeOverBudget, normaliseBase } from './budget.ts';
import { formatBytes, plural } from '../lib/text.ts';
import type { BudgetReport } from './budget.ts';
import { SITE_ENV } from './model.ts';
import { DmarcopsError } from '../lib/errors.ts';

export const DEFAULT_BUDGET_BYTES = 300 * 1024;
const ASTRO_OWN_ENV = ['BASE_URL', 'SITE', 'ASSETS_PREFIX', 'MODE', 'DEV', 'PROD', 'SSR'];
export const SITE_ROOT = fileURLToPath(new URL('../../site/', import.meta.url));
const SCRIPTS_DIR = fileURLToPath(new URL('../', import.meta.url));

export interface BuildSiteOptions {
  dataDir: string;
  domainsDir: string;
  outDir: string;
  /** Path the site is served under; default from the environment (`siteBase`). */
  base?: string;
  /** Absolute URL of the deployed site (canonical links); default env DMARCOPS_SITE_URL. */
  siteUrl?: string;
  /**
   * Show IP addresses, host names and reporters' e-mail addresses. Default: only on a private site
   * (`visibility: 'private'`); every other build redacts them.
   */
  showAddresses?: boolean;
  liveDns?: boolean;
  /** `private` hides the public-site banner (and shows addresses); default env DMARCOPS_SITE_VISIBILITY, else public. */
  visibility?: 'public' | 'private';
  /** owner/name for "propose a change" links; default env DMARCOPS_REPOSITORY, else GITHUB_REPOSITORY. */
  repository?: string;
  /** Only Astro's errors on the console. */
  quiet?: boolean;
  /** Compressed bytes a page may weigh (default 300 KiB). */
  budgetBytes?: number;
  /** The Astro project; default site/ in this repository (tests build throwaway projects). */
  root?: string;
  /** Where the defaults come from; default process.env. */
  env?: NodeJS.ProcessEnv;
}

export interface BuildSiteResult {
  /** HTML files written (404.html included). */
  pages: number;
  /** Whether IP addresses, host names and reporters' e-mail addresses were left out. */
  redacted: boolean;
  seconds: number;
  base: string;
  outDir: string;
  budget: BudgetReport;
}

/** Thrown when a page weighs more than the budget; the site is built, the report says what is heavy. */
export class SiteBudgetError extends DmarcopsError {
  readonly result: BuildSiteResult;
  constructor(result: BuildSiteResult) {
    const { budget } = result;
    super(
      'site-over-budget',
      [
        `${plural(budget.overBudget.length, 'page')} over the ${formatBytes(budget.limitBytes)} compressed budget:`,
        ...budget.overBudget.slice(0, 10).map((page) => `  ${describeOverBudget(page, budget.limitBytes)}`),
        ...(budget.overBudget.length > 10 ? [`  … and ${budget.overBudget.length - 10} more`] : []),
      ].join('\n'),
    );
    this.name = 'SiteBudgetError';
    this.result = result;
  }
}

/**
 * The path the site is served under: DMARCOPS_SITE_BASE when set (even empty: configure-pages gives
 * '' for a user site or a custom domain), else the project-site path GitHub Pages uses for
 * GITHUB_REPOSITORY (`/<repo>/`, `/` for `<owner>.github.io`), else `/`.
 */
export function siteBase(env: NodeJS.ProcessEnv = process.env): string {
  const explicit = env[SITE_ENV.base];
  if (explicit !== undefined) return normaliseBase(explicit);
  const [owner, repo] = (env.GITHUB_REPOSITORY ?? '').split('/');
  if (!owner || !repo) return '/';
  if (repo.toLowerCase() === `${owner.toLowerCase()}.github.io`) return '/';
  return normaliseBase(repo);
}

export async function buildSite(options: BuildSiteOptions): Promise<BuildSiteResult> {
  const env = options.env ?? process.env;
  const root = resolve(options.root ?? SITE_ROOT);
  const outDir = resolve(options.outDir);
  const dataDir = resolve(options.dataDir);
  const domainsDir = resolve(options.domainsDir);
  const base = options.base === undefined ? siteBase(env) : normaliseBase(options.base);
  const siteUrl = options.siteUrl ?? (env[SITE_ENV.siteUrl] || undefined);
  const visibility = options.visibility ?? (env[SITE_ENV.visibility] === 'private' ? 'private' : 'public');
  // A free Pages site is public: addresses only when asked for, or when the site is private.
  const showAddresses = options.showAddresses ?? visibility === 'private';
  const repository = options.repository ?? (env[SITE_ENV.repository] || env.GITHUB_REPOSITORY || undefined);
  // Astro empties outDir before writing: never let that be a folder holding anything else we own.
  for (const [what, path] of [
    ['the Astro project', root],
    ['the dataset', dataDir],
    ['the domain files', domainsDir],
    ['the current folder', process.cwd()],
  ] as const) {
    if (path === outDir || isInside(path, outDir))
      throw new DmarcopsError(
        'site-out-unsafe',
        `refusing to build into ${outDir}: it holds ${what} (${path}), which the build would delete`,
      );
  }
  if (siteUrl !== undefined && !/^https?:\/\/[^/]/.test(siteUrl))
    throw new DmarcopsError('site-url-invalid', `the site URL must be an absolute http(s) URL, not ${siteUrl}`);

  const settings: Record<string, string | undefined> = {
    [SITE_ENV.dataDir]: dataDir,
    [SITE_ENV.domainsDir]: domainsDir,
    [SITE_ENV.base]: base,
    [SITE_ENV.siteUrl]: siteUrl,
    [SITE_ENV.outDir]: outDir,
    [SITE_ENV.showAddresses]: showAddresses ? '1' : '0',
    [SITE_ENV.liveDns]: options.liveDns ? '1' : '0',
    [SITE_ENV.visibility]: visibility,
    [SITE_ENV.repository]: repository,
    // Astro's usage telemetry would phone home from every CI build.
    ASTRO_TELEMETRY_DISABLED: '1',
    // Astro sets NODE_ENV=production for the build; the caller's value comes back afterwards.
    NODE_ENV: process.env.NODE_ENV,
    // Astro lets process.env override its own import.meta.env values in page code (Vitest, for one,
    // sets BASE_URL=/ and MODE=test): the build's config must win.
    ...Object.fromEntries(ASTRO_OWN_ENV.map((name) => [name, undefined])),
  };
  const saved = Object.fromEntries(Object.keys(settings).map((name) => [name, process.env[name]]));
  const started = performance.now();
  try {
    for (const [name, value] of Object.entries(settings)) setEnv(name, value);
    await mkdir(dirname(outDir), { recursive: true });
    const { build } = await import('astro');
    try {
      await build({
        root,
        outDir,
        base,
        ...(siteUrl === undefined ? {} : { site: siteUrl }),
        mode: 'production',
        logLevel: options.quiet ? 'error' : 'info',
      });
    } catch (error) {
      // Astro has logged which page; the message is its own, the stack is --debug's.
      throw new DmarcopsError('site-build-failed', `the Astro build failed: ${error instanceof Error ? error.message : String(error)}`, {
        cause: error,
      });
    }
  } finally {
    for (const [name, value] of Object.entries(saved)) setEnv(name, value);
  }
  const budget = await checkBudget(outDir, { base, limitBytes: options.budgetBytes ?? DEFAULT_BUDGET_BYTES });
  const result: BuildSiteResult = {
    pages: budget.pages.length,
    redacted: !showAddresses,
    seconds: (performance.now() - started) / 1000,
    base,
    outDir,
    budget,
  };
  if (budget.overBudget.length > 0) throw new SiteBudgetError(result);
  return result;
}

type VitePlugin = Extract<NonNullable<ViteUserConfig['plugins']>[number], { name: string }>;

/**
 * A Vite plugin for the server side of the build: modules under scripts/ stay imports of their
 * source files, which Node runs as they are (type stripping), instead of being bundled into
 * <outDir>/.prerender. Bundled, their `import.meta.url` would point into the build output, and the
 * data files next to them (enrich/data/senders.json) and the packages they resolve from there
 * would not be found. Browser bundles are untouched: pages' scripts still get what they import.
 */
export function keepScriptsExternal(scriptsDir: string = SCRIPTS_DIR): VitePlugin {
  const folder = scriptsDir.endsWith(sep) ? scriptsDir : `${scriptsDir}${sep}`;
  return {
    name: 'dmarcops:keep-scripts-external',
    apply: 'build',
    enforce: 'pre',
    async resolveId(source, importer, options) {
      if (this.environment.config.consumer !== 'server') return null;
      const resolved = await this.resolve(source, importer, { ...options, skipSelf: true });
      if (!resolved || resolved.external || !resolved.id.startsWith(folder)) return null;
      // A file: URL, which Node imports from any output folder on any platform.
      return { id: pathToFileURL(resolved.id).href, external: true };
    },
  };
}

function setEnv(name: string, value: string | undefined): void {
  if (value === undefined) delete process.env[name];
  else process.env[name] = value;
}

/** Whether `path` lies inside `folder` (not equal to it). */
function isInside(path: string, folder: string): boolean {
  const rel = relative(folder, path);
  return rel !== '' && rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel);
}
