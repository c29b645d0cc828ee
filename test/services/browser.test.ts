import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { serveSite } from '../../scripts/site/serve.ts';
import type { SiteServer } from '../../scripts/site/serve.ts';
import { chromiumPath, collectConsoleErrors, launchBrowser } from './browser.ts';
import type { TestBrowser } from './browser.ts';

let dir: string;
let server: SiteServer;
let browser: TestBrowser;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dmarcops-browser-'));
  await writeFile(
    join(dir, 'index.html'),
    `<!doctype html><html><head><meta charset="utf-8"><title>smoke</title><link rel="stylesheet" href="/repo/style.css"><link rel="icon" href="data:,"></head>
<body><h1>Smoke test</h1><p id="out">static</p><img src="missing.png" alt="">
<script type="module" src="/repo/app.js"></script></body></html>`,
  );
  await writeFile(join(dir, 'style.css'), 'body { font-family: sans-serif; background: #eef; } h1 { color: #335; }');
  await writeFile(
    join(dir, 'app.js'),
    `document.getElementById('out').textContent = 'rendered by script'; console.error('deliberate'); setTimeout(() => { throw new Error('thrown later'); });`,
  );
  server = await serveSite(dir, { base: '/repo/' });
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('launchBrowser', () => {
  test('opens a served page, runs its script, takes a screenshot and collects console errors', async () => {
    const page = await browser.context.newPage();
    const errors = collectConsoleErrors(page);
    const response = await page.goto(server.url);
    expect(response?.status()).toBe(200);
    await page.waitForFunction(() => document.getElementById('out')?.textContent === 'rendered by script');
    expect(await page.locator('h1').textContent()).toBe('Smoke test');
    await mkdir('test-output', { recursive: true });
    const file = join('test-output', 'browser-smoke.png');
    await page.screenshot({ path: file });
    expect((await stat(file)).size).toBeGreaterThan(1000);
    await expect.poll(() => errors.length).toBe(3);
    expect([...errors].sort()).toEqual([
      `Failed to load resource: the server responded with a status of 404 (Not Found): ${server.url}missing.png`,
      'deliberate',
      'uncaught: thrown later',
    ]);
    await page.close();
  });

  test('a missing Chromium is an error that names the Debian package', () => {
    expect(() => chromiumPath({ CHROMIUM_PATH: '/nonexistent/chromium' })).toThrow(/install the Debian package `chromium`/);
  });
});
