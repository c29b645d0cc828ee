import { appendFile } from 'node:fs/promises';
import { join } from 'node:path';
import { escapeMarkdown, markdownTable, printable, shellQuote } from '../lib/escape.ts';
import { createEnricher } from '../reports/enrich/index.ts';
import { ingestRun } from '../reports/pipeline.ts';
import type { IngestItem, IngestSummary, ItemResult, QuarantineLimits } from '../reports/pipeline.ts';
import { fileItems } from '../reports/sources/files.ts';
import { openDataset } from '../reports/store/index.ts';
import type { UnpackLimits } from '../reports/unpack/index.ts';
import { usageError } from '../lib/errors.ts';
import type { Command, CommandContext, OptionSpec } from './command.ts';
import { DATA_OPTION, DOMAINS_OPTION, EXIT, JSON_OPTION, withDescription } from './command.ts';
import { loadValidDomains } from './load-valid.ts';
import type { Output } from './output.ts';
import { createProgress } from './progress.ts';

/** Options shared by `ingest` and `fetch`. */
export const RUN_OPTIONS: OptionSpec[] = [
  DATA_OPTION,
  withDescription(DOMAINS_OPTION, 'folder of domain files; reports for other domains are set aside as foreign'),
  withDescription(
    JSON_OPTION,
    'print one JSON summary: counts of reports, records, duplicates, foreign, invalid (with sources and reasons)',
  ),
  {
    name: 'offline',
    type: 'boolean',
    default: false,
    description: 'no network lookups: enrichment uses the offline ASN data and the PTR cache only',
  },
  { name: 'summary-file', type: 'string', value: 'file', description: 'also append a Markdown summary (e.g. "$GITHUB_STEP_SUMMARY")' },
  { name: 'max-payload-bytes', type: 'string', value: 'n', defaultText: '256 MiB', description: 'largest uncompressed attachment' },
  { name: 'max-ratio', type: 'string', value: 'n', defaultText: '200', description: 'largest compression ratio once past 1 MiB' },
  {
    name: 'quarantine-max-report-bytes',
    type: 'string',
    value: 'n',
    defaultText: '1 MiB; 0 keeps none',
    description: 'largest foreign report kept in <data>/quarantine/foreign/, gzipped; a bigger one gets its ledger row only',
  },
  {
    name: 'quarantine-max-run-bytes',
    type: 'string',
    value: 'n',
    defaultText: '4 MiB',
    description: 'most bytes one run may add to the quarantine',
  },
];

/** The dataset root when --data is not given, for the hints that print commands to paste. */
const DEFAULT_DATA = String(DATA_OPTION.default);

type Values = Record<string, string | boolean | (string | boolean)[] | undefined>;

/**
 * Where the originals of inputs that are not kept come from, for the summary's retry hint: files
 * stay where the user has them; fetched mail is filed in the mailbox's Invalid folder.
 */
export type InputOrigin = 'files' | 'mailbox';

/** Run the pipeline over items, with progress on a TTY, then print the summary. */
export async function runIngest(
  items: AsyncIterable<IngestItem>,
  values: Values,
  context: CommandContext,
  label: string,
  onItem?: (result: ItemResult) => void,
  walk: { origin: InputOrigin; skipped?: { source: string; reason: string }[] } = { origin: 'files' },
): Promise<IngestSummary> {
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
      quarantine: quarantineLimitsFrom(values),
      enricher,
      // `ingest --retry` only: fetch has no such option, so this stays false there.
      retrySeen: values.retry === true,
      onItem(result) {
        counts.items += 1;
        counts.reports += result.reports.length;
        counts.records += result.reports.reduce(
          (sum, report) => sum + (report.outcome === 'stored' && report.kind === 'aggregate' ? report.records : 0),
          0,
        );
        progress.update(counts);
        onItem?.(result);
      },
    });
    progress.done();
    if (walk.skipped !== undefined) summary.skipped = walk.skipped;
    if (values.json) output.out(JSON.stringify(summary, null, 2));
    else renderSummary(summary, dataRoot, output, enricher.warnings(), walk.origin);
    if (typeof values['summary-file'] === 'string') await appendFile(values['summary-file'], `${summaryMarkdown(summary, walk.origin)}\n`);
    return summary;
  } finally {
    progress.done();
    await dataset.close();
  }
}

