/**
 * `dmarcops migrate-quarantine`: brings a quarantine written by an earlier dmarcops to what the
 * dataset keeps now (docs/dataset.md, Quarantine). Earlier versions kept the raw bytes of invalid
 * inputs (`quarantine/invalid/`), of some unsupported ones (`quarantine/unsupported/`) and foreign
 * reports with the mail that carried them; ledger rows kept subjects with addresses in them.
 *
 *   1. Every file in `quarantine/invalid/` and `quarantine/unsupported/` is to be removed (TLS
 *      reports an earlier dmarcops set aside there included: their ledger rows say so, and the
 *      originals are read again from the mailbox or the files). Each foreign file is kept as it is
 *      when it already is a report's XML (a TLS report's JSON), gzipped, named by its hash and within
 *      the cap; otherwise its reports are extracted and kept like that (within the cap) and the file
 *      is to be removed.
 *   2. One migration run records a ledger row for each file removed or rewritten (outcome as its
 *      folder, the original input's sha256 and size, Message-ID and subject when it is a mail, the
 *      earlier reason, and what the migration did), unless the committed ledger has a row with the
 *      new fields for that input already (a crashed earlier migration, or an ingest since the
 *      upgrade). Kept reports that no ledger row points at (left by a run that died) get one too.
 *      The run's ledger part is the commit point.
 *   3. Only then are the files removed.
 *   4. Committed ledger parts whose subjects or reasons hold addresses or quoted content are
 *      rewritten without them (store/scrub.ts).
 *
 * Crash-safe: before 2's commit nothing is lost (extracted reports are content-addressed and kept
 * again by the next attempt); after it, the next attempt finds the rows and only removes files. A
 * ledger part is rewritten atomically. Idempotent: a second migration finds nothing to do.
 */
