import { appendFile } from 'node:fs/promises';
import { escapeMarkdown, markdownTable, printable } from '../lib/escape.ts';
import { usageError } from '../lib/errors.ts';
import type { IngestItem, IngestSummary, ItemOutcome } from '../reports/pipeline.ts';
import { bytesItem } from '../reports/sources/files.ts';
import { imapConfigFromEnv, openImapSource } from '../reports/sources/imap.ts';
import type { ImapConfig, ImapSource } from '../reports/sources/imap.ts';
import { sha256Ref } from '../reports/pipeline.ts';
import { ledgerMessageId } from '../reports/privacy.ts';
import { committedLedgerFiles, unsupportedTlsInputs } from '../reports/store/index.ts';
import { openDuck } from '../reports/store/duck.ts';
import { sqlList } from '../reports/store/layout.ts';
import type { Command, CommandContext } from './command.ts';
import { EXIT } from './command.ts';
import { RUN_OPTIONS, numberOption, runIngest } from './ingest.ts';

/**
 * Messages whose reports were committed (or already were) go to Processed; the rest to Invalid. A
 * message seen before (`already-ingested`: same bytes) goes where its first copy's outcome says.
 */
const PROCESSED: ReadonlySet<ItemOutcome> = new Set(['stored', 'duplicate']);

type Values = Record<string, string | boolean | (string | boolean)[] | undefined>;

/** Where the messages of one fetch went (or, with --keep-mail, would go), by UID in the mailbox read. */
export interface MailFiling {
  mailbox: string;
  /** False with --keep-mail: nothing left the mailbox. */
  moved: boolean;
  processed: { folder: string; uids: number[] };
  invalid: { folder: string; uids: number[] };
  /** --file-only: messages no committed run has seen (they came after the ingest); they stay for the next run. */
  left: number[];
}

/**
 * Messages one fetch reads unless --max-messages says otherwise. A busy domain gets a few hundred reports
 * a day, so a daily run keeps up with room to spare, while a run over a flood of small forged mails still
 * ends well within the workflow's 30 minutes and commits: `bench/ingest/fetch.ts` reads ~450 small report
 * mails a second from Dovecot here, so 10,000 take ~25 s. The backlog drains run by run.
 */
export const DEFAULT_MAX_MESSAGES = 10_000;
/**
 * Bytes of mail one fetch downloads unless --max-mail-bytes says otherwise: the same bound for a flood of
 * large messages (each under the 64 MiB message cap). Ingest parses ~27 MB of report XML a second here
 * (bench/README.md, the 100k-record report), so a run over 1 GiB of mail takes about a minute or two.
 */
export const DEFAULT_MAX_MAIL_BYTES = 1024 ** 3;

