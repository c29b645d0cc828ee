/**
 * Accessibility of every page type with axe-core in Chromium, light and dark (prefers-color-scheme):
 * no serious or critical violation; the same for a domain page's TLS section on its own, as built and
 * after a window change (the fixture gives example.com MTA-STS and TLS reports). And the keyboard: Tab reaches the window presets and a table's
 * sort buttons, Enter sorts.
 */
import { createRequire } from 'node:module';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { collectConsoleErrors, launchBrowser } from '../services/browser.ts';
import type { TestBrowser } from '../services/browser.ts';
import { buildFixture, open } from './fixture.ts';
import type { SiteFixture } from './fixture.ts';

const axeSource = (createRequire(import.meta.url)('axe-core') as { source: string }).source;

interface AxeNode {
  target: unknown[];
  html: string;
  failureSummary?: string;
}
interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  helpUrl: string;
  nodes: AxeNode[];
}

let site: SiteFixture;
let browser: TestBrowser;

beforeAll(async () => {
  [site, browser] = await Promise.all([buildFixture({ label: 'a11y', days: 40, base: '/a11y/' }), launchBrowser()]);
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await site?.close();
});

/** axe-core's violations on the page, or inside the elements `within` selects. */
async function axe(page: Page, within?: string): Promise<AxeViolation[]> {
  await page.addScriptTag({ content: axeSource });
  const result = await page.evaluate(async (selector) => {
    const run = (window as unknown as { axe: { run(context?: unknown, options?: unknown): Promise<{ violations: unknown[] }> } }).axe;
    return run.run(selector === null ? document : { include: [[selector]] }, { resultTypes: ['violations'] });
  }, within ?? null);
  return result.violations as AxeViolation[];
}

function describeViolations(violations: readonly AxeViolation[]): string {
  return violations
    .map((v) => {
      const nodes = v.nodes
        .slice(0, 5)
        .map(
          (n) =>
            `      ${JSON.stringify(n.target)} ${n.html.slice(0, 160)}\n        ${(n.failureSummary ?? '').replace(/\n/g, '\n        ')}`,
        )
        .join('\n');
      return `  [${v.impact}] ${v.id}: ${v.help} (${v.nodes.length} node${v.nodes.length === 1 ? '' : 's'}) ${v.helpUrl}\n${nodes}`;
    })
    .join('\n');
}

describe('axe-core: no serious or critical violations', () => {
  const types = ['overview', 'domain', 'summary', 'reports', 'month', 'report', 'about'] as const;
  // Phone width too: narrow layouts add scroll containers (wide charts and tables) that must stay keyboard-reachable.
  for (const [scheme, viewport] of [
    ['light', null],
    ['dark', null],
    ['light', { width: 390, height: 844 }],
  ] as const) {
    test(`every page type, ${scheme}${viewport ? `, ${viewport.width}×${viewport.height}` : ''}`, async () => {
      const page = await browser.context.newPage();
      const errors = collectConsoleErrors(page);
      await page.emulateMedia({ colorScheme: scheme });
      if (viewport) await page.setViewportSize(viewport);
      const problems: string[] = [];
      for (const type of types) {
        const path = site.pages[type];
        expect(await open(page, site.at(path)), path).toBe(200);
        // Expanded rows and the daily table are part of the page too.
        await page.evaluate(() => {
          for (const button of document.querySelectorAll<HTMLButtonElement>('button[data-expand]'))
            if (button.getAttribute('aria-expanded') !== 'true') button.click();
          for (const details of document.querySelectorAll('details')) details.open = true;
        });
        const serious = (await axe(page)).filter((v) => v.impact === 'serious' || v.impact === 'critical');
        if (serious.length > 0) problems.push(`${type} (/${path}, ${scheme}):\n${describeViolations(serious)}`);
      }
      if (problems.length > 0) console.log(problems.join('\n\n'));
      expect(problems, problems.join('\n\n')).toEqual([]);
      expect(errors).toEqual([]);
      await page.close();
    }, 120_000);
  }
});

