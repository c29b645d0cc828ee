/**
 * One site build in its own process, for bench/site/build.ts: its peak RSS is then the build's alone.
 *
 *   node bench/site/run-build.ts <json options> <result file>
 *
 * Options are `buildSite`'s (dataDir, domainsDir, outDir, …). The result file gets
 * `{ pages, seconds, maxRssKiB, totalBytes, overBudget, heaviest, error? }`; a build over the page
 * budget still counts (its figures are measured), any other failure exits 1.
 */
import { writeFileSync } from 'node:fs';
import { buildSite, SiteBudgetError } from '../../scripts/site/build.ts';
import type { BuildSiteOptions, BuildSiteResult } from '../../scripts/site/build.ts';

export interface BuildRunResult {
  pages: number;
  /** buildSite's own figure (Astro build + budget check), not process start-up. */
  seconds: number;
  /** process.resourceUsage().maxRSS at the end of the build. */
  maxRssKiB: number;
  /** Size of the built site on disk. */
  totalBytes: number;
  overBudget: number;
  /** The heaviest page and its compressed weight, to see what grows with the data. */
  heaviest: { path: string; bytes: number } | null;
  error?: string;
}

function summarise(result: BuildSiteResult, error?: string): BuildRunResult {
  const page = result.budget.pages[0];
  return {
    pages: result.pages,
    seconds: result.seconds,
    maxRssKiB: process.resourceUsage().maxRSS,
    totalBytes: result.budget.totalBytes,
    overBudget: result.budget.overBudget.length,
    heaviest: page ? { path: page.page, bytes: page.bytes } : null,
    ...(error === undefined ? {} : { error }),
  };
}

async function main(): Promise<void> {
  const [json, resultFile] = process.argv.slice(2);
  if (json === undefined || resultFile === undefined) throw new Error('usage: run-build.ts <json options> <result file>');
  const options = JSON.parse(json) as BuildSiteOptions;
  let result: BuildRunResult;
  try {
    result = summarise(await buildSite({ quiet: true, ...options }));
  } catch (error) {
    if (!(error instanceof SiteBudgetError)) throw error;
    result = summarise(error.result, error.message.split('\n')[0]);
  }
  writeFileSync(resultFile, `${JSON.stringify(result)}\n`);
}

if (import.meta.main) await main();
