/**
 * Golden files for the three plan renderers (text, Markdown, JSON): what people read in the terminal,
 * in the pull request and in the artifact. Update with `npx vitest run test/dns/plan.golden.test.ts -u`
 * and read the diff.
 */
import { describe, expect, test } from 'vitest';
import { evaluateGates, mergeGates } from '../../scripts/dns/apply.ts';
import { changeIdentity } from '../../scripts/dns/checksum.ts';
import { computePlan } from '../../scripts/dns/plan.ts';
import type { ZoneListing } from '../../scripts/dns/plan.ts';
import { readPlanJson, renderPlanJson } from '../../scripts/dns/render/json.ts';
import { renderPlanMarkdown } from '../../scripts/dns/render/markdown.ts';
import { renderPlanText } from '../../scripts/dns/render/text.ts';
import type { Plan } from '../../scripts/dns/types.ts';
import { managedRecords } from '../../scripts/policy/record.ts';
import { makePolicy } from '../helpers/policy.ts';
import { captureOutput } from '../helpers/output.ts';

const NOW = new Date('2026-03-01T12:00:00Z');
const rua = (address: string) => ({ uri: `mailto:${address}` });

/** A fleet with one of everything: creates, a stronger and a weaker policy, TTL, duplicates, a removal, notices. */
function mixedPlan(): Plan {
  const policies = [
    makePolicy('example.com', { p: 'quarantine', sp: 'reject', testing: true, rua: [rua('dmarc@example.com')] }),
    makePolicy('shop.example.com', { p: 'reject', dns: { provider: 'cloudflare', zone: 'example.com', ttl: 3600 } }),
    makePolicy('news.example.com', { p: 'quarantine', dns: { provider: 'cloudflare', zone: 'example.com', ttl: 3600 } }),
    makePolicy('brand.example', {
      p: 'reject',
      rua: [rua('dmarc@example.com')],
      dns: { provider: 'powerdns', zone: 'brand.example', ttl: 1800 },
    }),
    makePolicy('legacy.example', { p: 'none', dns: { provider: 'powerdns', zone: 'legacy.example', ttl: 300 } }),
    makePolicy('printed.example', { dns: { provider: 'manual', zone: 'printed.example', ttl: 3600 } }),
  ];
  const records = managedRecords(policies);
  const listings: ZoneListing[] = [
    {
      provider: 'cloudflare',
      zone: 'example.com',
      names: [
        '_dmarc.example.com',
        '_dmarc.news.example.com',
        '_dmarc.old.example.com',
        '_dmarc.shop.example.com',
        'brand.example._report._dmarc.example.com',
      ],
      records: [
        { name: '_dmarc.example.com', ttl: 3600, value: 'v=DMARC1; p=none; rua=mailto:dmarc@example.com' },
        { name: '_dmarc.example.com', ttl: 3600, value: 'google-site-verification=4f2b9c' },
        { name: '_dmarc.news.example.com', ttl: 3600, value: 'v=DMARC1; p=reject' },
        { name: '_dmarc.old.example.com', ttl: 3600, value: 'v=DMARC1; p=reject' },
      ],
    },
    {
      provider: 'powerdns',
      zone: 'brand.example',
      names: ['_dmarc.brand.example'],
      records: [
        { name: '_dmarc.brand.example', ttl: 1800, value: 'v=DMARC1; p=none' },
        { name: '_dmarc.brand.example', ttl: 1800, value: 'v=DMARC1; p=reject; rua=mailto:dmarc@example.com' },
      ],
    },
    {
      provider: 'powerdns',
      zone: 'legacy.example',
      names: ['_dmarc.legacy.example'],
      records: [{ name: '_dmarc.legacy.example', ttl: 3600, value: 'v=DMARC1; p=none' }],
    },
  ];
  return computePlan(records, listings, { now: NOW });
}

/** Names and values with Markdown, HTML and control characters, as hostile YAML or DNS could hold. */
function hostilePlan(): Plan {
  const domain = '*evil*_x_[click](https://evil.example)<img src=x onerror=alert(1)>|`tick`&amp;.example';
  const records = managedRecords([makePolicy(domain, { dns: { provider: 'cloudflare', zone: 'example.com', ttl: 3600 } })]);
  const name = `_dmarc.${domain}`;
  const listings: ZoneListing[] = [
    {
      provider: 'cloudflare',
      zone: 'example.com',
      names: [name],
      records: [
        { name, ttl: 3600, value: 'v=DMARC1; p=reject; rua=mailto:x@example.com```\n<script>alert(1)</script>' },
        { name, ttl: 3600, value: '<b>bold</b> **not DMARC** \u001b[31mred\u001b[0m \u202egnp.exe' },
      ],
    },
  ];
  return computePlan(records, listings, { now: NOW });
}