describe('the TLS section (MTA-STS and TLS reports)', () => {
  test('no serious or critical violation in it, light and dark, at build and after a window change; no console errors', async () => {
    const page = await browser.context.newPage();
    const errors = collectConsoleErrors(page);
    const problems: string[] = [];
    for (const scheme of ['light', 'dark'] as const) {
      await page.emulateMedia({ colorScheme: scheme });
      expect(await open(page, site.at('d/example.com/'))).toBe(200);
      expect(await page.locator('section.tls #tls-orgs-table > tbody[data-row]').count()).toBeGreaterThan(0);
      for (const step of ['as built', 'after choosing 7 days'] as const) {
        if (step === 'after choosing 7 days') {
          await page.click('a[data-preset="7d"]');
          await page.waitForSelector('a[data-preset="7d"][aria-pressed="true"]');
        }
        await page.evaluate(() => {
          for (const details of document.querySelectorAll('section.tls details')) (details as HTMLDetailsElement).open = true;
        });
        const serious = (await axe(page, 'section.tls')).filter((v) => v.impact === 'serious' || v.impact === 'critical');
        if (serious.length > 0) problems.push(`TLS section, ${scheme}, ${step}:\n${describeViolations(serious)}`);
      }
    }
    expect(problems, problems.join('\n\n')).toEqual([]);
    expect(errors).toEqual([]);
    await page.close();
  }, 120_000);
});

describe('keyboard', () => {
  /** Presses Tab until the focused element matches `selector` (at most `max` times); returns how many. */
  async function tabTo(page: Page, selector: string, max = 150): Promise<number> {
    for (let i = 1; i <= max; i++) {
      await page.keyboard.press('Tab');
      if (await page.evaluate((s) => document.activeElement?.matches(s) ?? false, selector)) return i;
    }
    throw new Error(`Tab never reached ${selector} in ${max} presses`);
  }

  test('Tab reaches the window presets and a sort button; Enter sorts and keeps the focus there', async () => {
    const page = await browser.context.newPage();
    const errors = collectConsoleErrors(page);
    await open(page, site.url);
    await tabTo(page, 'a[data-preset]');
    // The first preset is 7 days; Enter on it switches the window.
    expect(await page.evaluate(() => (document.activeElement as HTMLElement | null)?.dataset.preset)).toBe('7d');
    await page.keyboard.press('Enter');
    await page.waitForSelector('a[data-preset="7d"][aria-pressed="true"]');
    expect(new URL(page.url()).searchParams.get('w')).toBe('7d');

    await tabTo(page, '#domains th[data-col] button');
    const column = await page.evaluate(() => (document.activeElement?.closest('th') as HTMLElement | null)?.dataset.col ?? '');
    expect(column).not.toBe('');
    const before = await page.getAttribute(`#domains th[data-col="${column}"]`, 'aria-sort');
    await page.keyboard.press('Enter');
    await page.waitForFunction(
      ({ column, before }) => {
        const sort = document.querySelector(`#domains th[data-col="${column}"]`)?.getAttribute('aria-sort');
        return sort !== null && sort !== undefined && sort !== before;
      },
      { column, before },
    );
    expect(new URL(page.url()).searchParams.getAll('sort')).toHaveLength(1);
    // The header was re-rendered: focus must come back to the same button, not fall to <body>.
    await page.waitForFunction((column) => document.activeElement?.matches(`#domains th[data-col="${column}"] button`) ?? false, column);
    expect(errors).toEqual([]);
    await page.close();
  });

  test('Space activates a preset too (it has role="button")', async () => {
    const page = await browser.context.newPage();
    const errors = collectConsoleErrors(page);
    await open(page, site.url);
    await page.focus('a[data-preset="90d"]');
    await page.keyboard.press('Space');
    await page.waitForSelector('a[data-preset="90d"][aria-pressed="true"]');
    expect(new URL(page.url()).searchParams.get('w')).toBe('90d');
    expect(await page.evaluate(() => scrollY), 'Space must not scroll the page').toBe(0);
    expect(errors).toEqual([]);
    await page.close();
  });

  test('the skip link is the first stop and leads to the main content', async () => {
    const page = await browser.context.newPage();
    await open(page, site.at(site.pages.domain));
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.getAttribute('href'))).toBe('#main');
    await page.keyboard.press('Enter');
    expect(new URL(page.url()).hash).toBe('#main');
    await page.close();
  });
});
