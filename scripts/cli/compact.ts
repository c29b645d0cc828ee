import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { openDataset } from '../reports/store/index.ts';
import type { Command } from './command.ts';
import { CliError, EXIT, JSON_OPTION } from './command.ts';

export const compactCommand: Command = {
  name: 'compact',
  summary: 'merge the part files of a month (or every month) into one, crash-safely',
  usage: 'dmarcops compact [YYYY-MM…] [--data <dir>] [--json]',
  help: [
    'Each ingest run adds one immutable part file per month. Compaction merges a month\'s parts into one file;',
    'rows, dedupe and provenance stay exactly as they were. Without a month, every month with two or more parts.',
    '',
    'options:',
    '  --data <dir>  dataset root (default: reports)',
    '  --json        the results as JSON',
  ].join('\n'),
  options: { ...JSON_OPTION, data: { type: 'string', default: 'reports' } },
  allowPositionals: true,
  async run(values, months, { output }) {
    for (const month of months) if (!/^\d{4}-\d{2}$/.test(month)) throw new CliError(`months are written YYYY-MM, not ${month}`, EXIT.usage);
    const root = String(values.data);
    const targets = months.length > 0 ? months : await allMonths(root);
    const dataset = await openDataset({ root });
    try {
      const results = [];
      for (const month of targets) results.push(await dataset.compact(month));
      if (values.json) output.out(JSON.stringify(results, null, 2));
      else for (const result of results) output.out(result.compacted ? `month=${result.month}: ${result.inputs.length} files → 1 (${result.rows.toLocaleString('en-US')} rows, ${kib(result.bytesBefore)} → ${kib(result.bytesAfter)})` : `month=${result.month}: nothing to merge`);
    } finally {
      await dataset.close();
    }
    return EXIT.ok;
  },
};

async function allMonths(root: string): Promise<string[]> {
  const names = await readdir(join(root, 'records')).catch(() => []);
  return names.filter((name) => name.startsWith('month=')).map((name) => name.slice('month='.length)).sort();
}

function kib(bytes: number): string {
  return `${Math.round(bytes / 1024).toLocaleString('en-US')} KiB`;
}
