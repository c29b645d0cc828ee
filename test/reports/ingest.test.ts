/**
 * `dmarcops ingest` end to end on files: good, duplicate, foreign, broken and hostile inputs in one
 * run. Hostile ones are refused with a message naming the file and the limit, the run goes on, and
 * nothing is lost (quarantine) or doubled (rerun).
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { zipSync } from 'fflate';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { main } from '../../scripts/cli.ts';
import type { IngestSummary } from '../../scripts/reports/pipeline.ts';
import { committedRecordsSql, findReports } from '../../scripts/reports/store/index.ts';
import { openDuck } from '../../scripts/reports/store/duck.ts';
import { enc, gzipBomb, mail, reportXml } from '../fixtures/unpack/make.ts';
import { captureOutput } from '../helpers/output.ts';

let dir: string;
let inbox: string;
let data: string;

async function ingest(...extra: string[]): Promise<IngestSummary> {
  const output = captureOutput();
  const code = await main(['ingest', inbox, '--data', data, '--domains', 'domains', '--offline', '--json', ...extra], output, {});
  expect(code, output.stderr.join('\n')).toBe(0);
  return JSON.parse(output.text()) as IngestSummary;
}

async function rowCount(): Promise<number> {
  const duck = await openDuck();
  try {
    const [row] = await duck.rows<{ n: number }>(`SELECT count(*)::INTEGER AS n FROM (${committedRecordsSql(data)})`);
    return row?.n ?? 0;
  } finally {
    duck.close();
  }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dmarcops-ingest-'));
  inbox = join(dir, 'inbox');
  data = join(dir, 'reports');
  await mkdir(inbox);
  const ours = reportXml('good-1', 12, 'example.com');
  await writeFile(join(inbox, '01-good.xml'), ours);
  // The same report relayed a second time, zipped: a duplicate, not new rows.
  await writeFile(join(inbox, '02-same-report.zip'), zipSync({ 'receiver.example!example.com!1700000000!1700086399.xml': enc(ours) }));
  await writeFile(
    join(inbox, '03-subdomain.eml'),
    mail({ Subject: 'Report Domain: mail.example.com', 'Message-ID': '<sub@receiver.example>' }, [
      { type: 'application/gzip', filename: 'r.xml.gz', body: gzipSync(reportXml('sub-1', 3, 'mail.example.com')), encoding: 'base64' },
    ]),
  );
  await writeFile(join(inbox, '04-foreign.xml.gz'), gzipSync(reportXml('other-1', 2, 'not-ours.example')));
  await writeFile(join(inbox, '05-truncated.xml'), reportXml('cut-1', 5, 'example.com').slice(0, 700));
  await writeFile(join(inbox, '06-gzip-bomb.xml.gz'), gzipBomb(512 * 1024 * 1024, enc('<?xml version="1.0"?><feedback>')));
  await writeFile(
    join(inbox, '07-billion-laughs.xml'),
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>' +
      '<feedback><report_metadata><org_name>&lol2;</org_name></report_metadata></feedback>',
  );
  await writeFile(
    join(inbox, '08-external-entity.xml'),
    '<?xml version="1.0"?><!DOCTYPE feedback [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>' +
      '<feedback><report_metadata><org_name>&xxe;</org_name></report_metadata></feedback>',
  );
  await writeFile(join(inbox, '09-not-a-report.txt'), 'hello, this is not a report\n');
});

afterAll(async () => {
  if (dir?.startsWith(join(tmpdir(), 'dmarcops-ingest-'))) await rm(dir, { recursive: true, force: true });
});

describe('dmarcops ingest', () => {
  let first: IngestSummary;

  test('one run: stores ours, recognises the duplicate, sets aside foreign and invalid inputs with reasons', async () => {
    first = await ingest();
    expect(first.items).toBe(9);
    expect(first.reports).toEqual({ stored: 2, duplicate: 1, foreign: 1, invalid: 5 });
    expect(first.records).toBe(15);
    const reasons = Object.fromEntries(first.invalid.map(({ source, reason }) => [source.split('/').pop()?.split(' › ')[0], reason]));
    expect(reasons['05-truncated.xml']).toMatch(/truncated/);
    expect(reasons['06-gzip-bomb.xml.gz']).toMatch(/06-gzip-bomb\.xml\.gz.*(ratio|limit)/);
    expect(reasons['07-billion-laughs.xml']).toMatch(/DOCTYPE|DTD/i);
    expect(reasons['08-external-entity.xml']).toMatch(/DOCTYPE|DTD/i);
    expect(reasons['09-not-a-report.txt']).toMatch(/not XML/);
    expect(first.foreign).toEqual([{ source: join(inbox, '04-foreign.xml.gz'), policyDomain: 'not-ours.example', kind: 'aggregate' }]);
  });

  test('the dataset holds exactly the stored records, readable by DuckDB', async () => {
    expect(await rowCount()).toBe(15);
    const duck = await openDuck();
    try {
      const rows = await duck.rows<{ policy_domain: string; n: number; messages: number }>(
        `SELECT policy_domain, count(*)::INTEGER AS n, sum(message_count)::INTEGER AS messages FROM (${committedRecordsSql(data)}) GROUP BY 1 ORDER BY 1`,
      );
      expect(rows).toEqual([
        { policy_domain: 'example.com', n: 12, messages: 78 },
        { policy_domain: 'mail.example.com', n: 3, messages: 6 },
      ]);
    } finally {
      duck.close();
    }
  });

  test('the foreign report is kept in quarantine; invalid inputs keep their ledger row (hash, size, reason) and nothing else', async () => {
    expect(await readdir(join(data, 'quarantine'))).toEqual(['foreign']);
    expect(await readdir(join(data, 'quarantine', 'foreign'))).toHaveLength(1);
    const invalid = await findReports(data, { outcome: 'invalid' });
    expect(invalid.map((row) => row.sourceName?.split('/').pop()).sort()).toEqual([
      '05-truncated.xml',
      '06-gzip-bomb.xml.gz',
      '07-billion-laughs.xml',
      '08-external-entity.xml',
      '09-not-a-report.txt',
    ]);
    for (const row of invalid) {
      const bytes = await readFile(row.sourceName!);
      expect(row).toMatchObject({
        sourceRef: `sha256:${createHash('sha256').update(bytes).digest('hex')}`,
        sourceBytes: bytes.length,
        quarantinePath: null,
      });
      expect(row.reason).toBeTruthy();
    }
  });

  test('a rerun doubles nothing', async () => {
    const again = await ingest();
    expect(again.alreadyIngested).toBe(9);
    expect(again.reports).toEqual({ stored: 0, duplicate: 0, foreign: 0, invalid: 0 });
    expect(await rowCount()).toBe(15);
  });

  test('a new file holding an already stored report is a duplicate', async () => {
    await writeFile(join(inbox, '10-relayed-again.xml'), `\n${reportXml('good-1', 12, 'example.com')}`);
    const third = await ingest();
    expect(third.reports.duplicate).toBe(1);
    expect(await rowCount()).toBe(15);
    expect(existsSync(join(data, '.staging'))).toBe(false);
  });

  test('the text summary names each invalid input once, with its reason', async () => {
    const fresh = join(dir, 'text');
    const output = captureOutput();
    expect(await main(['ingest', join(inbox, '05-truncated.xml'), '--data', fresh, '--domains', 'domains', '--offline'], output, {})).toBe(
      0,
    );
    const line = output.stdout.find((entry) => entry.includes('invalid ') && entry.includes('05-truncated.xml'));
    expect(line?.match(/05-truncated\.xml/g)).toHaveLength(1);
  });

  test('the quarantine caps: a foreign report over the cap per report, or past the run budget, keeps its ledger row only', async () => {
    const folder = join(dir, 'foreign-many');
    await mkdir(folder);
    // Random text (incompressible) in the org name: each report's gzip is ~3 KiB.
    for (const n of [1, 2, 3])
      await writeFile(
        join(folder, `f${n}.xml`),
        reportXml(`f-${n}`, 1, 'not-ours.example').replace(
          'receiver.example</org_name>',
          `${randomBytes(2000).toString('base64')}</org_name>`,
        ),
      );
    const run = async (data: string, ...caps: string[]): Promise<IngestSummary> => {
      const json = captureOutput();
      expect(
        await main(['ingest', folder, '--data', data, '--domains', 'domains', '--offline', '--json', ...caps], json, {}),
        json.stderr.join('\n'),
      ).toBe(0);
      return JSON.parse(json.text()) as IngestSummary;
    };
    const kept = async (data: string): Promise<number> =>
      existsSync(join(data, 'quarantine', 'foreign')) ? (await readdir(join(data, 'quarantine', 'foreign'))).length : 0;

    const budget = await run(join(dir, 'cap-run'), '--quarantine-max-run-bytes', '7000');
    expect(budget.quarantine).toMatchObject({ added: 2, notKept: 1 });
    expect(budget.quarantine.bytes).toBeLessThanOrEqual(7000);
    expect(await kept(join(dir, 'cap-run'))).toBe(2);
    const rows = await findReports(join(dir, 'cap-run'), { outcome: 'foreign' });
    expect(rows.filter((row) => row.quarantinePath === null).map((row) => row.reason)).toEqual([
      "policy domain not-ours.example is not in domains/; not kept: the run's quarantine budget of 6.8 KiB is spent",
    ]);

    const perReport = await run(join(dir, 'cap-report'), '--quarantine-max-report-bytes', '1000');
    expect(perReport.quarantine).toMatchObject({ added: 0, bytes: 0, notKept: 3 });
    expect((await findReports(join(dir, 'cap-report'), { outcome: 'foreign' }))[0]?.reason).toMatch(
      /not kept: over the cap of 1000 B per report \(gzipped\)$/,
    );
    expect(await kept(join(dir, 'cap-report'))).toBe(0);

    const text = captureOutput();
    expect(
      await main(
        ['ingest', folder, '--data', join(dir, 'cap-off'), '--domains', 'domains', '--offline', '--quarantine-max-report-bytes', '0'],
        text,
        {},
      ),
    ).toBe(0);
    expect(text.stdout).toContain(
      `  (foreign reports 0 kept in ${join(dir, 'cap-off')}/quarantine/foreign/, ` +
        '3 over the quarantine caps (ledger row only; the original is your file); after adding the domain: ' +
        `dmarcops ingest --retry ${join(dir, 'cap-off')}/quarantine --data ${join(dir, 'cap-off')})`,
    );
    expect(await kept(join(dir, 'cap-off'))).toBe(0);
  });

  test('symbolic links inside a folder are skipped, never read, and the summary names them', async () => {
    const folder = join(dir, 'linked');
    await mkdir(folder);
    await writeFile(join(dir, 'outside.xml'), reportXml('outside-1', 2, 'example.com'));
    await symlink(join(dir, 'outside.xml'), join(folder, 'link.xml'));
    await symlink(inbox, join(folder, 'link-to-inbox'));
    const fresh = join(dir, 'linked-data');
    const json = captureOutput();
    expect(await main(['ingest', folder, '--data', fresh, '--domains', 'domains', '--offline', '--json'], json, {})).toBe(0);
    const summary = JSON.parse(json.text()) as IngestSummary;
    expect(summary.items).toBe(0);
    expect(summary.skipped).toEqual([
      { source: join(folder, 'link-to-inbox'), reason: 'symbolic link, not followed' },
      { source: join(folder, 'link.xml'), reason: 'symbolic link, not followed' },
    ]);
    const text = captureOutput();
    expect(await main(['ingest', folder, '--data', fresh, '--domains', 'domains', '--offline'], text, {})).toBe(0);
    expect(text.stdout).toContain(`  skipped  ${join(folder, 'link.xml')}: symbolic link, not followed`);
  });

  test('stale PTR cache entries are pruned at the end of a run, and the summary says how many', async () => {
    const fresh = join(dir, 'pruned-data');
    await mkdir(join(fresh, 'cache'), { recursive: true });
    const recent = new Date(Date.now() - 86_400_000).toISOString();
    const entries = {
      '192.0.2.250': { ptr: 'gone.example.net', resolvedAt: '2020-01-01T00:00:00.000Z' },
      '192.0.2.251': { ptr: 'still.example.net', resolvedAt: recent, seenAt: recent },
    };
    await writeFile(join(fresh, 'cache', 'ptr.json'), JSON.stringify({ version: 1, entries }));
    const json = captureOutput();
    expect(
      await main(['ingest', join(inbox, '01-good.xml'), '--data', fresh, '--domains', 'domains', '--offline', '--json'], json, {}),
    ).toBe(0);
    expect((JSON.parse(json.text()) as IngestSummary).enrichment?.cachePruned).toBe(1);
    const cache = JSON.parse(await readFile(join(fresh, 'cache', 'ptr.json'), 'utf8')) as { entries: Record<string, unknown> };
    expect(Object.keys(cache.entries)).toEqual(['192.0.2.251']);
    // Nothing stale left: the next run prunes nothing and says nothing about it.
    const text = captureOutput();
    expect(await main(['ingest', join(inbox, '04-foreign.xml.gz'), '--data', fresh, '--domains', 'domains', '--offline'], text, {})).toBe(
      0,
    );
    expect(text.stdout.join('\n')).toMatch(/lookups {2}0 PTR, 0 cached, 0 failed\n/);
  });
});
