/**
 * The test tiers (vitest.config.ts) stay true: a test file that starts a real server sits in the
 * servers tier and one that drives Chromium in the browser tier, so `npm run test:unit` runs on a
 * machine without Dovecot, PowerDNS, BIND, aiosmtpd or Chromium.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { BROWSER, SERVERS } from '../vitest.config.ts';

const SERVER_STARTERS = /\b(startDovecot|startPowerDns|startBind|startSmtp)\(/;
const BROWSER_STARTERS = /\blaunchBrowser\(/;

async function testFiles(): Promise<string[]> {
  const entries = await readdir('test', { recursive: true });
  return entries
    .filter((name) => name.endsWith('.test.ts'))
    .map((name) => join('test', name))
    .sort();
}

test('every test file that starts a real server is in the servers tier', async () => {
  const misplaced: string[] = [];
  for (const file of await testFiles()) {
    if (SERVER_STARTERS.test(await readFile(file, 'utf8')) && !SERVERS.includes(file)) misplaced.push(file);
  }
  expect(misplaced).toEqual([]);
});

test('every test file that launches Chromium is in the browser tier', async () => {
  const misplaced: string[] = [];
  for (const file of await testFiles()) {
    if (BROWSER_STARTERS.test(await readFile(file, 'utf8')) && !BROWSER.includes(file)) misplaced.push(file);
  }
  expect(misplaced).toEqual([]);
});

test('every file named in a tier exists', async () => {
  const files = await testFiles();
  expect([...SERVERS, ...BROWSER].filter((file) => !files.includes(file))).toEqual([]);
});
