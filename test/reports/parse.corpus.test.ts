/**
 * Every file of the shared corpus through unpack → parse (streamed in 4 KiB chunks): reports parse
 * with exactly MANIFEST.tsv's record count, policy domain, reporter and schema; NEG/BROKEN files are
 * rejected with a clear reason. Prints one line per file.
 */
import { afterAll, describe, expect, test } from 'vitest';
import { ParseError, parseReport, parseReportBytes } from '../../scripts/reports/parse/index.ts';
import type { ParseWarning, ReportHeader } from '../../scripts/reports/parse/index.ts';
import { CORPUS, asAsync, chunked, corpusItem, readManifest, usingUnpackStage } from './parse.fixtures.ts';
import type { ManifestRow } from './parse.fixtures.ts';

const rows = readManifest();

interface Outcome {
  headers: ReportHeader[];
  records: number;
  warnings: ParseWarning[];
  rejections: string[];
}

async function parsePayloads(payloads: { name: string; bytes: Uint8Array }[]): Promise<Outcome> {
  const outcome: Outcome = { headers: [], records: 0, warnings: [], rejections: [] };
  for (const payload of payloads) {
    try {
      const report = await parseReport(asAsync(chunked(payload.bytes, 4096)), { name: payload.name });
      let records = 0;
      for await (const batch of report.records) records += batch.length;
      expect(records).toBe(report.stats.records);
      outcome.headers.push(report.header);
      outcome.records += records;
      outcome.warnings.push(...report.warnings);
    } catch (error) {
      if (!(error instanceof ParseError)) throw error;
      outcome.rejections.push(`${error.code}: ${error.message}`);
    }
  }
  return outcome;
}

function summarise(warnings: ParseWarning[]): string {
  const counts = new Map<string, number>();
  for (const w of warnings) counts.set(w.code, (counts.get(w.code) ?? 0) + w.count);
  return [...counts].map(([code, n]) => (n > 1 ? `${code}×${n}` : code)).join(', ');
}

describe.skipIf(rows.length === 0)(`corpus (${CORPUS})`, () => {
  const lines: string[] = [];
  const tally = { parsed: 0, rejected: 0, salvaged: 0, skipped: 0 };

  afterAll(async () => {
    const via = (await usingUnpackStage()) ? 'scripts/reports/unpack' : 'fflate stand-in (.eml skipped)';
    console.log(
      [
        `corpus: ${rows.length} files, payloads via ${via}`,
        `parsed ${tally.parsed}, rejected ${tally.rejected}, salvaged ${tally.salvaged}, skipped ${tally.skipped}`,
        ...lines,
      ].join('\n'),
    );
  });

  test.for(rows)('$path', async (row: ManifestRow) => {
    const item = await corpusItem(row);
    if (item.skipped) {
      tally.skipped++;
      lines.push(`SKIP   ${row.path}: ${item.skipped}`);
      return;
    }
    const outcome = await parsePayloads(item.payloads);
    const rejections = [...item.problems.map((p) => `unpack: ${p}`), ...outcome.rejections];
    const parsed = outcome.headers.length > 0;

    if (row.expect === 'reject' || (row.expect === 'either' && !parsed)) {
      expect(parsed, `${row.path} should be rejected`).toBe(false);
      expect(rejections.length).toBeGreaterThan(0);
      for (const reason of rejections) expect(reason).toMatch(/\S{3,}.*: .{10,}/);
      // The parser must also refuse a NEG file's bytes on its own (not only the unpack stage).
      if (row.container === 'xml' || row.container === 'other') {
        const { readFileSync } = await import('node:fs');
        expect(() => parseReportBytes(new Uint8Array(readFileSync(`${CORPUS}/${row.path}`)))).toThrow(ParseError);
      }
      tally.rejected++;
      lines.push(`REJECT ${row.path}: ${rejections.join(' | ')}`);
      return;
    }

    expect(rejections, `${row.path} should parse`).toEqual([]);
    // `either`: the manifest's reader could not open the container, so its count (0) says nothing.
    if (row.expect !== 'either') expect(outcome.records).toBe(row.records);
    if (row.expect === 'parse' && outcome.headers.length === 1) {
      const header = outcome.headers[0] as ReportHeader;
      expect(header.policy.domain).toBe(row.policyDomain.toLowerCase());
      expect(header.orgName).toBe(row.orgName.trim());
      expect(header.schema).toBe(row.schema === 'dmarcbis' ? (header.schema === 'draft' ? 'draft' : 'rfc9990') : row.schema);
    }
    if (row.expect === 'salvage') {
      expect(outcome.warnings.map((w) => w.code)).toContain('missing-policy-domain');
      tally.salvaged++;
    } else tally.parsed++;
    const label = row.expect === 'salvage' ? 'SALVAGE' : row.expect === 'either' ? 'OK*   ' : 'OK    ';
    lines.push(`${label} ${row.path}: ${outcome.records} records; ${summarise(outcome.warnings) || 'no warnings'}`);
  });
});

test.skipIf(rows.length > 0)('corpus tests skipped: no MANIFEST.tsv', () => {
  console.log(`corpus not found at ${CORPUS}: corpus tests skipped`);
});
