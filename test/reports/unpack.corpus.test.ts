/**
 * Every file of the shared real-world corpus through unpackFile, checked against MANIFEST.tsv
 * (container, record_count, NEG/BROKEN labels and quirk notes).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { unpackFile } from '../../scripts/reports/unpack/index.ts';
import type { UnpackResult } from '../../scripts/reports/unpack/index.ts';
import { readAll } from '../fixtures/unpack/make.ts';

const CORPUS = process.env.DMARC_CORPUS ?? '/work/shared/corpus';
const present = existsSync(join(CORPUS, 'MANIFEST.tsv'));

interface Row {
  path: string;
  container: string;
  records: number;
  notes: string;
}

function manifest(): Row[] {
  const [header, ...lines] = readFileSync(join(CORPUS, 'MANIFEST.tsv'), 'utf8').trimEnd().split('\n');
  const columns = header!.split('\t');
  const col = (name: string) => {
    const i = columns.indexOf(name);
    if (i === -1) throw new Error(`MANIFEST.tsv has no ${name} column (has: ${columns.join(', ')})`);
    return i;
  };
  const [path, container, records, notes] = [col('path'), col('container'), col('record_count'), col('notes')];
  return lines.map((line) => {
    const cells = line.split('\t');
    return { path: cells[path]!, container: cells[container]!, records: Number(cells[records] || 0), notes: cells[notes] ?? '' };
  });
}

const decoder = new TextDecoder();
const recordTags = (xml: string) => (xml.match(/<([\w.-]+:)?record[\s>]/g) ?? []).length;

if (!present) console.warn(`unpack corpus test skipped: no ${join(CORPUS, 'MANIFEST.tsv')} (set DMARC_CORPUS to the corpus folder)`);

describe(`unpack: real corpus (${CORPUS})`, () => {
  const title = present
    ? 'gives every file payloads that start with "<" or problems with a reason, as MANIFEST.tsv expects'
    : `skipped: corpus not found at ${CORPUS} (set DMARC_CORPUS)`;
  it.skipIf(!present)(title, { timeout: 60_000 }, async () => {
    const rows = manifest();
    expect(rows.length).toBeGreaterThan(100);
    const table: string[] = [];
    let withPayloads = 0;
    let rejected = 0;

    for (const row of rows) {
      const result: UnpackResult = await unpackFile(join(CORPUS, row.path)); // must not throw
      const label = `${row.path} (${row.notes.slice(0, 80)})`;
      const negative = /\b(NEG|BROKEN)\b/.test(row.notes);
      const texts: string[] = [];
      for (const payload of result.payloads) {
        const text = decoder.decode(await readAll(payload)).replace(/^\uFEFF/, '');
        expect(text.trimStart().startsWith('<'), `${label}: payload ${payload.trail.join(' › ')}`).toBe(true);
        texts.push(text);
      }
      for (const problem of result.problems) expect(problem.message.length, label).toBeGreaterThan(10);
      expect(result.payloads.length + result.problems.length, `${label}: neither payload nor problem`).toBeGreaterThan(0);

      if (!negative && row.records > 0) {
        // A real report: exactly one XML payload holding exactly the manifest's records.
        expect(result.problems, label).toEqual([]);
        expect(result.payloads.length, label).toBe(1);
        expect(result.kind, label).toBe('aggregate');
        expect(recordTags(texts[0]!), `${label}: <record> count`).toBe(row.records);
        if (row.container === 'eml') expect(result.payloads[0]!.trail[1], label).toMatch(/^attachment /);
      }
      if (/NEG/.test(row.notes) && /payload not XML|no report attachment/.test(row.notes)) {
        expect(result.payloads, `${label}: not XML, must be rejected`).toEqual([]);
        expect(
          result.problems.map((p) => p.code),
          label,
        ).toEqual(expect.arrayContaining([expect.stringMatching(/^(not-a-report|empty)$/)]));
      }
      if (/trailing garbage/.test(row.notes)) expect(result.payloads[0]!.notes.join(), label).toMatch(/2 byte\(s\) of junk/);
      if (/double-gzipped/.test(row.notes)) expect(result.payloads[0]!.trail, label).toHaveLength(3);
      if (/directory entry/.test(row.notes)) expect(result.payloads[0]!.trail.at(-1), label).toMatch(/\//);
      if (/payload is a ZIP/.test(row.notes)) {
        expect(result.payloads, label).toHaveLength(1);
      }

      if (result.payloads.length > 0) withPayloads++;
      else rejected++;
      const reasons = result.problems
        .map((p) => `${p.code}: ${p.message.replace(`${p.trail.join(' › ')}: `, '').slice(0, 70)}`)
        .join(' | ');
      table.push(
        `${row.path.slice(0, 64).padEnd(64)} ${row.container.padEnd(5)} ${String(result.payloads.length).padStart(2)}  ${reasons}`,
      );
    }
    console.log(
      `${'file'.padEnd(64)} cont. pl  problems\n${table.join('\n')}\n${rows.length} files: ${withPayloads} gave payloads, ${rejected} only problems`,
    );
    // The raw zlib copy of the AOL report is listed as "other"/0 records but does inflate to its XML.
    const zlib = rows.find((r) => r.path.endsWith('.zlib'));
    if (zlib) expect((await unpackFile(join(CORPUS, zlib.path))).payloads).toHaveLength(1);
  });
});
