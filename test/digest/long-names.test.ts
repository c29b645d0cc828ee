/**
 * A reporter with a name as long as the parser stores (a header of up to MAX_HEADER_BYTES) goes silent:
 * the digest names it clipped to SHOWN_NAME_MAX characters, as the alerts do, in every format
 * (Markdown for the job summary and the issue, text and HTML for the two parts of the mail, JSON).
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { DEFAULT_ALERTS_CONFIG } from '../../scripts/alerts/config.ts';
import { addDays } from '../../scripts/alerts/window.ts';
import { main } from '../../scripts/cli.ts';
import { buildDigest } from '../../scripts/digest/digest.ts';
import type { Digest } from '../../scripts/digest/digest.ts';
import { renderDigestHtml, renderDigestMarkdown, renderDigestText } from '../../scripts/digest/render.ts';
import { parseIsoWeek } from '../../scripts/digest/week.ts';
import { escapeHtml, escapeMarkdown } from '../../scripts/lib/escape.ts';
import { SHOWN_NAME_MAX, clip } from '../../scripts/lib/text.ts';
import { loadDomainDir } from '../../scripts/policy/load.ts';
import { MAX_HEADER_BYTES } from '../../scripts/reports/parse/normalize.ts';
import type { Rec, ReportSpec } from '../helpers/aggregate-reports.ts';
import { ingestReports, renderReport } from '../helpers/aggregate-reports.ts';
import { captureOutput } from '../helpers/output.ts';

const FIRST = '2026-02-16';
const W10 = parseIsoWeek('2026-W10');
const NOW = new Date('2026-03-09T07:00:00Z');
/** ü is 2 bytes of the header's MAX_HEADER_BYTES; the rest of a header holds well under 4 KiB. */
const LONG = `Forged Reporter ${'ü'.repeat(Math.floor((MAX_HEADER_BYTES - 4096) / 2))}`;
const SHOWN = clip(LONG, SHOWN_NAME_MAX);

const google = (count: number): Rec => ({
  ip: '209.85.220.41',
  count,
  from: 'example.com',
  dkim: [{ domain: 'example.com', selector: 'google', result: 'pass' }],
  spf: [{ domain: 'example.com', result: 'pass' }],
});

/** google.com every day of W08–W10; the long-named reporter every day of W09 only. */
function fixture(): ReportSpec[] {
  const reports: ReportSpec[] = [];
  for (let n = 0; addDays(FIRST, n) <= W10.end; n++) {
    const day = addDays(FIRST, n);
    reports.push({ org: 'google.com', id: `g-${day}`, domain: 'example.com', p: 'none', day, records: [google(100)] });
    if (day >= '2026-02-23' && day <= '2026-03-01')
      reports.push({ org: LONG, id: `long-${day}`, domain: 'example.com', p: 'none', day, records: [google(5)] });
  }
  return reports;
}

let dir: string;
let dataDir: string;
let domainsDir: string;
let digest: Digest;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dmarcops-digest-long-names-'));
  dataDir = join(dir, 'reports');
  domainsDir = join(dir, 'domains');
  await mkdir(domainsDir);
  await writeFile(join(domainsDir, '_defaults.yaml'), 'policy: none\ndns:\n  provider: manual\n');
  await writeFile(
    join(domainsDir, 'example.com.yaml'),
    'policy: none\nreports: [dmarc@example.com]\nsenders:\n  - name: Google Workspace\n    dkim: [{ domain: example.com, selector: google }]\n',
  );
  const files = Object.fromEntries(fixture().map((r) => [`${r.id}.xml`, renderReport(r)]));
  await ingestReports({ dataDir, ourDomains: ['example.com'], files, now: NOW, runId: 'digest-long' });
  const { domains } = await loadDomainDir(domainsDir);
  digest = await buildDigest({ dataDir, domains, config: DEFAULT_ALERTS_CONFIG, week: W10, now: NOW, env: {} });
}, 120_000);

afterAll(async () => {
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

describe('a silent reporter with the longest name a report can carry', () => {
  test('is named clipped to SHOWN_NAME_MAX characters', () => {
    expect(SHOWN).toHaveLength(SHOWN_NAME_MAX);
    expect(digest.domains[0]?.silentReporters).toEqual([{ org: SHOWN, lastDay: '2026-03-01' }]);
  });

  test('in the Markdown, the text and the HTML of the mail, and the JSON', async () => {
    const named = `${SHOWN} (last report 2026-03-01)`;
    const renderings: Record<string, [string, string]> = {
      markdown: [renderDigestMarkdown(digest), escapeMarkdown(named)],
      text: [renderDigestText(digest), named],
      html: [renderDigestHtml(digest), escapeHtml(named)],
      json: [JSON.stringify(digest), JSON.stringify({ org: SHOWN, lastDay: '2026-03-01' })],
    };
    for (const [format, [rendered, expected]] of Object.entries(renderings)) {
      expect(rendered, format).toContain(expected);
      expect(rendered, format).not.toContain('ü'.repeat(SHOWN_NAME_MAX));
      expect(rendered.length, format).toBeLessThan(10_000);
    }
    // What `dmarcops digest --format html` prints is the mail's HTML part.
    const output = captureOutput();
    const code = await main(
      ['digest', '--week', '2026-W10', '--format', 'html', '--domains', domainsDir, '--data', dataDir, '--now', NOW.toISOString()],
      output,
      {},
      dir,
    );
    expect(code, output.stderr.join('\n')).toBe(0);
    expect(output.text()).toContain(escapeHtml(named));
    expect(output.text().length).toBeLessThan(10_000);
  });
});

describe('many silent reporters (a flood of forged ones the week before)', () => {
  test('the first 10 are named and the rest counted, in every rendering', () => {
    const silent = Array.from({ length: 250 }, (_, i) => ({ org: `forged-${String(i).padStart(3, '0')}.example`, lastDay: '2026-03-01' }));
    const flooded: Digest = { ...digest, domains: digest.domains.map((d) => ({ ...d, silentReporters: silent })) };
    const last = 'forged-009.example (last report 2026-03-01) and 240 more.';
    const renderings: [string, string][] = [
      [renderDigestMarkdown(flooded), escapeMarkdown(last)],
      [renderDigestText(flooded), last],
      [renderDigestHtml(flooded), escapeHtml(last)],
    ];
    for (const [rendered, expected] of renderings) {
      expect(rendered).toContain(expected);
      expect(rendered).not.toContain('forged-010.example');
      expect(rendered.length).toBeLessThan(10_000);
    }
  });
});
