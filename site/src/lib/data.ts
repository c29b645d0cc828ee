/**
 * Build-time access to the rollups: opened once per build (every page shares one DuckDB pass over the
 * dataset), configured by the environment variables scripts/site/build.ts sets (SITE_ENV).
 */
import { resolve } from 'node:path';
import { openSiteData } from '../../../scripts/site/rollups.ts';
import { SITE_ENV, type SiteDataSource } from '../../../scripts/site/model.ts';

export interface SiteSettings {
  dataDir: string;
  domainsDir: string;
  /** IP addresses, host names and e-mail addresses shown (only when the build says so: redacted by default). */
  showAddresses: boolean;
  liveDns: boolean;
  /** Free GitHub Pages sites are public: the banner shows unless the build says the site is private. */
  public: boolean;
  /** owner/name, for "propose a change" links; null outside GitHub. */
  repository: string | null;
}

const flag = (value: string | undefined): boolean => value === '1' || value === 'true' || value === 'yes';

export function siteSettings(env: NodeJS.ProcessEnv = process.env): SiteSettings {
  return {
    dataDir: resolve(env[SITE_ENV.dataDir] || 'reports'),
    domainsDir: resolve(env[SITE_ENV.domainsDir] || 'domains'),
    showAddresses: flag(env[SITE_ENV.showAddresses]),
    liveDns: flag(env[SITE_ENV.liveDns]),
    public: env[SITE_ENV.visibility] !== 'private',
    repository: env[SITE_ENV.repository] || env.GITHUB_REPOSITORY || null,
  };
}

// One source per build process: Astro renders every page in the same process, and the key keeps a
// build with other settings (tests build several sites in one process) from reusing stale rollups.
const cache = globalThis as typeof globalThis & { __dmarcopsSite?: { key: string; source: Promise<SiteDataSource> } };

export function siteData(): Promise<SiteDataSource> {
  const settings = siteSettings();
  const key = JSON.stringify(settings);
  if (cache.__dmarcopsSite?.key !== key) {
    cache.__dmarcopsSite?.source.then(
      (old) => old.close(),
      () => undefined,
    );
    cache.__dmarcopsSite = {
      key,
      source: openSiteData({
        dataDir: settings.dataDir,
        domainsDir: settings.domainsDir,
        showAddresses: settings.showAddresses,
        liveDns: settings.liveDns,
      }),
    };
  }
  return cache.__dmarcopsSite.source;
}
