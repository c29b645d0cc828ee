import { migrateQuarantine } from '../reports/migrate.ts';
import type { MigrationResult } from '../reports/migrate.ts';
import type { Command } from './command.ts';
import { DATA_OPTION, EXIT, JSON_OPTION, withDescription } from './command.ts';
import { numberOption } from './ingest.ts';
import type { Output } from './output.ts';
import { printable } from '../lib/escape.ts';

export const migrateQuarantineCommand: Command = {
  name: 'migrate-quarantine',
  summary: 'remove what earlier versions kept of inputs that are not reports (one-time, idempotent)',
  description: [
    'Earlier versions kept the raw bytes of invalid and unsupported inputs in <data>/quarantine/ (mail from anyone: bounces, personal mail), ' +
      'foreign reports with the mail that carried them, and subjects with e-mail addresses in the ledger. This brings the dataset to what is kept now: ' +
      'removes quarantine/invalid/ and quarantine/unsupported/, keeps each foreign report as its XML alone (gzipped, within the cap), records a ledger row ' +
      'for every file it removes or rewrites (hash, size, Message-ID, subject without addresses, reason) before removing it, and rewrites ledger parts ' +
      'without addresses in subjects and reasons. Crash-safe; a second run does nothing.',
    'Git history still holds the removed files: docs/dataset.md says how to purge it (git filter-repo).',
  ],
  options: [
    DATA_OPTION,
    { name: 'dry-run', type: 'boolean', default: false, description: 'say what would change, change nothing' },
    {
      name: 'quarantine-max-report-bytes',
      type: 'string',
      value: 'n',
      defaultText: '1 MiB',
      description: 'largest foreign report kept, gzipped; bigger ones are removed',
    },
    withDescription(JSON_OPTION, 'the result as JSON'),
  ],
  exit: { 0: 'migrated, or nothing to migrate', 1: 'error' },
  async run(values, _positionals, { output }) {
    const maxReportBytes = numberOption(values, 'quarantine-max-report-bytes', { zero: true });
    const root = String(values.data);
    const result = await migrateQuarantine({
      root,
      dryRun: values['dry-run'] === true,
      limits: maxReportBytes === undefined ? {} : { maxReportBytes },
    });
    if (values.json) output.out(JSON.stringify(result, null, 2));
    else render(result, root, output);
    return EXIT.ok;
  },
};

function render(result: MigrationResult, root: string, output: Output): void {
  const { files, scrubbed } = result;
  const changed = files.filter((file) => file.action !== 'kept' || file.ledgerRow);
  if (changed.length === 0 && scrubbed.parts.length === 0) {
    output.out(`nothing to migrate in ${root}/`);
    return;
  }
  output.out(`${output.style('bold', result.dryRun ? 'migrate-quarantine (dry run: nothing changed)' : 'migrate-quarantine')} → ${root}/`);
  const ledgerNote = result.dryRun ? ' (ledger row to add)' : ' (ledger row added)';
  for (const file of changed)
    output.out(`  ${file.action.padEnd(9)} ${printable(`${file.path}: ${file.note}${file.ledgerRow ? ledgerNote : ''}`)}`);
  const count = (action: string): number => files.filter((file) => file.action === action).length;
  output.out(`  files    ${count('removed')} removed · ${count('rewritten')} rewritten as their report · ${count('kept')} kept`);
  output.out(
    `  ledger   ${result.ledgerRows} row${result.ledgerRows === 1 ? '' : 's'} added${result.runId ? ` (run ${result.runId})` : ''} ` +
      `· ${scrubbed.parts.length} part${scrubbed.parts.length === 1 ? '' : 's'} ` +
      `cleaned (${scrubbed.rows} rows: addresses and quoted content removed)`,
  );
  if (!result.dryRun && count('removed') + count('rewritten') + scrubbed.parts.length > 0) {
    output.out('  (git history still holds the old files and ledger parts: see docs/dataset.md, "Migrating a quarantine", to purge it)');
  }
}
