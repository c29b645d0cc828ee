import { appendFile } from 'node:fs/promises';
import { join } from 'node:path';
import { escapeMarkdown, markdownTable } from '../github/markdown.ts';
import { createEnricher } from '../reports/enrich/index.ts';
import { ingestRun } from '../reports/pipeline.ts';
import type { IngestItem, IngestSummary, ItemResult } from '../reports/pipeline.ts';
import { fileItems } from '../reports/sources/files.ts';
import { openDataset } from '../reports/store/index.ts';
import type { UnpackLimits } from '../reports/unpack/index.ts';
import type { Command, CommandContext } from './command.ts';
import { CliError, DOMAINS_OPTION, EXIT, JSON_OPTION } from './command.ts';
import { loadValidDomains } from './load-valid.ts';
import type { Output } from './output.ts';
import { printable } from '../printable.ts';
import { createProgress } from './progress.ts';

/** Options shared by `ingest` and `fetch`. */
export const RUN_OPTIONS = {
  ...DOMAINS_OPTION,
  ...JSON_OPTION,
  data: { type: 'string', default: 'reports' },
  offline: { type: 'boolean', default: false },
  'summary-file': { type: 'string' },
  'max-payload-bytes': { type: 'string' },
  'max-ratio': { type: 'string' },
} as const;

export const RUN_HELP = [
  '  --data <dir>             dataset root (default: reports)',
  '  --domains <dir>          folder of domain files; reports for other domains are set aside as foreign (default: domains)',
  '  --json                   print one JSON summary: counts of reports, records, duplicates, foreign, invalid (with sources and reasons)',
  '  --offline                no network lookups: enrichment uses the offline ASN data and the PTR cache only',
  '  --summary-file <file>    also append a Markdown summary (e.g. "$GITHUB_STEP_SUMMARY")',
  '  --max-payload-bytes <n>  largest uncompressed attachment (default 256 MiB)',
  '  --max-ratio <n>          largest compression ratio once past 1 MiB (default 200)',
].join('\n');

type Values = Record<string, string | boolean | (string | boolean)[] | undefined>;

/** Run the pipeline over items, with progress on a TTY, then print the summary. */
export async function runIngest(items: AsyncIterable<IngestItem>, values: Values, context: CommandContext, label: string, onItem?: (result: ItemResult) => void): Promise<IngestSummary> {
  const { output } = context;
  const { domains } = await loadValidDomains(String(values.domains), output);
  const dataRoot = String(values.data);
  const dataset = await openDataset({ root: dataRoot });
  const enricher = await createEnricher({ offline: values.offline === true, cacheFile: join(dataRoot, 'cache', 'ptr.json') });
  const progress = createProgress(label);
  const counts = { items: 0, reports: 0, records: 0 };
  try {
    const { summary } = await ingestRun(items, {
      dataset,
      ourDomains: new Set(domains.map((domain) => domain.policy.domain)),
      limits: limitsFrom(values),
      enricher,
      // `ingest --retry` only: fetch has no such option, so this stays false there.
      retrySeen: values.retry === true,
      onItem(result) {
        counts.items += 1;
        counts.reports += result.reports.length;
        counts.records += result.reports.reduce((sum, report) => sum + (report.outcome === 'stored' ? report.records : 0), 0);
        progress.update(counts);
        onItem?.(result);
      },
    });
    progress.done();
    if (values.json) output.out(JSON.stringify(summary, null, 2));
    else renderSummary(summary, dataRoot, output, enricher.warnings());
    if (typeof values['summary-file'] === 'string') await appendFile(values['summary-file'], `${summaryMarkdown(summary)}\n`);
    return summary;
  } finally {
    progress.done();
    await dataset.close();
  }
}

function limitsFrom(values: Values): Partial<UnpackLimits> {
  const limits: Partial<UnpackLimits> = {};
  const number = (name: string): number | undefined => {
    const raw = values[name];
    if (raw === undefined) return undefined;
    const value = Number(raw);
    if (!Number.isFinite(value) || value <= 0) throw new CliError(`--${name} must be a positive number, not ${String(raw)}`, EXIT.usage);
    return value;
  };
  const maxPayloadBytes = number('max-payload-bytes');
  const maxRatio = number('max-ratio');
  if (maxPayloadBytes !== undefined) limits.maxPayloadBytes = maxPayloadBytes;
  if (maxRatio !== undefined) limits.maxRatio = maxRatio;
  return limits;
}