/** A number option: positive (or also 0 with `zero`), else a usage error; undefined when not given. */
export function numberOption(values: Values, name: string, { zero = false } = {}): number | undefined {
  const raw = values[name];
  if (raw === undefined) return undefined;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0 || (value === 0 && !zero)) {
    throw usageError(`--${name} must be a ${zero ? 'non-negative' : 'positive'} number, not ${String(raw)}`);
  }
  return value;
}

function quarantineLimitsFrom(values: Values): Partial<QuarantineLimits> {
  const limits: Partial<QuarantineLimits> = {};
  const report = numberOption(values, 'quarantine-max-report-bytes', { zero: true });
  const run = numberOption(values, 'quarantine-max-run-bytes', { zero: true });
  if (report !== undefined) limits.maxReportBytes = report;
  if (run !== undefined) limits.maxRunBytes = run;
  return limits;
}

function limitsFrom(values: Values): Partial<UnpackLimits> {
  const limits: Partial<UnpackLimits> = {};
  const number = (name: string): number | undefined => numberOption(values, name);
  const maxPayloadBytes = number('max-payload-bytes');
  const maxRatio = number('max-ratio');
  if (maxPayloadBytes !== undefined) limits.maxPayloadBytes = maxPayloadBytes;
  if (maxRatio !== undefined) limits.maxRatio = maxRatio;
  return limits;
}

export function renderSummary(
  summary: IngestSummary,
  dataRoot: string,
  output: Output,
  warnings: string[] = [],
  origin: InputOrigin = 'files',
): void {
  const { reports, tls } = summary;
  output.out(`${output.style('bold', `run ${summary.runId}`)} → ${dataRoot}/`);
  output.out(
    `  inputs   ${summary.items}` +
      (summary.alreadyIngested ? ` (${summary.alreadyIngested} already ingested)` : '') +
      (summary.unsupported ? `, ${summary.unsupported} unsupported (failure reports)` : ''),
  );
  output.out(
    `  reports  ${output.style('green', `${reports.stored} new`)} · ${reports.duplicate} duplicate · ${reports.foreign} foreign · ` +
      (reports.invalid ? output.style('red', `${reports.invalid} invalid`) : '0 invalid'),
  );
  output.out(`  records  ${summary.records.toLocaleString('en-US')}`);
  if (hasTls(summary)) {
    output.out(
      `  tls      ${output.style('green', `${tls.stored} new`)} · ${tls.duplicate} duplicate · ${tls.foreign} foreign · ` +
        `${tls.invalid ? output.style('red', `${tls.invalid} invalid`) : '0 invalid'} · ${tls.rows.toLocaleString('en-US')} rows`,
    );
  }
  if (summary.enrichment) {
    const { lookups, cacheHits, failures, unconfirmed, cachePruned } = summary.enrichment;
    const dropped = unconfirmed > 0 ? `, ${unconfirmed} not forward-confirmed (no name)` : '';
    output.out(
      `  lookups  ${lookups} PTR, ${cacheHits} cached, ${failures} failed${dropped}${cachePruned > 0 ? `; ${cachePruned} stale cache entries pruned` : ''}`,
    );
  }
  // Reasons usually start with the input's own name; print it once.
  for (const { source, reason } of summary.invalid)
    output.out(
      `  ${output.style('red', 'invalid')}  ${printable(reason.startsWith(source.split(' › ')[0] ?? source) ? reason : `${source}: ${reason}`)}`,
    );
  for (const { source, policyDomain, kind } of summary.foreign) {
    const what = kind === 'tls' ? `TLS report for ${policyDomain || '(no policy domain)'}` : `policy domain ${policyDomain || '(empty)'}`;
    output.out(`  ${output.style('yellow', 'foreign')}  ${printable(`${source}: ${what} is not in domains/`)}`);
  }
  for (const { source, reason } of summary.skipped ?? [])
    output.out(`  ${output.style('yellow', 'skipped')}  ${printable(`${source}: ${reason}`)}`);
  for (const warning of warnings) output.out(`  ${output.style('yellow', 'note')}     ${printable(warning)}`);
  for (const line of retryHints(summary, dataRoot, origin)) output.out(`  (${line})`);
}

/** True when the run saw TLS reports, or earlier ones wait to be read again: the summary gives them a line. */
function hasTls(summary: IngestSummary): boolean {
  const { stored, duplicate, foreign, invalid, earlierUnsupported } = summary.tls;
  return stored + duplicate + foreign + invalid + earlierUnsupported > 0;
}

