/**
 * A real headless Chromium for browser tests (the dashboard's pages), driven by playwright-core.
 * Uses the Debian `chromium` package, not a Playwright download (that host is unreachable here and
 * in CI): CHROMIUM_PATH, else /usr/bin/chromium. When neither exists this throws instead of
 * skipping, so CI cannot pass without really testing.
 *
 *   const browser = await launchBrowser();
 *   try { const page = await browser.context.newPage(); ... } finally { await browser.close(); }
 */
import { accessSync, constants, rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import type { BrowserContext, Page } from 'playwright-core';

export const DEFAULT_CHROMIUM_PATH = '/usr/bin/chromium';

/**
 * No sandbox (CI runs as root), no GPU, and none of Chromium's own traffic (updates, sync, field
 * trials): this network refuses outside hosts, and the tests must not depend on them.
 */
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export interface TestBrowser {
  context: BrowserContext;
  /** Closes the browser and removes its profile folder. Safe to call twice. */
  close(): Promise<void>;
}

export function chromiumPath(env: NodeJS.ProcessEnv = process.env): string {
  const path = env.CHROMIUM_PATH || DEFAULT_CHROMIUM_PATH;
  try {
    accessSync(path, constants.X_OK);
    return path;
  } catch {
    throw new Error(
      `no Chromium at ${path}: install the Debian package \`chromium\` (apt-get install -y chromium; .ci/run does), ` +
        'or point CHROMIUM_PATH at a Chromium or Chrome executable',
    );
  }
}

export async function launchBrowser(): Promise<TestBrowser> {
  const executablePath = chromiumPath();
  // A persistent context because chromium.launch() refuses --user-data-dir, and a fresh profile per run.
  const profile = await mkdtemp(join(tmpdir(), 'dmarcops-chromium-'));
  let context: BrowserContext;
  try {
    context = await chromium.launchPersistentContext(profile, { executablePath, headless: true, args: CHROMIUM_ARGS });
  } catch (error) {
    await rm(profile, { recursive: true, force: true });
    throw error;
  }
  openProfiles.add(profile);
  removeLeftoversOnExit();
  let closing: Promise<void> | undefined;
  return {
    context,
    close: () =>
      (closing ??= (async () => {
        try {
          await context.close();
        } finally {
          await rm(profile, { recursive: true, force: true, maxRetries: 3 });
          openProfiles.delete(profile);
        }
      })()),
  };
}

/** Profiles of browsers not closed yet: a suite whose setup failed half-way never calls close(). */
const openProfiles = new Set<string>();
let exitHookInstalled = false;

/**
 * Installed after the first launch, so it runs after Playwright's own exit hook has killed the
 * browsers (exit listeners run in the order they were added) and the profiles are no longer written.
 */
function removeLeftoversOnExit(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const profile of openProfiles) rmSync(profile, { recursive: true, force: true });
  });
}

/**
 * Console errors and uncaught exceptions of a page, collected from now on (read the array at the end).
 * A page without `<link rel=icon>` gets the browser's own /favicon.ico request, and its 404 lands here.
 */
export function collectConsoleErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('console', (message) => {
    if (message.type() !== 'error') return;
    // "Failed to load resource" does not say which one: add the URL.
    const url = message.location().url;
    errors.push(url && message.text().startsWith('Failed to load resource') ? `${message.text()}: ${url}` : message.text());
  });
  page.on('pageerror', (error) => errors.push(`uncaught: ${error.message}`));
  return errors;
}
