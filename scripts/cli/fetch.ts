import type { ItemOutcome } from '../reports/pipeline.ts';
import type { IngestItem } from '../reports/pipeline.ts';
import { bytesItem } from '../reports/sources/files.ts';
import { imapConfigFromEnv, openImapSource } from '../reports/sources/imap.ts';
import type { ImapSource } from '../reports/sources/imap.ts';
import { sha256Ref } from '../reports/pipeline.ts';
import { committedLedgerFiles } from '../reports/store/index.ts';
import { openDuck } from '../reports/store/duck.ts';
import { sqlList } from '../reports/store/layout.ts';
import type { Command } from './command.ts';
import { EXIT } from './command.ts';
import { RUN_HELP, RUN_OPTIONS, runIngest } from './ingest.ts';

/**
 * Messages whose reports were committed (or already were) go to Processed; the rest to Invalid. A
 * message seen before (`already-ingested`: same bytes) goes where its first copy's outcome says.
 */
const PROCESSED: ReadonlySet<ItemOutcome> = new Set(['stored', 'duplicate']);

export const fetchCommand: Command = {
  name: 'fetch',
  summary: 'fetch report mail over IMAP, ingest it, then file the messages (Processed / Invalid)',
  usage: 'dmarcops fetch [--data <dir>] [--domains <dir>] [--json] [--offline]',
  help: [
    'Reads every message in the mailbox (INBOX by default), ingests the reports it carries, and only after the',
    'run is committed to the dataset moves each message: to Processed when its reports are stored (or were',
    'already), to Invalid when it held no usable report (invalid, foreign, failure/TLS report). Nothing is deleted.',
    '',
    'environment (secrets are read from here only, never printed):',
    '  DMARCOPS_IMAP_HOST, DMARCOPS_IMAP_USER, DMARCOPS_IMAP_PASSWORD   required',
    '  DMARCOPS_IMAP_PORT (993), DMARCOPS_IMAP_TLS (implicit | starttls | none), DMARCOPS_IMAP_MAILBOX (INBOX),',
    '  DMARCOPS_IMAP_PROCESSED_FOLDER (Processed), DMARCOPS_IMAP_INVALID_FOLDER (Invalid),',
    '  DMARCOPS_IMAP_CA_FILE (PEM for a private CA), DMARCOPS_IMAP_TLS_REJECT_UNAUTHORIZED (true)',
    '',
    'options:',
    RUN_HELP,
    '',
    'exit: 0 the run committed and messages were filed, 1 error (nothing moved), 2 usage error',
  ].join('\n'),
  options: RUN_OPTIONS,
  allowPositionals: false,
  async run(values, _positionals, context) {
    const config = imapConfigFromEnv(context.env);
    const source = await openImapSource(config, (line) => context.output.err(line));
    try {
      const uidByName = new Map<string, number>();
      const filed = { processed: [] as number[], invalid: [] as number[] };
      const seenBefore: { uid: number; sourceRef: string }[] = [];
      await runIngest(imapItems(source, config.mailbox, uidByName), values, context, 'fetch', (result) => {
        const uid = uidByName.get(result.name);
        if (uid === undefined) return;
        if (result.outcome === 'already-ingested') seenBefore.push({ uid, sourceRef: result.sourceRef });
        else (PROCESSED.has(result.outcome) ? filed.processed : filed.invalid).push(uid);
      });
      // A copy of a message seen before (redelivered, or left behind when a move failed after a commit).
      const usable = await usableSources(String(values.data), seenBefore.map((seen) => seen.sourceRef));
      for (const { uid, sourceRef } of seenBefore) (usable.has(sourceRef) ? filed.processed : filed.invalid).push(uid);
      // The run is committed: only now may messages leave the inbox.
      await source.moveTo(filed.processed, config.processedFolder);
      await source.moveTo(filed.invalid, config.invalidFolder);
      if (!values.json) context.output.out(`  mail     ${filed.processed.length} → ${config.processedFolder}, ${filed.invalid.length} → ${config.invalidFolder}`);
    } finally {
      await source.close();
    }
    return EXIT.ok;
  },
};

/** Of these inputs (source_ref), those whose reports a committed run stored or found already stored. */
async function usableSources(dataRoot: string, sourceRefs: readonly string[]): Promise<Set<string>> {
  const files = committedLedgerFiles(dataRoot);
  if (sourceRefs.length === 0 || files.length === 0) return new Set();
  const duck = await openDuck();
  try {
    const rows = await duck.rows<{ source_ref: string }>(
      `SELECT DISTINCT source_ref FROM read_parquet(${sqlList(files)}, union_by_name = true, hive_partitioning = false)
       WHERE outcome IN ('stored', 'duplicate') AND list_contains(${sqlList(sourceRefs)}, source_ref)`,
    );
    return new Set(rows.map((row) => row.source_ref));
  } finally {
    duck.close();
  }
}

async function* imapItems(source: ImapSource, mailbox: string, uidByName: Map<string, number>): AsyncGenerator<IngestItem> {
  for await (const message of source.messages()) {
    const name = `imap:${mailbox}/${message.uid}`;
    uidByName.set(name, message.uid);
    const extra = { ...(message.messageId ? { messageId: message.messageId } : {}), ...(message.subject ? { subject: message.subject } : {}) };
    if (message.error) {
      const error = message.error;
      yield { name, ...extra, sourceRef: async () => sha256Ref(new TextEncoder().encode(message.ref)), bytes: async () => new Uint8Array(), unpack: async () => ({ payloads: [], problems: [{ trail: [name], code: error.code, message: error.message }], kind: 'other' }) };
      continue;
    }
    yield bytesItem(name, message.source, extra);
  }
}