/**
 * What the run set aside, where it is, and how to read it again: foreign reports from the
 * quarantine once their domain is added; inputs that are not kept (invalid, unsupported) from
 * where they came from, once dmarcops reads them; TLS reports an earlier dmarcops set aside as
 * unsupported from the mailbox's Invalid folder or the files.
 */
function retryHints(summary: IngestSummary, dataRoot: string, origin: InputOrigin): string[] {
  const hints: string[] = [];
  const foreign = summary.reports.foreign + summary.tls.foreign;
  const invalid = summary.reports.invalid + summary.tls.invalid;
  const { notKept } = summary.quarantine;
  if (foreign > 0) {
    const kept = foreign - notKept;
    const where =
      notKept === 0
        ? `kept in ${dataRoot}/quarantine/foreign/`
        : `${kept} kept in ${dataRoot}/quarantine/foreign/, ${notKept} over the quarantine caps (ledger row only; ` +
          `the original is ${origin === 'files' ? 'your file' : 'in the Invalid folder'})`;
    hints.push(`foreign reports ${where}; after adding the domain: ${retryCommand(dataRoot)}`);
  }
  if (invalid + summary.unsupported > 0) {
    const originals =
      origin === 'files'
        ? 'the files stay where they are'
        : "the messages go to the mailbox's Invalid folder (save them as .eml or mbox files to read them again)";
    hints.push(
      `invalid and unsupported inputs are not kept in ${dataRoot}/, only their ledger rows: ${originals}; ` +
        `after upgrading dmarcops: dmarcops ingest --retry <files>${dataRoot === DEFAULT_DATA ? '' : ` --data ${shellQuote(dataRoot)}`}`,
    );
  }
  if (summary.tls.earlierUnsupported > 0) hints.push(earlierUnsupportedHint(summary.tls.earlierUnsupported, dataRoot));
  return hints;
}

/** How to read the TLS reports an earlier dmarcops set aside as unsupported (their ledger rows say which). */
function earlierUnsupportedHint(count: number, dataRoot: string): string {
  const data = dataRoot === DEFAULT_DATA ? '' : ` --data ${shellQuote(dataRoot)}`;
  const reports = count === 1 ? '1 TLS report' : `${count} TLS reports`;
  return (
    `${reports} that an earlier dmarcops set aside as unsupported ${count === 1 ? 'waits' : 'wait'} to be read: ` +
    `dmarcops fetch --retry-unsupported${data} reads ${count === 1 ? 'it' : 'them'} from the mailbox's Invalid folder; ` +
    `files: dmarcops ingest <files>${data} (see dmarcops ledger --kind tls --outcome unsupported)`
  );
}

/** The command that reads a dataset's quarantine again, ready to paste. */
function retryCommand(dataRoot: string): string {
  const data = dataRoot === DEFAULT_DATA ? '' : ` --data ${shellQuote(dataRoot)}`;
  return `dmarcops ingest --retry ${shellQuote(`${dataRoot}/quarantine`)}${data}`;
}

