/**
 * The demo's 90-day history goes through the real ingest (offline, the repository's domains/) and
 * tells the story it promises: every category has volume, the printers are authorised but failing,
 * spoofing is unauthorised, SendGrid's broken days are rejected. And it is deterministic.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { loadDomainDir } from '../../scripts/policy/load.ts';
import type { DomainPolicy } from '../../scripts/policy/model.ts';
import { writeDemoHistory } from '../../scripts/demo/history.ts';
import type { DemoHistoryResult } from '../../scripts/demo/history.ts';
import { CATEGORIES, classify, policyForRow } from '../../scripts/reports/classify.ts';
import type { Category, ClassifyRow } from '../../scripts/reports/classify.ts';
import { createEnricher, isKnownForwarder } from '../../scripts/reports/enrich/index.ts';
import { ingestRun } from '../../scripts/reports/pipeline.ts';
import type { IngestSummary } from '../../scripts/reports/pipeline.ts';
import { fileItems } from '../../scripts/reports/sources/files.ts';
import { committedRecordsSql, openDataset } from '../../scripts/reports/store/index.ts';
import { openDuck } from '../../scripts/reports/store/duck.ts';

const PREFIX = join(tmpdir(), 'dmarcops-history-');
const OPTIONS = { endDay: '2026-11-26', seed: 7 };

let dir: string;
let generated: DemoHistoryResult;
let summary: IngestSummary;
let rows: (ClassifyRow & { disposition: string | null; day: string; org_name: string })[];
let policies: DomainPolicy[];

type Labelled = { category: Category; sender: string | undefined; row: (typeof rows)[number] };
let labelled: Labelled[];

async function digest(folder: string): Promise<string> {
  const hash = createHash('sha256');
  for (const name of (await readdir(folder)).sort()) hash.update(name).update(await readFile(join(folder, name)));
  return hash.digest('hex');
}

beforeAll(async () => {
  dir = await mkdtemp(PREFIX);
  const inbox = join(dir, 'inbox');
  const data = join(dir, 'reports');
  generated = await writeDemoHistory(inbox, OPTIONS);

  policies = (await loadDomainDir('domains')).domains.map((d) => d.policy);
  const dataset = await openDataset({ root: data });
  try {
    const enricher = await createEnricher({ offline: true, onWarning: () => undefined });
    ({ summary } = await ingestRun(fileItems([inbox]), { dataset, ourDomains: new Set(policies.map((p) => p.domain)), enricher }));
  } finally {
    await dataset.close();
  }

  const duck = await openDuck();
  try {
    rows = await duck.rows(
      "SELECT *, strftime(date_begin, '%Y-%m-%d') AS day, message_count::DOUBLE AS message_count, " +
        `source_asn::DOUBLE AS source_asn FROM (${committedRecordsSql(data)})`,
    );
  } finally {
    duck.close();
  }
  labelled = rows.map((row) => {
    const c = classify(row, { policy: policyForRow(row, policies), isKnownForwarder });
    return { category: c.category, sender: c.sender, row };
  });
}, 120_000);

afterAll(async () => {
  if (dir?.startsWith(PREFIX)) await rm(dir, { recursive: true, force: true });
});

const messages = (list: Labelled[]): number => list.reduce((sum, l) => sum + Number(l.row.message_count ?? 0), 0);

describe('the demo history', () => {
  test('is the size the demo can ingest quickly', () => {
    expect(generated.files).toBe(generated.reports);
    expect(generated.records).toBeGreaterThanOrEqual(2000);
    expect(generated.records).toBeLessThanOrEqual(6000);
    expect(generated.messages).toBeGreaterThanOrEqual(100_000);
    expect(generated.messages).toBeLessThanOrEqual(500_000);
  });

  test('every report is valid and ours, and every record is stored', () => {
    expect(summary.reports).toEqual({ stored: generated.reports, duplicate: 0, foreign: 0, invalid: 0 });
    expect(summary.invalid).toEqual([]);
    expect(summary.foreign).toEqual([]);
    expect(summary.records).toBe(generated.records);
    expect(rows).toHaveLength(generated.records);
    expect(messages(labelled)).toBe(generated.messages);
    // The parser had nothing to repair but Mail.Ru's missing SPF scope (a real reporter's habit, kept to show warnings).
    const warned = rows.flatMap((row) =>
      ((row as { report_warnings?: { code: string }[] }).report_warnings ?? []).map((w) => `${row.org_name}: ${w.code}`),
    );
    expect(new Set(warned)).toEqual(new Set(['Mail.Ru: spf-scope-missing']));
  });

  test('it spans the days asked for, from five reporters, one of them on the RFC 9990 schema', () => {
    const days = [...new Set(rows.map((row) => row.day))].sort();
    expect(days).toHaveLength(90);
    expect(days.at(-1)).toBe(OPTIONS.endDay);
    expect(new Set(rows.map((row) => row.org_name)).size).toBe(5);
    expect(new Set(rows.map((row) => (row as { report_schema?: string }).report_schema))).toEqual(new Set(['rfc7489', 'rfc9990']));
  });

  test('every category has volume', () => {
    const totals = Object.fromEntries(CATEGORIES.map((c) => [c, messages(labelled.filter((l) => l.category === c))]));
    for (const category of CATEGORIES) expect(totals[category], category).toBeGreaterThan(0);
    // Most of it is the organisation's own mail, passing.
    expect(totals.compliant).toBeGreaterThan(0.6 * generated.messages);
  });

  test('the office printers are authorised but failing, with a hint', () => {
    const printers = labelled.filter((l) => l.row.source_ip === '192.0.2.10' || l.row.source_ip === '2001:db8:10::25');
    expect(printers.length).toBeGreaterThan(0);
    for (const l of printers) {
      expect(l.category).toBe('authorised-failing');
      expect(l.sender).toBe('Office printers');
    }
    const hint = classify(printers[0]!.row, { policy: policyForRow(printers[0]!.row, policies), isKnownForwarder }).hint;
    expect(hint).toMatch(/DKIM|SPF/);
  });

  test('spoofing is unauthorised, and the parked domain gets nothing else', () => {
    const parked = labelled.filter((l) => l.row.policy_domain === 'example.org');
    expect(parked.length).toBeGreaterThan(0);
    for (const l of parked) expect(l.category).toBe('unauthorised');
    const spoofed = labelled.filter((l) =>
      /^(185\.220\.101|45\.146\.165|5\.188\.206|91\.92\.240|193\.32\.162)\./.test(l.row.source_ip ?? ''),
    );
    expect(spoofed.length).toBeGreaterThan(0);
    for (const l of spoofed) expect(l.category).toBe('unauthorised');
  });

  test('the undeclared Mailchimp is unauthorised from a named service; forwarded mail is recognised', () => {
    const mailchimp = labelled.filter((l) => l.row.source_name === 'Mailchimp');
    expect(mailchimp.length).toBeGreaterThan(0);
    for (const l of mailchimp) expect(l.category).toBe('unauthorised');
    const forwarded = labelled.filter((l) => l.category === 'forwarded');
    // Both kinds of evidence: ARC / reason from the receiver, and a forwarder known by its AS number.
    expect(forwarded.some((l) => (l.row.override_reasons ?? []).length > 0)).toBe(true);
    expect(forwarded.some((l) => (l.row.override_reasons ?? []).length === 0)).toBe(true);
  });

  test('SendGrid passes except for three days where its DKIM broke, rejected under p=reject', () => {
    const sendgrid = labelled.filter((l) => l.row.policy_domain === 'mail.example.com');
    const failingDays = [...new Set(sendgrid.filter((l) => l.category !== 'compliant').map((l) => l.row.day))];
    expect(failingDays).toHaveLength(3);
    for (const l of sendgrid.filter((x) => x.category !== 'compliant')) {
      expect(l.category).toBe('authorised-failing');
      expect(l.sender).toBe('SendGrid');
      expect(l.row.disposition).toBe('reject');
    }
  });

  test('a subdomain sends under example.com, and receivers quarantined and rejected some mail', () => {
    expect(rows.some((row) => row.header_from === 'news.example.com' && row.policy_domain === 'example.com')).toBe(true);
    const dispositions = new Set(rows.map((row) => row.disposition));
    expect(dispositions).toContain('quarantine');
    expect(dispositions).toContain('reject');
  });

  test('the same options give the same bytes', async () => {
    const again = join(dir, 'again');
    expect(await writeDemoHistory(again, OPTIONS)).toEqual(generated);
    expect(await digest(again)).toBe(await digest(join(dir, 'inbox')));
    const other = join(dir, 'other');
    await writeDemoHistory(other, { ...OPTIONS, seed: 8 });
    expect(await digest(other)).not.toBe(await digest(join(dir, 'inbox')));
  });
});

describe('options', () => {
  test('a bad end day or day count is refused', async () => {
    await expect(writeDemoHistory(join(dir, 'bad'), { endDay: '26/11/2026' })).rejects.toThrow(/endDay/);
    await expect(writeDemoHistory(join(dir, 'bad'), { endDay: '2026-11-26', days: 0 })).rejects.toThrow(/days/);
  });
});