function emptyPlan(): Plan {
  const records = managedRecords([makePolicy('example.com')]);
  return computePlan(
    records,
    [
      {
        provider: 'cloudflare',
        zone: 'example.com',
        names: ['_dmarc.example.com'],
        records: [{ name: '_dmarc.example.com', ttl: 3600, value: 'v=DMARC1; p=reject' }],
      },
    ],
    { now: NOW },
  );
}

/** An Output whose styles show as tags, so the golden file records which text is coloured how. */
function taggedStyles() {
  const output = captureOutput();
  output.style = (format, text) => `⟨${[format].flat().join('+')}⟩${text}⟨/⟩`;
  return output;
}

describe('plan renderers', () => {
  test('text', async () => {
    const plan = mixedPlan();
    await expect(`${renderPlanText(plan, captureOutput(), { gates: evaluateGates(plan) })}\n`).toMatchFileSnapshot(
      '../golden/plans/mixed.txt',
    );
  });

  test('text, styled (which parts are coloured)', async () => {
    const plan = mixedPlan();
    await expect(`${renderPlanText(plan, taggedStyles(), { gates: evaluateGates(plan, { force: true }) })}\n`).toMatchFileSnapshot(
      '../golden/plans/mixed.styled.txt',
    );
  });

  test('markdown', async () => {
    const plan = mixedPlan();
    await expect(renderPlanMarkdown(plan, { gates: evaluateGates(plan) })).toMatchFileSnapshot('../golden/plans/mixed.md');
  });

  test('json, and it reads back to the same plan', async () => {
    const plan = mixedPlan();
    const json = renderPlanJson(plan);
    await expect(json).toMatchFileSnapshot('../golden/plans/mixed.json');
    expect(readPlanJson(json)).toEqual(plan);
  });

  test("a pull request's comment: its own changes apart from those already pending on its base (labelled)", async () => {
    const plan = mixedPlan();
    // The removal of old.example.com and the stale brand.example records were left on the base by earlier merges.
    const pending = plan.changes
      .filter((change) => ['_dmarc.old.example.com', '_dmarc.brand.example'].includes(change.name))
      .map(changeIdentity);
    const reviewed: Plan = { ...plan, base: { commit: '0123456789abcdef0123456789abcdef01234567', pending } };
    const markdown = renderPlanMarkdown(reviewed, { gates: mergeGates(reviewed, { number: 12, labelled: true }), forceLabel: true });
    await expect(markdown).toMatchFileSnapshot('../golden/plans/pull-request.md');
    expect(readPlanJson(renderPlanJson(reviewed))).toEqual(reviewed);
    await expect(
      `${renderPlanText(reviewed, captureOutput(), { gates: mergeGates(reviewed, { number: 12, labelled: true }) })}\n`,
    ).toMatchFileSnapshot('../golden/plans/pull-request.txt');
  });

  test('no changes', async () => {
    const plan = emptyPlan();
    const text = renderPlanText(plan, captureOutput(), { gates: evaluateGates(plan) });
    await expect(`${text}\n\n${renderPlanMarkdown(plan)}`).toMatchFileSnapshot('../golden/plans/no-changes.txt');
  });
});

describe('hostile names and values render inert', () => {
  test('markdown: escaped outside code, fenced safely inside', async () => {
    const markdown = renderPlanMarkdown(hostilePlan());
    await expect(markdown).toMatchFileSnapshot('../golden/plans/hostile.md');

    // Outside fenced blocks, the only HTML tags are the renderer's own.
    const fences = [...markdown.matchAll(/^(`{3,})[^\n]*\n[\s\S]*?\n\1$/gm)];
    expect(fences).toHaveLength(1);
    const outside = markdown.replace(/^(`{3,})[^\n]*\n[\s\S]*?\n\1$/gm, '');
    expect([...outside.matchAll(/<\/?([a-z]+)/gi)].every((match) => ['br', 'sub'].includes(match[1] ?? ''))).toBe(true);
    expect(outside).not.toMatch(/\]\(https/);
    expect(outside).not.toMatch(/(?<!\\)\*evil(?<!\\)\*/);

    // Inside the fence: longer than any backtick run, and every value on one line.
    const fence = fences[0]?.[1] ?? '';
    expect(fence.length).toBeGreaterThan(3);
    const body = fences[0]?.[0] ?? '';
    expect(body).not.toMatch(/\n<script>/);
    expect(body).not.toContain('\u001b');
    expect(body).not.toContain('\u202e');
    expect(markdown).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u202a-\u202e]/);
  });

  test('text: no control characters reach the terminal', async () => {
    const text = renderPlanText(hostilePlan(), captureOutput());
    await expect(`${text}\n`).toMatchFileSnapshot('../golden/plans/hostile.txt');
    expect(text).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e]/);
  });
});