export function summaryMarkdown(summary: IngestSummary, origin: InputOrigin = 'files'): string {
  const { reports, tls } = summary;
  const lines = [
    `### dmarcops ingest ${escapeMarkdown(summary.runId)}`,
    '',
    markdownTable(
      ['inputs', 'new reports', 'duplicates', 'foreign', 'invalid', 'records'],
      [
        [
          String(summary.items),
          String(reports.stored),
          String(reports.duplicate),
          String(reports.foreign),
          String(reports.invalid),
          String(summary.records),
        ],
      ],
    ),
  ];
  if (hasTls(summary)) {
    lines.push(
      '',
      markdownTable(
        ['TLS reports: new', 'duplicates', 'foreign', 'invalid', 'rows'],
        [[String(tls.stored), String(tls.duplicate), String(tls.foreign), String(tls.invalid), String(tls.rows)]],
      ),
    );
  }
  const kindColumn = (kind: string): string => (kind === 'tls' ? 'TLS' : 'DMARC');
  if (summary.invalid.length > 0)
    lines.push(
      '',
      '**Invalid inputs** (not kept: ledger row only)',
      '',
      markdownTable(
        ['source', 'report', 'reason'],
        summary.invalid.map(({ source, reason, kind }) => [escapeMarkdown(source), kindColumn(kind), escapeMarkdown(reason)]),
      ),
    );
  if (summary.foreign.length > 0)
    lines.push(
      '',
      '**Foreign reports** (policy domain not in `domains/`)',
      '',
      markdownTable(
        ['source', 'report', 'policy domain'],
        summary.foreign.map(({ source, policyDomain, kind }) => [escapeMarkdown(source), kindColumn(kind), escapeMarkdown(policyDomain)]),
      ),
    );
  if (summary.foreign.length > 0)
    lines.push(
      '',
      'Foreign reports are kept in `reports/quarantine/foreign/`' +
        (summary.quarantine.notKept > 0 ? ` (${summary.quarantine.notKept} over the quarantine caps: ledger row only)` : '') +
        ': after adding the domain, `dmarcops ingest --retry reports/quarantine` reads them again.',
    );
  if (summary.invalid.length > 0 || summary.unsupported > 0) {
    const originals = origin === 'files' ? 'the original files' : "the messages in the mailbox's Invalid folder (saved as .eml or mbox)";
    lines.push(
      '',
      'Invalid and unsupported inputs are not kept in the repository, only their ledger rows; ' +
        `after upgrading dmarcops, \`dmarcops ingest --retry\` ${originals}.`,
    );
  }
  if (tls.earlierUnsupported > 0) {
    lines.push(
      '',
      `${tls.earlierUnsupported} TLS report${tls.earlierUnsupported === 1 ? '' : 's'} set aside as unsupported by an earlier dmarcops: ` +
        "`dmarcops fetch --retry-unsupported` reads them from the mailbox's Invalid folder (files: `dmarcops ingest <files>`).",
    );
  }
  return lines.join('\n');
}

export const ingestCommand: Command = {
  name: 'ingest',
  summary: 'ingest report files, mailboxes and folders into the Parquet dataset',
  arguments: [
    {
      name: 'paths…',
      description:
        'report files (.xml, .json, .gz, .zip, .eml: DMARC aggregate or SMTP TLS reports, detected by content, not by name), mbox files, ' +
        'Maildir folders, or folders to walk',
    },
  ],
  description: [
    'Each path may be a report, an mbox file, a Maildir folder, or a folder to walk (symbolic links inside are skipped, ' +
      'never followed). DMARC aggregate reports go to <data>/records/, SMTP TLS reports (RFC 8460 JSON, ' +
      'plain or gzip) to <data>/tls/. Reports already stored are recognised and not stored again. ' +
      'Foreign reports (not for a domain in domains/) are kept in <data>/quarantine/foreign/ within the caps below; ' +
      'inputs that hold no usable report get a ledger row (hash, size, Message-ID, subject without addresses, reason) ' +
      'and nothing else: their content is not kept. An input whose bytes a run has seen is skipped (already ingested), ' +
      'unless --retry; TLS reports an earlier dmarcops set aside as unsupported are read again without it.',
  ],
  options: [
    {
      name: 'retry',
      type: 'boolean',
      default: false,
      description:
        'read inputs again even when a run has seen them: after adding a domain file (foreign reports become ours) or upgrading dmarcops (a parser fix), ' +
        'e.g. `dmarcops ingest --retry reports/quarantine` (foreign reports), or the original files. Reports already stored stay duplicates ' +
        '(nothing is doubled) and the quarantined files stay where they are.',
    },
    // --retry is ingest's own: fetch shares RUN_OPTIONS and has nothing to retry (the mailbox moves on).
    ...RUN_OPTIONS,
  ],
  examples: [
    { command: 'dmarcops ingest ~/Downloads/reports/', description: 'a folder of report files and saved mail' },
    {
      command: 'dmarcops ingest --retry reports/quarantine',
      description: 'after adding a domain file: read the foreign reports kept for it',
    },
  ],
  exit: { 0: 'the run committed (invalid inputs are reported, not fatal)', 1: 'error' },
  async run(values, paths, context) {
    if (paths.length === 0) throw usageError('give one or more files or folders to ingest');
    const skipped: { source: string; reason: string }[] = [];
    const items = fileItems(paths, { onSkip: (source, reason) => skipped.push({ source, reason }) });
    await runIngest(items, values, context, 'ingest', undefined, { origin: 'files', skipped });
    return EXIT.ok;
  },
};