export function renderSummary(summary: IngestSummary, dataRoot: string, output: Output, warnings: string[] = []): void {
  const { reports } = summary;
  output.out(`${output.style('bold', `run ${summary.runId}`)} → ${dataRoot}/`);
  output.out(`  inputs   ${summary.items}${summary.alreadyIngested ? ` (${summary.alreadyIngested} already ingested)` : ''}${summary.unsupported ? `, ${summary.unsupported} unsupported (failure/TLS reports)` : ''}`);
  output.out(`  reports  ${output.style('green', `${reports.stored} new`)} · ${reports.duplicate} duplicate · ${reports.foreign} foreign · ${reports.invalid ? output.style('red', `${reports.invalid} invalid`) : '0 invalid'}`);
  output.out(`  records  ${summary.records.toLocaleString('en-US')}`);
  if (summary.enrichment) {
    const { lookups, cacheHits, failures, cachePruned } = summary.enrichment;
    output.out(`  lookups  ${lookups} PTR, ${cacheHits} cached, ${failures} failed${cachePruned > 0 ? `; ${cachePruned} stale cache entries pruned` : ''}`);
  }
  // Reasons usually start with the input's own name; print it once.
  for (const { source, reason } of summary.invalid) output.out(`  ${output.style('red', 'invalid')}  ${printable(reason.startsWith(source.split(' › ')[0] ?? source) ? reason : `${source}: ${reason}`)}`);
  for (const { source, policyDomain } of summary.foreign) output.out(`  ${output.style('yellow', 'foreign')}  ${printable(`${source}: policy domain ${policyDomain || '(empty)'} is not in domains/`)}`);
  for (const warning of warnings) output.out(`  ${output.style('yellow', 'note')}     ${printable(warning)}`);
  if (summary.reports.invalid + summary.reports.foreign > 0) {
    output.out(`  (kept aside in ${dataRoot}/quarantine/; nothing is dropped)`);
    output.out(`  (${retryWhen(summary)}: ${retryCommand(dataRoot)})`);
  }
}

/** When reading the quarantine again can change something: for foreign reports, for invalid inputs. */
function retryWhen(summary: IngestSummary): string {
  const { foreign, invalid } = summary.reports;
  if (foreign > 0 && invalid > 0) return 'after adding the domain or upgrading dmarcops';
  return foreign > 0 ? 'after adding the domain' : 'after upgrading dmarcops';
}

/** The command that reads a dataset's quarantine again, ready to paste. */
function retryCommand(dataRoot: string): string {
  const quote = (text: string): string => (/^[\w@%+=:,./-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`);
  const data = dataRoot === RUN_OPTIONS.data.default ? '' : ` --data ${quote(dataRoot)}`;
  return `dmarcops ingest --retry ${quote(`${dataRoot}/quarantine`)}${data}`;
}

export function summaryMarkdown(summary: IngestSummary): string {
  const { reports } = summary;
  const lines = [
    `### dmarcops ingest ${escapeMarkdown(summary.runId)}`,
    '',
    markdownTable(['inputs', 'new reports', 'duplicates', 'foreign', 'invalid', 'records'], [[String(summary.items), String(reports.stored), String(reports.duplicate), String(reports.foreign), String(reports.invalid), String(summary.records)]]),
  ];
  if (summary.invalid.length > 0) lines.push('', '**Invalid inputs** (kept in `reports/quarantine/`)', '', markdownTable(['source', 'reason'], summary.invalid.map(({ source, reason }) => [escapeMarkdown(source), escapeMarkdown(reason)])));
  if (summary.foreign.length > 0) lines.push('', '**Foreign reports** (policy domain not in `domains/`)', '', markdownTable(['source', 'policy domain'], summary.foreign.map(({ source, policyDomain }) => [escapeMarkdown(source), escapeMarkdown(policyDomain)])));
  if (summary.invalid.length + summary.foreign.length > 0) lines.push('', `Nothing is dropped: ${retryWhen(summary)}, \`dmarcops ingest --retry reports/quarantine\` reads them again.`);
  return lines.join('\n');
}

export const ingestCommand: Command = {
  name: 'ingest',
  summary: 'ingest report files, mailboxes and folders into the Parquet dataset',
  usage: 'dmarcops ingest <paths…> [--retry] [--data <dir>] [--domains <dir>] [--json] [--offline]',
  help: [
    'Each path may be a report (.xml, .xml.gz, .gz, .zip, .eml — detected by content, not by name), an mbox file,',
    'a Maildir folder, or a folder to walk. Reports already stored are recognised and not stored again; inputs that',
    'hold no usable report are kept in <data>/quarantine/ with the reason in the ledger. An input whose bytes a run',
    'has seen is skipped (already ingested), unless --retry.',
    '',
    'options:',
    '  --retry                  read inputs again even when a run has seen them: after adding a domain file (foreign',
    '                           reports become ours) or upgrading dmarcops (a parser fix), e.g.',
    '                           `dmarcops ingest --retry reports/quarantine`. Reports already stored stay duplicates',
    '                           (nothing is doubled) and the quarantined files stay where they are.',
    RUN_HELP,
    '',
    'exit: 0 the run committed (invalid inputs are reported, not fatal), 1 error, 2 usage error',
  ].join('\n'),
  // --retry is ingest's own: fetch shares RUN_OPTIONS and has nothing to retry (the mailbox moves on).
  options: { ...RUN_OPTIONS, retry: { type: 'boolean', default: false } },
  allowPositionals: true,
  async run(values, paths, context) {
    if (paths.length === 0) throw new CliError('give one or more files or folders to ingest', EXIT.usage);
    await runIngest(fileItems(paths), values, context, 'ingest');
    return EXIT.ok;
  },
};
