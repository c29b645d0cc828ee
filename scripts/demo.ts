/**
 * `npm run demo`: the main job on embedded defaults. Validates the shipped domains/, prints the
 * records they publish, then ingests the bundled sample reports (scripts/demo/samples, see NOTICE)
 * and a generated 5,000-record report into a fresh demo dataset (.demo/reports), and answers a
 * ledger question from it. The dashboard joins this demo when the site stage lands.
 */
import { createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { once } from 'node:events';
import { generateReport } from '../bench/ingest/generate.ts';
import { main } from './cli.ts';

const DEMO = '.demo';
const DATA = `${DEMO}/reports`;

async function step(title: string, argv: string[]): Promise<number> {
  process.stdout.write(`\n── ${title}: dmarcops ${argv.join(' ')}\n\n`);
  const code = await main(argv);
  if (code !== 0 && argv[0] !== 'ledger') process.exit(code);
  return code;
}

async function writeGeneratedReport(path: string): Promise<void> {
  const out = createWriteStream(path);
  for (const chunk of generateReport({ records: 5000, seed: 7 })) if (!out.write(chunk)) await once(out, 'drain');
  out.end();
  await once(out, 'finish');
}

await step('Check the domain files', ['validate']);
await step('Records to publish', ['record']);

await rm(DEMO, { recursive: true, force: true });
await mkdir(`${DEMO}/inbox`, { recursive: true });
await writeGeneratedReport(`${DEMO}/inbox/bench.example!example.com!generated.xml`);
await step('Ingest the sample reports', ['ingest', 'scripts/demo/samples', `${DEMO}/inbox`, '--data', DATA, '--offline']);
await step('Ingest them again: nothing is doubled', ['ingest', 'scripts/demo/samples', `${DEMO}/inbox`, '--data', DATA, '--offline']);
await step('Did we get a report for example.com on 2026-01-01?', ['ledger', '--data', DATA, '--domain', 'example.com', '--day', '2026-01-01']);
process.stdout.write(`\nThe dataset is in ${DATA}/ (Parquet, hive-partitioned by month): see docs/dataset.md to query it.\n`);