export const fetchCommand: Command = {
  name: 'fetch',
  summary: 'fetch report mail over IMAP, ingest it, then file the messages (Processed / Invalid)',
  description: [
    'Reads every message in the mailbox (INBOX by default), ingests the reports it carries, and only after the run is committed to the dataset moves ' +
      'each message: to Processed when its reports (DMARC aggregate or SMTP TLS reports) are stored (or were already), to Invalid when it held no ' +
      'usable report (invalid, foreign, failure report). Nothing is deleted.',
    'Two phases, when the dataset only counts once it is pushed (the scheduled workflow): run `fetch --keep-mail`, commit and push reports/, ' +
      'then `fetch --file-only`. Should the push fail, the mail is still in the inbox and the next run reads it again.',
  ],
  options: [
    {
      name: 'keep-mail',
      type: 'boolean',
      default: false,
      description: 'phase 1: ingest and commit the run as usual, but move no message; prints (with --json: `mail`) where each would go',
    },
    {
      name: 'file-only',
      type: 'boolean',
      default: false,
      description:
        'phase 2: ingest nothing; file each message by the committed ledger of <data>: its bytes (source_ref) ' +
        'stored or found duplicate by a run → Processed, seen with another outcome → Invalid, never seen (arrived since phase 1) ' +
        '→ left in the mailbox. Only --data, --json, --summary-file, --max-messages and --max-mail-bytes (the same as phase 1) apply. ' +
        'Run it once the dataset is pushed.',
    },
    {
      name: 'retry-unsupported',
      type: 'boolean',
      default: false,
      description:
        'read again the TLS reports an earlier dmarcops set aside as unsupported: the messages of the Invalid folder the ledger knows as such (kind tls, ' +
        'outcome unsupported; matched by the sha256 of their bytes) are ingested, and those whose reports are stored move to Processed; the rest stay ' +
        'in Invalid. Once is enough.',
    },
    {
      name: 'max-mail-bytes',
      type: 'string',
      value: 'n',
      defaultText: '1 GiB',
      description:
        'read at most n bytes of mail a run (the first message always), the oldest first; the rest stay for the next run, as with --max-messages',
    },
    {
      name: 'max-messages',
      type: 'string',
      value: 'n',
      defaultText: String(DEFAULT_MAX_MESSAGES),
      description:
        'read at most n messages a run, the oldest first; the rest stay in the mailbox for the next run. A run commits only at its end, so ' +
        'a flood of mail (forged or not) must not make every run too long to finish',
    },
    ...RUN_OPTIONS,
  ],
  // --retry-unsupported reads the Invalid folder and files what it stores at once: it goes with neither phase.
  exclusive: [['keep-mail', 'file-only', 'retry-unsupported']],
  environment: [
    {
      name: 'DMARCOPS_IMAP_HOST, DMARCOPS_IMAP_USER, DMARCOPS_IMAP_PASSWORD',
      description: 'required; secrets are read from here only, never printed',
    },
    { name: 'DMARCOPS_IMAP_PORT', description: '993 (143 with starttls or none)' },
    { name: 'DMARCOPS_IMAP_TLS', description: 'implicit (default), starttls or none' },
    { name: 'DMARCOPS_IMAP_MAILBOX', description: 'the mailbox to read (INBOX)' },
    { name: 'DMARCOPS_IMAP_PROCESSED_FOLDER, DMARCOPS_IMAP_INVALID_FOLDER', description: 'where messages are filed (Processed, Invalid)' },
    { name: 'DMARCOPS_IMAP_CA_FILE', description: 'PEM file of a private CA' },
    { name: 'DMARCOPS_IMAP_TLS_REJECT_UNAUTHORIZED', description: 'true (default); false accepts any certificate' },
  ],
  exit: {
    0: 'the run committed and messages were filed (--keep-mail: none moved)',
    1: 'error (nothing moved)',
    2: 'usage error (e.g. --keep-mail with --file-only)',
  },
  async run(values, _positionals, context) {
    // --keep-mail with --file-only is refused before this, by the table's `exclusive`.
    const keepMail = values['keep-mail'] === true;
    const fileOnly = values['file-only'] === true;
    const retryUnsupported = values['retry-unsupported'] === true;
    if (retryUnsupported) {
      await retryUnsupportedMail(imapConfigFromEnv(context.env), values, context);
      return EXIT.ok;
    }
    const config = imapConfigFromEnv(context.env);
    const source = await openImapSource(config, (line) => context.output.err(printable(line)));
    try {
      if (fileOnly) await fileIngestedMail(source, config, values, context);
      else await fetchMail(source, config, values, context, { move: !keepMail });
    } finally {
      await source.close();
    }
    return EXIT.ok;
  },
};

/**
 * Ingests the mailbox and commits the run; then, unless `move` is false (--keep-mail), moves each
 * message to Processed or Invalid. Without --keep-mail the output is exactly the plain fetch's.
 */