import { createHash, randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { QuarantineLimits } from './pipeline.ts';
import { DEFAULT_QUARANTINE_LIMITS } from './pipeline.ts';
import { openDuck } from './store/duck.ts';
import type { Duck } from './store/duck.ts';
import { fsyncDir, removeEmptyDir, removeFile } from './store/fsx.ts';
import type { InputKind, LedgerEntry, ProtocolStep, RunWriter } from './store/index.ts';
import { committedLedgerFiles, openDataset } from './store/index.ts';
import { QUARANTINE_DIR, sqlList } from './store/layout.ts';
import { scrubLedgerParts, withoutQuotedContent } from './store/scrub.ts';
import type { ScrubResult, ScrubStep } from './store/scrub.ts';
import { unpackBytes } from './unpack/index.ts';
import { formatBytes } from '../lib/text.ts';

/** What happens to one file of the old quarantine. */
export interface MigratedFile {
  /** Relative to the dataset root. */
  path: string;
  outcome: 'invalid' | 'unsupported' | 'foreign';
  action: 'removed' | 'kept' | 'rewritten';
  /** For `rewritten`: the reports kept in its place (relative paths); for `kept`, the file itself. */
  keptAs: string[];
  /** Why, in a few words (also the ledger row's `migrated: …` note). */
  note: string;
  /** Whether a ledger row is (or would be) added for it. */
  ledgerRow: boolean;
}

export interface MigrationResult {
  dryRun: boolean;
  files: MigratedFile[];
  /** The migration's run id, when it committed ledger rows. */
  runId: string | null;
  ledgerRows: number;
  scrubbed: ScrubResult;
}

export interface MigrationOptions {
  root: string;
  dryRun?: boolean;
  /** The cap per kept report (gzipped XML); the run budget does not apply (nothing new comes in). */
  limits?: Partial<Pick<QuarantineLimits, 'maxReportBytes'>>;
  now?: () => Date;
  /** Called after each durable step (the store's, `migrate:kept`, `migrate:removed`, the scrub's); tests crash the process here. */
  onStep?: (step: ProtocolStep | MigrationStep, detail: string) => void | Promise<void>;
}

/** The migration's own steps, after the store's: a report kept, an old file removed, a ledger part cleaned. */
export type MigrationStep = 'migrate:kept' | 'migrate:removed' | ScrubStep;

const OLD_FOLDERS = ['invalid', 'unsupported', 'foreign'] as const;
type Folder = (typeof OLD_FOLDERS)[number];

/** What the committed ledger says about a quarantined file or input. */
interface LedgerFacts {
  /** quarantine_path → the earlier row's fields (the latest one). */
  byPath: Map<
    string,
    {
      kind: string | null;
      reason: string | null;
      messageId: string | null;
      subject: string | null;
      sourceName: string | null;
      sourceRef: string;
    }
  >;
  /** source_ref of inputs that have a row with the new fields (source_bytes) already. */
  recorded: Set<string>;
}

export async function migrateQuarantine(options: MigrationOptions): Promise<MigrationResult> {
  const root = options.root;
  const dryRun = options.dryRun ?? false;
  const maxReportBytes = options.limits?.maxReportBytes ?? DEFAULT_QUARANTINE_LIMITS.maxReportBytes;
  const now = options.now ?? (() => new Date());
  const step = async (name: ProtocolStep | MigrationStep, detail: string): Promise<void> => void (await options.onStep?.(name, detail));
  const dataset = await openDataset({ root, onStep: step });
  const duck = await openDuck();
  try {
    const facts = await ledgerFacts(root, duck);
    const files: MigratedFile[] = [];
    const entries: LedgerEntry[] = [];
    const removals: string[] = [];
    const runId = `migrate-${now()
      .toISOString()
      .replace(/[-:]/g, '')
      .replace(/\.\d+Z$/, 'Z')}-${randomUUID().slice(0, 8)}`;
    const run = dryRun ? undefined : await dataset.beginRun({ runId, ingestedAt: now() });
    try {
      const planned: { plan: MigratedFile; entries: LedgerEntry[] }[] = [];
      for (const folder of OLD_FOLDERS) {
        for (const name of listFiles(join(root, QUARANTINE_DIR, folder))) {
          const rel = `${QUARANTINE_DIR}/${folder}/${name}`;
          const file = await planFile(root, rel, folder, name, facts, maxReportBytes, run);
          if (file.plan.action === 'rewritten' && !dryRun) await step('migrate:kept', rel);
          planned.push(file);
        }
      }
      // A kept report without a ledger row may be one this migration (or a crashed attempt at it)
      // extracted from an old file: that file's row points at it.
      const extracted = new Set(planned.flatMap(({ plan }) => (plan.action === 'rewritten' ? plan.keptAs : [])));
      for (const file of planned) {
        if (file.plan.action === 'kept' && extracted.has(file.plan.path)) file.entries = [];
        file.plan.ledgerRow = file.entries.length > 0;
        if (file.plan.action === 'kept' && !file.plan.ledgerRow) file.plan.note = 'kept as it is';
        files.push(file.plan);
        if (file.plan.action !== 'kept') removals.push(join(root, file.plan.path));
        entries.push(...file.entries);
      }
      for (const entry of entries) run?.addLedgerEntry(entry);
      // The commit point: from here on each removed file has its ledger row.
      if (run !== undefined) await run.commit();
    } catch (error) {
      await run?.abort();
      throw error;
    }
    if (!dryRun) {
      for (const path of removals) {
        removeFile(path);
        fsyncDir(dirname(path));
        await step('migrate:removed', path);
      }
      for (const folder of OLD_FOLDERS) {
        const dir = join(root, QUARANTINE_DIR, folder);
        // The old folders go once empty; foreign/ stays (ingest writes there).
        if (folder !== 'foreign' && listFiles(dir).length === 0) removeEmptyDir(dir);
      }
    }
    const scrubbed = await scrubLedgerParts(root, duck, { dryRun, onStep: step });
    return { dryRun, files, runId: !dryRun && entries.length > 0 ? runId : null, ledgerRows: entries.length, scrubbed };
  } finally {
    duck.close();
    await dataset.close();
  }
}

/** What to do with one file, and its ledger rows (none when the ledger has the new fields for it already). */
async function planFile(
  root: string,
  rel: string,
  folder: Folder,
  name: string,
  facts: LedgerFacts,
  maxReportBytes: number,
  run: RunWriter | undefined,
): Promise<{ plan: MigratedFile; entries: LedgerEntry[] }> {
  const stored = readFileSync(join(root, rel));
  const original = originalBytes(name, stored);
  const sourceRef = `sha256:${sha256(original)}`;
  const earlier = facts.byPath.get(rel);
  const needsRow = !facts.recorded.has(sourceRef);
  const unpacked = await unpackBytes(original, name);
  const earlierReason =
    earlier?.reason === null || earlier?.reason === undefined
      ? `kept in ${QUARANTINE_DIR}/${folder}/ by an earlier dmarcops`
      : withoutQuotedContent(earlier.reason);
  const entry = (outcome: Folder, note: string, quarantinePath?: string): LedgerEntry => ({
    sourceRef,
    sourceBytes: original.length,
    sourceName: earlier?.sourceName ?? rel,
    messageId: unpacked.mail?.messageId ?? earlier?.messageId ?? null,
    subject: unpacked.mail?.subject ?? earlier?.subject ?? null,
    kind: inputKind(earlier?.kind, folder === 'foreign' ? (unpacked.kind === 'tls' ? 'tls' : 'aggregate') : unpacked.kind),
    outcome,
    reason: `${earlierReason}; migrated: ${note}`,
    ...(quarantinePath === undefined ? {} : { quarantinePath: join(root, quarantinePath) }),
  });

  if (folder !== 'foreign') {
    const note = `raw input removed from ${QUARANTINE_DIR}/${folder}/ (only the ledger row is kept)`;
    return {
      plan: { path: rel, outcome: folder, action: 'removed', keptAs: [], note, ledgerRow: needsRow },
      entries: needsRow ? [entry(folder, note)] : [],
    };
  }

  // Already what ingest keeps now: one report's XML (a TLS report's JSON), gzipped, named by its hash.
  const [only] = unpacked.payloads;
  const isReportFile =
    name === `${sha256(original)}.${only?.kind === 'tls' ? 'json' : 'xml'}.gz` && unpacked.payloads.length === 1 && stored !== original;
  if (isReportFile && stored.length <= maxReportBytes) {
    // A kept report no ledger row points at (its run died before committing) gets one.
    const orphan = earlier === undefined && !facts.recorded.has(sourceRef);
    const note = 'kept report without a ledger row, recorded';
    return {
      plan: { path: rel, outcome: 'foreign', action: 'kept', keptAs: [rel], note: orphan ? note : 'kept as it is', ledgerRow: orphan },
      entries: orphan ? [entry('foreign', note, rel)] : [],
    };
  }
  const keptAs: string[] = [];
  let overCap = 0;
  for (const payload of isReportFile ? [] : unpacked.payloads) {
    if (run === undefined) {
      // Dry run: how big would it be? (gzip it in memory; quarantined reports are small.)
      keptAs.push(`${QUARANTINE_DIR}/foreign/(report ${payload.name})`);
      continue;
    }
    const result = await run.keepReport(
      payload.open(),
      { maxBytes: maxReportBytes, maxNewBytes: Number.MAX_SAFE_INTEGER },
      payload.kind === 'tls' ? 'json' : 'xml',
    );
    if (result.kept) keptAs.push(relativeTo(root, result.path));
    else overCap++;
  }
  const action = keptAs.length > 0 ? 'rewritten' : 'removed';
  const note =
    keptAs.length > 0
      ? `the report alone kept (${keptAs.join(', ')}), the file it came ` +
        `in removed${overCap > 0 ? `; ${overCap} over the cap of ${formatBytes(maxReportBytes)} not kept` : ''}`
      : isReportFile || overCap > 0
        ? `removed: over the cap of ${formatBytes(maxReportBytes)} per report`
        : 'removed: no report could be read from it';
  const entries = needsRow ? (keptAs.length > 0 ? keptAs.map((path) => entry('foreign', note, path)) : [entry('foreign', note)]) : [];
  return { plan: { path: rel, outcome: 'foreign', action, keptAs, note, ledgerRow: needsRow }, entries };
}

/**
 * The bytes the file was made from: quarantine names files by the sha256 of the original input and
 * gzips those that were not compressed already. A file whose name is not such a hash is taken as it is.
 */
function originalBytes(name: string, stored: Uint8Array): Uint8Array {
  const named = /^([0-9a-f]{64})\./.exec(name)?.[1];
  if (named === undefined || sha256(stored) === named) return stored;
  if (stored[0] === 0x1f && stored[1] === 0x8b) {
    try {
      const gunzipped = new Uint8Array(gunzipSync(stored));
      if (sha256(gunzipped) === named) return gunzipped;
    } catch {
      // Not a whole gzip: taken as it is.
    }
  }
  return stored;
}

function inputKind(earlier: string | null | undefined, unpacked: string): InputKind {
  const known = ['aggregate', 'failure', 'tls', 'other'];
  if (earlier !== null && earlier !== undefined && known.includes(earlier)) return earlier as InputKind;
  return (known.includes(unpacked) ? unpacked : 'other') as InputKind;
}

async function ledgerFacts(root: string, duck: Duck): Promise<LedgerFacts> {
  const facts: LedgerFacts = { byPath: new Map(), recorded: new Set() };
  const files = committedLedgerFiles(root);
  if (files.length === 0) return facts;
  const source = `read_parquet(${sqlList(files)}, union_by_name = true, hive_partitioning = false)`;
  const columns = new Set((await duck.rows<{ column_name: string }>(`DESCRIBE SELECT * FROM ${source}`)).map((row) => row.column_name));
  const column = (name: string): string => (columns.has(name) ? name : `NULL::VARCHAR AS ${name}`);
  const optional = ['quarantine_path', 'kind', 'reason', 'message_id', 'subject', 'source_name'].map(column).join(', ');
  const rows = await duck.rows<{
    quarantine_path: string;
    kind: string | null;
    reason: string | null;
    message_id: string | null;
    subject: string | null;
    source_name: string | null;
    source_ref: string;
  }>(
    `SELECT quarantine_path, arg_max(kind, ingested_at) AS kind, arg_max(reason, ingested_at) AS reason, arg_max(message_id, ingested_at) AS message_id,
            arg_max(subject, ingested_at) AS subject, arg_max(source_name, ingested_at) AS source_name, arg_max(source_ref, ingested_at) AS source_ref
     FROM (SELECT ${optional}, source_ref, ingested_at FROM ${source})
     WHERE quarantine_path IS NOT NULL GROUP BY quarantine_path`,
  );
  for (const row of rows) {
    facts.byPath.set(row.quarantine_path, {
      kind: row.kind,
      reason: row.reason,
      messageId: row.message_id,
      subject: row.subject,
      sourceName: row.source_name,
      sourceRef: row.source_ref,
    });
  }
  if (columns.has('source_bytes')) {
    for (const row of await duck.rows<{ source_ref: string }>(`SELECT DISTINCT source_ref FROM ${source} WHERE source_bytes IS NOT NULL`))
      facts.recorded.add(row.source_ref);
  }
  return facts;
}

/** Regular files of a folder (no temp files, no hidden ones), sorted; none when it does not exist. */
function listFiles(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true })
      .filter((entry) => entry.isFile() && !entry.name.startsWith('.'))
      .map((entry) => entry.name)
      .sort();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function relativeTo(root: string, path: string): string {
  return path.startsWith(`${root}/`) ? path.slice(root.length + 1) : path;
}
