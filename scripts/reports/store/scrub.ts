/**
 * Rewrites committed ledger parts written before subjects and reasons were cleaned (privacy.ts):
 * e-mail addresses become `[address]`, control characters and runs of spaces single spaces, and
 * reasons lose the content they used to quote (`starts with "…"`, from the old unpack messages).
 * Used by `dmarcops migrate-quarantine`; the caller holds the writer lock.
 *
 * Crash-safe: a part is rewritten to `ledger/.run-<id>.parquet.tmp`, its row count checked, fsynced
 * and renamed over the original (atomic: readers see the old part or the new one, never a mix, and
 * a run's ledger part exists throughout, so it stays committed). recover() removes a temp file left
 * by a crash. Idempotent: the SQL cleans text to a fixed point, and parts with nothing to clean are
 * not touched. Only `subject` and `reason` change; the row count, order and every other column stay.
 */
import { renameSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { MAX_HEADER_CHARS, MAX_REASON_CHARS } from '../privacy.ts';
import type { Duck } from './duck.ts';
import { fsyncDir, fsyncFile, removeFile } from './fsx.ts';
import { committedLedgerFiles, sqlString, tmpName } from './layout.ts';
import { parquetOptions } from './staging.ts';

/**
 * The SQL twin of privacy.ts `ledgerText` (RE2 syntax): same address pattern, same control
 * characters, same cap. Applying it to text `ledgerText` wrote changes nothing.
 */
const ADDRESS_RE2 = `[^\\s<>()\\[\\]\\\\,;:"'@]+@[^\\s<>()\\[\\]\\\\,;:"'@]+`;
const CONTROL_RE2 = '[\\x{00}-\\x{1f}\\x{7f}-\\x{9f}]+';
/** What the old `describe()` quoted: `starts with "…"` (JSON string, maybe followed by an ellipsis). */
const QUOTED_START_RE2 = 'starts with "(?:[^"\\\\]|\\\\.)*"…?';
const QUOTED_START = /starts with "(?:[^"\\]|\\.)*"…?/g;

/** A reason written by an earlier dmarcops without the content its unpack messages quoted. */
export function withoutQuotedContent(reason: string): string {
  return reason.replace(QUOTED_START, 'starts with text');
}

const MACROS = [
  `CREATE OR REPLACE TEMP MACRO dmarcops_squash(x) AS
     trim(regexp_replace(
       regexp_replace(regexp_replace(x, ${sqlString(ADDRESS_RE2)}, '[address]', 'g'), ${sqlString(CONTROL_RE2)}, ' ', 'g'),
       ' {2,}', ' ', 'g'))`,
  `CREATE OR REPLACE TEMP MACRO dmarcops_clean(x, max) AS
     CASE WHEN dmarcops_squash(x) = '' THEN NULL
          WHEN length(dmarcops_squash(x)) <= max THEN dmarcops_squash(x)
          ELSE left(dmarcops_squash(x), max - 1) || '…' END`,
  `CREATE OR REPLACE TEMP MACRO dmarcops_clean_reason(x) AS
     dmarcops_clean(regexp_replace(x, ${sqlString(QUOTED_START_RE2)}, 'starts with text', 'g'), ${MAX_REASON_CHARS})`,
];

/** Steps of a part's rewrite (tests crash the process there): the temp file durable, then renamed over the part. */
export type ScrubStep = 'scrub:written' | 'scrub:renamed';

export interface ScrubResult {
  /** Ledger parts rewritten (or, in a dry run, that would be), relative to the dataset root's ledger/. */
  parts: string[];
  /** Rows whose subject or reason changed. */
  rows: number;
}

/** Cleans the subject and reason of every committed ledger part that needs it. */
export async function scrubLedgerParts(
  root: string,
  duck: Duck,
  { dryRun = false, onStep }: { dryRun?: boolean; onStep?: (step: ScrubStep, detail: string) => void | Promise<void> } = {},
): Promise<ScrubResult> {
  for (const macro of MACROS) await duck.run(macro);
  const result: ScrubResult = { parts: [], rows: 0 };
  for (const part of committedLedgerFiles(root)) {
    const source = `read_parquet(${sqlString(part)}, hive_partitioning = false)`;
    const columns = new Set((await duck.rows<{ column_name: string }>(`DESCRIBE SELECT * FROM ${source}`)).map((row) => row.column_name));
    const subject = columns.has('subject') ? `dmarcops_clean(subject, ${MAX_HEADER_CHARS})` : null;
    const reason = columns.has('reason') ? 'dmarcops_clean_reason(reason)' : null;
    const changes = [
      subject === null ? null : `subject IS DISTINCT FROM ${subject}`,
      reason === null ? null : `reason IS DISTINCT FROM ${reason}`,
    ].filter((c) => c !== null);
    if (changes.length === 0) continue;
    const [counted] = await duck.rows<{ n: number; total: number }>(
      `SELECT (count(*) FILTER (WHERE ${changes.join(' OR ')}))::INTEGER AS n, count(*)::INTEGER AS total FROM ${source}`,
    );
    const dirty = counted?.n ?? 0;
    if (dirty === 0) continue;
    result.parts.push(basename(part));
    result.rows += dirty;
    if (dryRun) continue;
    const replaced = [subject === null ? null : `${subject} AS subject`, reason === null ? null : `${reason} AS reason`].filter(
      (c) => c !== null,
    );
    const tmp = join(dirname(part), tmpName(basename(part)));
    try {
      const order = columns.has('seq') ? 'ORDER BY seq' : '';
      await duck.run(
        `COPY (SELECT * REPLACE (${replaced.join(', ')}) FROM ${source} ${order}) TO ${sqlString(tmp)} ${parquetOptions({ rowGroupSize: 122_880 })}`,
      );
      const [written] = await duck.rows<{ n: number }>(
        `SELECT count(*)::INTEGER AS n FROM read_parquet(${sqlString(tmp)}, hive_partitioning = false)`,
      );
      if (written?.n !== counted?.total) throw new Error(`${tmp}: wrote ${written?.n} rows, expected ${counted?.total}`);
      fsyncFile(tmp);
      await onStep?.('scrub:written', basename(part));
      renameSync(tmp, part);
      fsyncDir(dirname(part));
      await onStep?.('scrub:renamed', basename(part));
    } catch (error) {
      removeFile(tmp);
      throw error;
    }
  }
  return result;
}