export async function fetchMail(
  source: ImapSource,
  config: ImapConfig,
  values: Values,
  context: CommandContext,
  { move }: { move: boolean },
): Promise<MailFiling> {
  const uidByName = new Map<string, number>();
  const filing = emptyFiling(config, move);
  // --keep-mail --json prints one object: the run's summary plus `mail`.
  const merge = !move && values.json === true;
  const summary = await ingestAndSort(
    imapItems(source, config.mailbox, uidByName, readLimits(values)),
    uidByName,
    filing,
    values,
    context,
    merge,
  );
  const { processed, invalid } = filing;
  if (move) {
    // The run is committed: only now may messages leave the inbox.
    await moveFiled(source, filing);
    if (!values.json)
      context.output.out(`  mail     ${processed.uids.length} → ${processed.folder}, ${invalid.uids.length} → ${invalid.folder}`);
    return filing;
  }
  if (merge) context.output.out(JSON.stringify({ ...summary, mail: filing }, null, 2));
  else {
    const messages = processed.uids.length + invalid.uids.length;
    context.output.out(
      `  mail     ${messages} kept in ${config.mailbox} (--keep-mail): ${processed.uids.length} → ${processed.folder}, ` +
        `${invalid.uids.length} → ${invalid.folder} once \`dmarcops fetch --file-only\` runs`,
    );
  }
  return filing;
}

/**
 * Phase 2 (--file-only): ingests nothing. Each message in the mailbox gets its source_ref exactly
 * as the ingest gives it (imapItems: sha256 of the bytes; for mail too big to download, of its IMAP
 * URL, so it is not downloaded here either) and is filed by what the committed ledger says of it.
 * A message no committed run has seen stays: it came after phase 1, and the next run ingests it.
 */
export async function fileIngestedMail(
  source: ImapSource,
  config: ImapConfig,
  values: Values,
  context: CommandContext,
): Promise<MailFiling> {
  const dataRoot = String(values.data);
  const runs = committedLedgerFiles(dataRoot).length;
  const uidByName = new Map<string, number>();
  const messages: { uid: number; sourceRef: string }[] = [];
  for await (const item of imapItems(source, config.mailbox, uidByName, readLimits(values))) {
    const uid = uidByName.get(item.name);
    if (uid !== undefined) messages.push({ uid, sourceRef: await item.sourceRef() });
  }
  const seen = await ledgerFiling(
    dataRoot,
    messages.map((message) => message.sourceRef),
  );
  const filing = emptyFiling(config, true);
  for (const { uid, sourceRef } of messages) {
    const folder = seen.get(sourceRef);
    (folder === undefined ? filing.left : filing[folder].uids).push(uid);
  }
  await moveFiled(source, filing);

  const { output } = context;
  if (values.json) output.out(JSON.stringify({ mail: filing }, null, 2));
  else {
    output.out(`${output.style('bold', 'file-only')} ← ${dataRoot}/ (${runs} committed run${runs === 1 ? '' : 's'} in the ledger)`);
    output.out(
      `  mail     ${filing.processed.uids.length} → ${config.processedFolder}, ` +
        `${filing.invalid.uids.length} → ${config.invalidFolder}, ` +
        `${filing.left.length} left in ${config.mailbox}${filing.left.length > 0 ? ' (not ingested yet: the next run reads them)' : ''}`,
    );
    if (runs === 0)
      output.out(`  ${output.style('yellow', 'note')}     no committed run in ${dataRoot}/: nothing can be filed (is --data right?)`);
  }
  if (typeof values['summary-file'] === 'string') {
    const table = markdownTable(
      [escapeMarkdown(config.processedFolder), escapeMarkdown(config.invalidFolder), `left in ${escapeMarkdown(config.mailbox)}`],
      [[String(filing.processed.uids.length), String(filing.invalid.uids.length), String(filing.left.length)]],
    );
    await appendFile(values['summary-file'], `### dmarcops fetch --file-only\n\n${table}\n`);
  }
  return filing;
}

/**
 * `--retry-unsupported`: reads again the TLS reports an earlier dmarcops set aside as unsupported. Their
 * messages went to the Invalid folder and their content was not kept; the ledger knows them (every row
 * of theirs: kind tls, outcome unsupported). Only those are downloaded (picked by the Message-ID the
 * ledger has, when it has one for each) and ingested, matched by the sha256 of their bytes as the
 * ingest gives it. After the commit, messages whose reports are stored (or were already) move to
 * Processed; the rest (foreign, invalid) stay in Invalid, with new ledger rows saying why.
 */
