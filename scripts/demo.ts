/**
 * `npm run demo`: the main job on embedded defaults, offline. Validates the shipped domains/, prints
 * the records they publish, ingests the bundled sample reports (scripts/demo/samples, see NOTICE) and a
 * generated 90-day history into a fresh dataset (.demo/reports), ingests again to show nothing doubles,
 * answers a ledger question, previews what moving example.com to p=reject would have done to its mail
 * (what a pull request's comment shows), builds the dashboard (.demo/site, with --show-addresses: the data is made
 * up and the site stays on localhost) and serves it there.
 *
 *   npm run demo                 everything, then serve until Ctrl-C
 *   npm run demo -- --no-serve   stop after the build (CI, tests)
 *   npm run demo -- --port 8080  serve on another port (default 4321, or the next free one)
 */
import { cp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { writeDemoHistory } from './demo/history.ts';
import { main } from './cli.ts';
import { DAY_MS, isoDay } from './site/rollups/common.ts';

const DEMO = '.demo';
const DATA = `${DEMO}/reports`;
const SITE = `${DEMO}/site`;

const { values } = parseArgs({ options: { 'no-serve': { type: 'boolean', default: false }, port: { type: 'string', default: '4321' } } });

async function step(title: string, argv: string[]): Promise<number> {
  process.stdout.write(`\n── ${title}: dmarcops ${argv.join(' ')}\n\n`);
  const code = await main(argv);
  if (code !== 0 && argv[0] !== 'ledger') process.exit(code);
  return code;
}

// The history ends yesterday (UTC): receivers report a day after the fact.
const endDay = isoDay(Date.now() - DAY_MS);

await step('Check the domain files', ['validate']);
await step('Records to publish', ['record']);

await rm(DEMO, { recursive: true, force: true });
await mkdir(`${DEMO}/inbox`, { recursive: true });
process.stdout.write(`\n── Generate 90 days of reports ending ${endDay} into ${DEMO}/inbox\n`);
const history = await writeDemoHistory(`${DEMO}/inbox`, { endDay, days: 90 });
process.stdout.write(`   ${history.files} files, ${history.reports} reports, ${history.records} records, ${history.messages} messages\n`);

await step('Ingest the sample reports and the history', ['ingest', 'scripts/demo/samples', `${DEMO}/inbox`, '--data', DATA, '--offline']);
await step('Ingest them again: nothing is doubled', ['ingest', 'scripts/demo/samples', `${DEMO}/inbox`, '--data', DATA, '--offline']);
await step(`Did we get a report for example.com on ${endDay}?`, ['ledger', '--data', DATA, '--domain', 'example.com', '--day', endDay]);
// The pull request's question, asked of the demo's mail: a copy of domains/ with example.com at reject.
const next = `${DEMO}/domains-reject`;
await cp('domains', next, { recursive: true });
const current = await readFile('domains/example.com.yaml', 'utf8');
await writeFile(`${next}/example.com.yaml`, current.replace(/^policy: .*$/m, 'policy: reject').replace(/^testing: .*\n/m, ''));
await step('What would p=reject on example.com have done to its mail? (the impact a pull request shows)', [
  'impact',
  '--base-domains',
  'domains',
  '--domains',
  next,
  '--data',
  DATA,
]);
// The demo's data is made up, and its site is served on this machine only: show the addresses.
process.stdout.write(
  '\n── The demo builds with --show-addresses: its reports are made up and the site stays on ' +
    'localhost (a real build redacts IP addresses, host names and reporter addresses by default)\n',
);
await step('Build the dashboard', ['site', 'build', '--data', DATA, '--out', SITE, '--show-addresses', '--quiet']);

process.stdout.write(`\nThe dataset is in ${DATA}/ (Parquet, hive-partitioned by month): see docs/dataset.md to query it.\n`);
if (values['no-serve']) {
  process.stdout.write(`The site is in ${SITE}/. Serve it with: npx dmarcops site serve --out ${SITE}\n`);
} else {
  await step('Serve the dashboard (Ctrl-C to stop)', ['site', 'serve', '--out', SITE, '--port', values.port]);
}
