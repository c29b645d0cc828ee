import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { UNKNOWN_MONTH, openDataset } from '../reports/store/index.ts';
import type { CompactResult, Table } from '../reports/store/index.ts';
import type { Command } from './command.ts';
import { usageError } from '../lib/errors.ts';
import { DATA_OPTION, EXIT, JSON_OPTION, withDescription } from './command.ts';

export const compactCommand: Command = {
  name: 'compact',
  summary: 'merge the part files of a month (or every month) into one, crash-safely (records/ and tls/)',
  arguments: [
    { name: 'YYYY-MM… | unknown', optional: true, description: 'the months to merge (default: every month with two or more parts)' },
  ],
  description: [
    "Each ingest run adds one immutable part file per month, in records/ (DMARC) and in tls/ (TLS reports). Compaction merges a month's parts of " +
      'each into one file; rows, dedupe and provenance stay exactly as they were. Without a month, every month with two or more parts.',
    'In a git repository every compaction adds the merged file to the history (the parts stay in it too), so the scheduled workflow compacts only ' +
      'closed months, once: --closed.',
    'month=unknown holds reports with implausible dates (see docs/dataset.md); it is never closed, so --closed leaves it alone; ' +
      '`dmarcops compact unknown` merges it.',
  ],
  options: [
    {
      name: 'closed',
      type: 'boolean',
      default: false,
      description: 'only months that ended more than --grace-days ago (late reports may still come before)',
    },
    { name: 'grace-days', type: 'string', value: 'n', default: '7', description: "days after a month's end before it counts as closed" },
    DATA_OPTION,
    withDescription(JSON_OPTION, 'the results as JSON'),
  ],
  exit: { 0: 'merged, or nothing to merge', 1: 'error' },
  async run(values, months, { output }) {
    for (const month of months)
      if (!/^\d{4}-\d{2}$/.test(month) && month !== UNKNOWN_MONTH)
        throw usageError(`months are written YYYY-MM (or ${UNKNOWN_MONTH}), not ${month}`);
    const graceDays = Number(values['grace-days']);
    if (!Number.isInteger(graceDays) || graceDays < 0)
      throw usageError(`--grace-days must be a whole number of days, not ${String(values['grace-days'])}`);
    const root = String(values.data);
    const closed = (month: string): boolean => values.closed !== true || isClosed(month, new Date(), graceDays);
    const dataset = await openDataset({ root });
    try {
      const results: CompactResult[] = [];
      for (const table of TABLES) {
        // A month named on the command line is answered for records/; for tls/ only where it exists.
        const present = await allMonths(root, table);
        const candidates = months.length === 0 ? present : table === 'records' ? months : months.filter((month) => present.includes(month));
        for (const month of candidates.filter(closed)) results.push(await dataset.compact(month, table));
      }
      if (values.json) output.out(JSON.stringify(results, null, 2));
      else {
        // Months asked for by name are all answered; a sweep over every month names only what it merged.
        const shown = months.length > 0 ? results : results.filter((result) => result.compacted);
        for (const result of shown) {
          const where = `${result.table === 'tls' ? 'tls/' : ''}month=${result.month}`;
          output.out(
            result.compacted
              ? `${where}: ${result.inputs.length} files → 1 (${result.rows.toLocaleString('en-US')} ` +
                  `rows, ${kib(result.bytesBefore)} → ${kib(result.bytesAfter)})`
              : `${where}: nothing to merge`,
          );
        }
        if (shown.length === 0) output.out(values.closed === true ? 'nothing to merge in closed months' : 'nothing to merge');
      }
    } finally {
      await dataset.close();
    }
    return EXIT.ok;
  },
};

/** A month is closed once `graceDays` full days have passed since its last day (UTC). `unknown` never is. */
export function isClosed(month: string, now: Date, graceDays: number): boolean {
  if (month === UNKNOWN_MONTH) return false;
  const [year, monthNumber] = month.split('-').map(Number) as [number, number];
  const nextMonthStart = Date.UTC(year, monthNumber, 1); // months are 0-based in Date.UTC: this is the 1st of the next month
  return nextMonthStart + graceDays * 86_400_000 <= now.getTime();
}

const TABLES: readonly Table[] = ['records', 'tls'];

async function allMonths(root: string, table: Table): Promise<string[]> {
  const names = await readdir(join(root, table)).catch(() => []);
  return names
    .filter((name) => name.startsWith('month='))
    .map((name) => name.slice('month='.length))
    .sort();
}

function kib(bytes: number): string {
  return `${Math.round(bytes / 1024).toLocaleString('en-US')} KiB`;
}