export async function retryUnsupportedMail(config: ImapConfig, values: Values, context: CommandContext): Promise<MailFiling> {
  const { output } = context;
  const dataRoot = String(values.data);
  const pending = await unsupportedTlsInputs(dataRoot);
  const invalidFolder = { ...config, mailbox: config.invalidFolder };
  const filing = emptyFiling(invalidFolder, true);
  if (pending.length === 0) {
    if (values.json) output.out(JSON.stringify({ mail: filing }, null, 2));
    else output.out(`retry-unsupported ← ${dataRoot}/: the ledger names no TLS report set aside as unsupported; nothing to read`);
    return filing;
  }
  const refs = new Set(pending.map((input) => input.sourceRef));
  const messageIds = new Set(pending.flatMap((input) => (input.messageId === null ? [] : [input.messageId])));
  const everyOneNamed = pending.every((input) => input.messageId !== null);
  const source = await openImapSource(invalidFolder, (line) => output.err(printable(line)));
  try {
    const uidByName = new Map<string, number>();
    async function* items(): AsyncGenerator<IngestItem> {
      const select = ({ messageId }: { messageId?: string }): boolean =>
        !everyOneNamed || (messageId !== undefined && messageIds.has(ledgerMessageId(messageId) ?? ''));
      for await (const message of source.messages({ select })) {
        if (message.error || !refs.has(sha256Ref(message.source))) continue;
        const name = `imap:${invalidFolder.mailbox}/${message.uid}`;
        uidByName.set(name, message.uid);
        yield bytesItem(name, message.source, {
          ...(message.messageId ? { messageId: message.messageId } : {}),
          ...(message.subject ? { subject: message.subject } : {}),
        });
      }
    }
    const merge = values.json === true;
    const summary = await ingestAndSort(items(), uidByName, filing, values, context, merge);
    // The run is committed: what is now stored leaves the Invalid folder; the rest is where it belongs.
    await source.moveTo(filing.processed.uids, filing.processed.folder);
    if (merge) output.out(JSON.stringify({ ...summary, mail: filing }, null, 2));
    else
      output.out(
        `  mail     ${filing.processed.uids.length} → ${filing.processed.folder}, ${filing.invalid.uids.length} stay in ${filing.invalid.folder}`,
      );
    return filing;
  } finally {
    await source.close();
  }
}

/**
 * Ingests mailbox `items` and commits the run, then sorts each message into `filing` (moving nothing):
 * Processed when its reports are stored (or already were), Invalid otherwise. A message a run has seen
 * before (redelivered, or left behind when a move failed after a commit) goes where the committed ledger
 * says. With `holdSummary` (--json with a `mail` field to add) runIngest's printed summary is held back:
 * the caller prints it merged; runIngest returns it either way.
 */
async function ingestAndSort(
  items: AsyncIterable<IngestItem>,
  uidByName: Map<string, number>,
  filing: MailFiling,
  values: Values,
  context: CommandContext,
  holdSummary: boolean,
): Promise<IngestSummary> {
  const seenBefore: { uid: number; sourceRef: string }[] = [];
  const runContext: CommandContext = holdSummary ? { ...context, output: { ...context.output, out: () => {} } } : context;
  const summary = await runIngest(
    items,
    values,
    runContext,
    'fetch',
    (result) => {
      const uid = uidByName.get(result.name);
      if (uid === undefined) return;
      if (result.outcome === 'already-ingested') seenBefore.push({ uid, sourceRef: result.sourceRef });
      else (PROCESSED.has(result.outcome) ? filing.processed : filing.invalid).uids.push(uid);
    },
    { origin: 'mailbox' },
  );
  const seen = await ledgerFiling(
    String(values.data),
    seenBefore.map((entry) => entry.sourceRef),
  );
  for (const { uid, sourceRef } of seenBefore) (seen.get(sourceRef) === 'processed' ? filing.processed : filing.invalid).uids.push(uid);
  return summary;
}

