// Astro configuration for the dmarcops dashboard. scripts/site/build.ts passes base, site and outDir
// inline (from flags or the GitHub repository); these defaults serve `astro build --root site` by hand.
import { defineConfig } from 'astro/config';
import { keepScriptsExternal } from '../scripts/site/build.ts';

export default defineConfig({
  base: process.env.DMARCOPS_SITE_BASE || '/',
  site: process.env.DMARCOPS_SITE_URL || undefined,
  outDir: process.env.DMARCOPS_SITE_OUT || './dist',
  trailingSlash: 'ignore',
  build: { format: 'directory', inlineStylesheets: 'always' },
  // The dashboard is fully static: no dev toolbar, no telemetry prompts in CI logs.
  devToolbar: { enabled: false },
  vite: {
    // The pipeline's modules (scripts/) run unbundled at build: they read data files next to their sources.
    plugins: [keepScriptsExternal()],
    // DuckDB's native module must stay a runtime import of the build, never bundled.
    ssr: { external: ['@duckdb/node-api', '@duckdb/node-bindings'] },
  },
});
