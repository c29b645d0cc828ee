/**
 * Streaming: the same bytes cut into any chunk sizes give the same report, records arrive in
 * batches, and multi-byte characters split across chunks survive.
 */
import { describe, expect, test } from 'vitest';
import { generateReport } from '../../bench/ingest/generate.ts';
import { parseReport, parseReportBytes } from '../../scripts/reports/parse/index.ts';
import type { ParseOptions, ReportRecord } from '../../scripts/reports/parse/index.ts';
import { asAsync, chunked } from './parse.fixtures.ts';

const generated = new TextEncoder().encode([...generateReport({ records: 400, seed: 7 })].join(''));

async function streamed(bytes: Uint8Array, size: number, options: ParseOptions = {}) {
  const report = await parseReport(asAsync(chunked(bytes, size)), options);
  const batches: ReportRecord[][] = [];
  for await (const batch of report.records) batches.push(batch);
  return { header: report.header, batches, records: batches.flat(), warnings: report.warnings, stats: report.stats };
}

describe('streaming', () => {
  const whole = parseReportBytes(generated);

  test('the generated report parses whole, all through the fast path', () => {
    expect(whole.records).toHaveLength(400);
    expect(whole.stats.fastPath).toBe(400);
    expect(whole.header.policy.domain).toBe('example.com');
  });

  test.for([1, 7, 4096, 65_536])('chunks of %i bytes give identical output', async (size) => {
    const result = await streamed(generated, size, { batchSize: 64 });
    expect(result.header).toStrictEqual(whole.header);
    expect(result.records).toStrictEqual(whole.records);
    expect(result.warnings).toStrictEqual(whole.warnings);
    expect(result.stats).toStrictEqual(whole.stats);
  });

  test('records come in batches of at most batchSize', async () => {
    const { batches } = await streamed(generated, 65_536, { batchSize: 64 });
    expect(batches.length).toBe(Math.ceil(400 / 64));
    for (const batch of batches) expect(batch.length).toBeLessThanOrEqual(64);
  });

  test('a multi-byte character cut by every chunk boundary survives (UTF-8 and windows-1252)', async () => {
    const xml = (org: string, encoding: string) =>
      `<?xml version="1.0" encoding="${encoding}"?><feedback><report_metadata><org_name>${org}</org_name>` +
      '<email>a@b.example</email><report_id>1</report_id><date_range><begin>1</begin><end>2</end></date_range>' +
      '</report_metadata><policy_published><domain>example.com</domain><p>none</p></policy_published>' +
      `<record><row><source_ip>192.0.2.1</source_ip><count>1</count><policy_evaluated><disposition>none</disposition>` +
      `<dkim>pass</dkim><spf>pass</spf><reason><type>other</type><comment>${org}</comment></reason></policy_evaluated></row>` +
      '<identifiers><header_from>example.com</header_from></identifiers><auth_results><spf><domain>example.com</domain>' +
      '<scope>mfrom</scope><result>pass</result></spf></auth_results></record></feedback>';
    const org = 'Société Générale € 😀';
    const utf8 = new TextEncoder().encode(xml(org, 'UTF-8'));
    for (const size of [1, 2, 3]) {
      const { header, records } = await streamed(utf8, size);
      expect(header.orgName).toBe(org);
      expect(records[0]?.reasons[0]?.comment).toBe(org);
    }
    const latin = 'Société Générale €';
    const cp1252 = Uint8Array.from(xml(latin, 'windows-1252'), (c) => (c === '€' ? 0x80 : c.charCodeAt(0)));
    const { header } = await streamed(cp1252, 1);
    expect(header.orgName).toBe(latin);
  });

  test('a consumer that stops early releases the source', async () => {
    let closed = false;
    async function* source() {
      try {
        yield* chunked(generated, 1024);
      } finally {
        closed = true;
      }
    }
    const report = await parseReport(source(), { batchSize: 10 });
    for await (const batch of report.records) {
      expect(batch.length).toBe(10);
      break;
    }
    expect(closed).toBe(true);
  });
});

describe('a consumer that stops before the first batch', () => {
  test('releases the source (its finally runs)', async () => {
    let closed = false;
    async function* source() {
      try {
        yield new TextEncoder().encode(
          '<feedback><report_metadata><org_name>o</org_name><email>e@o</email><report_id>1</report_id><date_range><begin>1</begin>' +
            '<end>2</end></date_range></report_metadata><policy_published><domain>example.com</domain><p>none</p></policy_published>',
        );
        yield new TextEncoder().encode('<record><row><source_ip>192.0.2.1</source_ip><count>1</count></row></record></feedback>');
      } finally {
        closed = true;
      }
    }
    const stream = await parseReport(source());
    await stream.records[Symbol.asyncIterator]().return?.();
    expect(closed).toBe(true);
  });
});
