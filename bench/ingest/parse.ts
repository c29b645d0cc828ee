/**
 * Parse-only benchmark: streams an aggregate report file through `parseReport` and prints
 * MB/s (of XML), records/s and peak RSS. The full file → Parquet bench lives elsewhere.
 *
 *   node bench/ingest/generate.ts --out /tmp/report-100k.xml
 *   node bench/ingest/parse.ts /tmp/report-100k.xml [--chunk 65536] [--runs 3] [--no-fast-path]
 *
 * A `.gz` file is gunzipped on the fly (its time is included). Run each measurement in a fresh
 * process: peak RSS is the process's high-water mark.
 */
import { createReadStream } from 'node:fs';
import { parseArgs } from 'node:util';
import { createGunzip } from 'node:zlib';
import { parseReport } from '../../scripts/reports/parse/index.ts';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    chunk: { type: 'string', default: '65536' },
    runs: { type: 'string', default: '3' },
    batch: { type: 'string', default: '512' },
    'no-fast-path': { type: 'boolean', default: false },
  },
});
const file = positionals[0];
if (file === undefined) {
  console.error('usage: node bench/ingest/parse.ts FILE [--chunk BYTES] [--runs N] [--no-fast-path]');
  process.exit(2);
}

const mib = (bytes: number): string => (bytes / 2 ** 20).toFixed(1);

for (let run = 1; run <= Number(values.runs); run++) {
  const raw = createReadStream(file, { highWaterMark: Number(values.chunk) });
  const input = file.endsWith('.gz') ? raw.pipe(createGunzip({ chunkSize: Number(values.chunk) })) : raw;
  const started = performance.now();
  const report = await parseReport(input, { name: file, fastPath: !values['no-fast-path'], batchSize: Number(values.batch) });
  let records = 0;
  for await (const batch of report.records) records += batch.length;
  const seconds = (performance.now() - started) / 1000;
  const { bytes, fastPath, fallback } = report.stats;
  console.log(
    `run ${run}: ${records} records, ${mib(bytes)} MiB in ${seconds.toFixed(3)} s → ` +
      `${(bytes / 1e6 / seconds).toFixed(0)} MB/s, ${Math.round(records / seconds).toLocaleString('en')} records/s ` +
      `(fast path ${fastPath}, fallback ${fallback}); peak RSS ${mib(process.resourceUsage().maxRSS * 1024)} MiB`,
  );
}