function emptyFiling(config: ImapConfig, moved: boolean): MailFiling {
  return {
    mailbox: config.mailbox,
    moved,
    processed: { folder: config.processedFolder, uids: [] },
    invalid: { folder: config.invalidFolder, uids: [] },
    left: [],
  };
}

/** Moves the filed messages to their folders; those `left` stay in the mailbox. */
async function moveFiled(source: ImapSource, filing: MailFiling): Promise<void> {
  await source.moveTo(filing.processed.uids, filing.processed.folder);
  await source.moveTo(filing.invalid.uids, filing.invalid.folder);
}

/** source_refs per SQL query: keeps the statement small for a mailbox of thousands. */
const LEDGER_QUERY_CHUNK = 1000;

/**
 * What the committed ledger says of these inputs (source_ref): `processed` when a run stored their
 * reports or found them already stored, `invalid` when runs saw them with other outcomes only
 * (invalid, foreign, unsupported). Inputs no committed run has seen are absent.
 */
export async function ledgerFiling(dataRoot: string, sourceRefs: readonly string[]): Promise<Map<string, 'processed' | 'invalid'>> {
  const filing = new Map<string, 'processed' | 'invalid'>();
  const files = committedLedgerFiles(dataRoot);
  const unique = [...new Set(sourceRefs)];
  if (unique.length === 0 || files.length === 0) return filing;
  const duck = await openDuck();
  try {
    for (let start = 0; start < unique.length; start += LEDGER_QUERY_CHUNK) {
      const chunk = unique.slice(start, start + LEDGER_QUERY_CHUNK);
      const rows = await duck.rows<{ source_ref: string; usable: boolean }>(
        `SELECT source_ref, bool_or(outcome IN ('stored', 'duplicate')) AS usable
         FROM read_parquet(${sqlList(files)}, union_by_name = true, hive_partitioning = false)
         WHERE list_contains(${sqlList(chunk)}, source_ref) GROUP BY source_ref`,
      );
      for (const row of rows) filing.set(row.source_ref, row.usable ? 'processed' : 'invalid');
    }
    return filing;
  } finally {
    duck.close();
  }
}

/** What one run reads at most: --max-messages and --max-mail-bytes, or their defaults. */
function readLimits(values: Values): ReadLimits {
  const maxMessages = numberOption(values, 'max-messages') ?? DEFAULT_MAX_MESSAGES;
  if (!Number.isInteger(maxMessages)) throw usageError(`--max-messages must be a whole number, not ${String(values['max-messages'])}`);
  return { maxMessages, maxBytes: numberOption(values, 'max-mail-bytes') ?? DEFAULT_MAX_MAIL_BYTES };
}

interface ReadLimits {
  maxMessages?: number;
  maxBytes?: number;
}

/**
 * The mailbox as pipeline items, the oldest ones within `limits` (both phases read the same ones: mail
 * that arrives meanwhile has higher UIDs); the source_ref of each is what both phases go by.
 */
export async function* imapItems(
  source: ImapSource,
  mailbox: string,
  uidByName: Map<string, number>,
  limits: ReadLimits = {},
): AsyncGenerator<IngestItem> {
  for await (const message of source.messages(limits)) {
    const name = `imap:${mailbox}/${message.uid}`;
    uidByName.set(name, message.uid);
    const extra = {
      ...(message.messageId ? { messageId: message.messageId } : {}),
      ...(message.subject ? { subject: message.subject } : {}),
    };
    if (message.error) {
      // Not downloaded (too big): named by its IMAP URL, which stays the same while UIDVALIDITY does.
      const error = message.error;
      yield {
        name,
        ...extra,
        size: message.size,
        sourceRef: async () => sha256Ref(new TextEncoder().encode(message.ref)),
        unpack: async () => ({ payloads: [], problems: [{ trail: [name], code: error.code, message: error.message }], kind: 'other' }),
      };
      continue;
    }
    yield bytesItem(name, message.source, extra);
  }
}
