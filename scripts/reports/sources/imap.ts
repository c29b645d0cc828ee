/**
 * IMAP source for the report pipeline: reads a mailbox oldest first and moves each handled
 * message out of it — to `Processed` once its reports are durably stored, to `Invalid` when it
 * held nothing usable. Nothing is ever deleted, and the mailbox itself is the queue: what is
 * still in it has not been handled, so no UID bookmark is kept between runs.
 *
 * UIDVALIDITY: UIDs are only handles for this session. The mailbox's UIDVALIDITY is recorded
 * when it is opened and checked before every fetch batch and every move; if the server changed
 * it (mailbox recreated or restored), the UIDs we hold may name other messages, so we stop with
 * an error and move nothing. The next run lists the mailbox afresh, and the ledger's dedupe makes
 * re-reading a report harmless.
 *
 * The password comes only from the config (the environment) and never appears in a log line or
 * an error message: errors carry host:port, the server's response text and the error code only.
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import { ImapFlow } from 'imapflow';
import type { FetchMessageObject, ImapFlowError } from 'imapflow';
import { UnpackError } from '../unpack/index.ts';
import { formatBytes } from '../../lib/text.ts';
import { DmarcopsError } from '../../lib/errors.ts';

export interface ImapConfig {
  host: string;
  port: number;
  /** Implicit TLS from the first byte (IMAPS, usually port 993). */
  secure: boolean;
  /** When not `secure`: upgrade with STARTTLS and fail if the server cannot. Otherwise the session stays cleartext. */
  starttls?: boolean;
  user: string;
  password: string;
  /** Folder to read. Default INBOX. */
  mailbox: string;
  /** Where handled messages go. Default `Processed`. */
  processedFolder: string;
  /** Where messages without a usable report go. Default `Invalid`. */
  invalidFolder: string;
  /** Verify the server certificate. Default true. */
  rejectUnauthorized: boolean;
  /** Path of a PEM CA bundle to trust (e.g. a self-signed test server's certificate). */
  ca?: string;
}

export type ImapTlsMode = 'implicit' | 'starttls' | 'none';

export const IMAP_ENV = {
  host: 'DMARCOPS_IMAP_HOST',
  port: 'DMARCOPS_IMAP_PORT',
  tls: 'DMARCOPS_IMAP_TLS',
  user: 'DMARCOPS_IMAP_USER',
  password: 'DMARCOPS_IMAP_PASSWORD',
  mailbox: 'DMARCOPS_IMAP_MAILBOX',
  processedFolder: 'DMARCOPS_IMAP_PROCESSED_FOLDER',
  invalidFolder: 'DMARCOPS_IMAP_INVALID_FOLDER',
  ca: 'DMARCOPS_IMAP_CA_FILE',
  rejectUnauthorized: 'DMARCOPS_IMAP_TLS_REJECT_UNAUTHORIZED',
} as const;

export type ImapErrorKind = 'config' | 'connect' | 'tls' | 'auth' | 'mailbox' | 'uidvalidity' | 'fetch' | 'move';

/**
 * Every failure of this module, coded `imap-<kind>` in docs/errors.md. Deliberately carries no
 * `cause`: imapflow errors can hold the sent command (with the password), and `--debug` prints causes.
 */
export class ImapSourceError extends DmarcopsError {
  readonly kind: ImapErrorKind;

  constructor(kind: ImapErrorKind, message: string) {
    super(`imap-${kind}`, message);
    this.name = 'ImapSourceError';
    this.kind = kind;
  }
}

/**
 * Reads the IMAP settings from DMARCOPS_IMAP_* variables; `overrides` win over the environment.
 * Host, user and password are required. Errors name the variable, never its value.
 */
export function imapConfigFromEnv(env: NodeJS.ProcessEnv, overrides: Partial<ImapConfig> = {}): ImapConfig {
  const read = (name: string): string | undefined => {
    const value = env[name];
    return value === undefined || value.trim() === '' ? undefined : value;
  };

  const tlsMode = (read(IMAP_ENV.tls)?.trim().toLowerCase() ?? 'implicit') as ImapTlsMode;
  if (!['implicit', 'starttls', 'none'].includes(tlsMode)) {
    throw new ImapSourceError('config', `${IMAP_ENV.tls} must be one of: implicit, starttls, none`);
  }
  const portText = read(IMAP_ENV.port)?.trim();
  const port = portText === undefined ? (tlsMode === 'implicit' ? 993 : 143) : Number(portText);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new ImapSourceError('config', `${IMAP_ENV.port} must be a port number (1-65535)`);
  }
  const rejectText = read(IMAP_ENV.rejectUnauthorized)?.trim().toLowerCase();
  let rejectUnauthorized = true;
  if (rejectText !== undefined) {
    if (['1', 'true', 'yes', 'on'].includes(rejectText)) rejectUnauthorized = true;
    else if (['0', 'false', 'no', 'off'].includes(rejectText)) rejectUnauthorized = false;
    else throw new ImapSourceError('config', `${IMAP_ENV.rejectUnauthorized} must be true or false`);
  }

  const fromEnv: Partial<ImapConfig> = {
    host: read(IMAP_ENV.host)?.trim(),
    port,
    secure: tlsMode === 'implicit',
    starttls: tlsMode === 'starttls',
    user: read(IMAP_ENV.user)?.trim(),
    password: read(IMAP_ENV.password), // not trimmed: spaces may belong to it
    mailbox: read(IMAP_ENV.mailbox)?.trim() ?? 'INBOX',
    processedFolder: read(IMAP_ENV.processedFolder)?.trim() ?? 'Processed',
    invalidFolder: read(IMAP_ENV.invalidFolder)?.trim() ?? 'Invalid',
    rejectUnauthorized,
    ca: read(IMAP_ENV.ca)?.trim(),
  };
  const merged: Partial<ImapConfig> = { ...fromEnv };
  for (const [key, value] of Object.entries(overrides)) {
    if (value !== undefined) Object.assign(merged, { [key]: value });
  }

  const missing = (['host', 'user', 'password'] as const).filter((key) => !merged[key]).map((key) => IMAP_ENV[key]);
  if (missing.length > 0) {
    throw new ImapSourceError('config', `IMAP is not configured: set ${missing.join(', ')}`);
  }
  return merged as ImapConfig;
}

export interface MailboxMessage {
  uid: number;
  messageId?: string;
  subject?: string;
  internalDate?: Date;
  /** RFC822.SIZE as the server reports it. */
  size: number;
  /** The raw message exactly as the server returns it; empty when `error` is set. */
  source: Uint8Array;
  /** `imap://host:port/<mailbox>;UIDVALIDITY=<v>/;UID=<uid>` (RFC 5092 style), for logs and the ledger. */
  ref: string;
  /**
   * Set instead of `source` when the message was not downloaded: code `limit-size` when it is
   * larger than maxMessageBytes. The pipeline should record it and move it to the Invalid folder,
   * so it is not offered again on every run.
   */
  error?: UnpackError;
}

export interface MessagesOptions {
  /** UIDs fetched per round trip. Default 50. */
  batchSize?: number;
  /** Larger messages are not downloaded but yielded with `error`. Default 64 MiB. */
  maxMessageBytes?: number;
  /**
   * At most this many messages are read, the oldest (lowest UIDs) first; the rest stay in the mailbox
   * for the next run, and the log says how many. Unlimited when absent.
   */
  maxMessages?: number;
  /**
   * Reading stops before the message that would take the bytes downloaded past this (the first message
   * is always read, so a run makes progress); the rest stay, and the log says how many. Messages not
   * downloaded (over maxMessageBytes) count nothing. Unlimited when absent.
   */
  maxBytes?: number;
  /** Most message bytes held in memory at once (a single message may exceed it). Default 32 MiB. */
  maxBatchBytes?: number;
  /** Called before each download round trip with the UIDs it fetches (progress; tests check batching). */
  onFetch?: (uids: number[]) => void;
  /**
   * Only messages this accepts (by what the headers fetch tells: UID, Message-ID, size) are downloaded
   * and yielded; the rest are passed over, e.g. when looking for a few known messages in a big folder.
   */
  select?: (message: { uid: number; messageId?: string; size: number }) => boolean;
}

export interface ImapSource {
  /** Messages currently in the mailbox, oldest (lowest UID) first, fetched in batches; \Deleted ones are skipped. */
  messages(options?: MessagesOptions): AsyncIterable<MailboxMessage>;
  /**
   * Moves messages out of the mailbox into `folder` (created if missing): MOVE when the server has
   * it, else COPY + \Deleted + UID EXPUNGE of exactly these UIDs (UIDPLUS). A server with neither
   * gets COPY + \Deleted only: a plain EXPUNGE could remove other clients' messages, and \Deleted
   * ones are skipped by messages(), so they are not read again. Checks afterwards that none is left.
   */
  moveTo(uids: number[], folder: string): Promise<void>;
  close(): Promise<void>;
}

/** Below typical provider limits (Gmail 25 MB, most servers 50 MB): a larger message in a report mailbox is junk. */
export const DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024;
const DEFAULT_BATCH_SIZE = 50;
const DEFAULT_MAX_BATCH_BYTES = 32 * 1024 * 1024;
/** UIDs per MOVE/COPY command, so the command line stays well below server line limits. */
const MOVE_CHUNK = 500;

const TLS_ERROR = /CERT|SELF_SIGNED|TLS|SSL|HOSTNAME|ALTNAME/i;

/** Host:port, then the server's words (or Node's) and the code; never the sent command, never the password. */
function describe(error: unknown, password: string): string {
  const e = (error ?? {}) as ImapFlowError;
  const text = e.responseText || e.reason || e.message || String(error);
  const code = e.serverResponseCode || e.code;
  let line = code && !text.includes(code) ? `${text} (${code})` : text;
  if (password) line = line.split(password).join('***');
  return line;
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'));
}

export async function openImapSource(config: ImapConfig, log: (line: string) => void = () => {}): Promise<ImapSource> {
  const where = `${config.host}:${config.port}`;
  const transport = config.secure ? 'implicit TLS' : config.starttls ? 'STARTTLS' : 'no TLS';
  const say = (line: string) => log(config.password ? line.split(config.password).join('***') : line);

  const tls: ConnectionOptions = { rejectUnauthorized: config.rejectUnauthorized };
  if (config.ca) {
    try {
      tls.ca = [readFileSync(config.ca)];
    } catch (error) {
      throw new ImapSourceError('config', `cannot read the IMAP CA file ${config.ca}: ${(error as Error).message}`);
    }
  }
  if (!config.secure && !config.starttls && !isLoopback(config.host)) {
    say(`warning: IMAP to ${where} without TLS: the password crosses the network in clear text`);
  } else if ((config.secure || config.starttls) && !config.rejectUnauthorized) {
    say(`warning: the TLS certificate of ${where} is not verified (${IMAP_ENV.rejectUnauthorized}=false)`);
  }

  const client = new ImapFlow({
    host: config.host,
    port: config.port,
    secure: config.secure,
    // true = STARTTLS required; false = stay cleartext. Never the silent "upgrade if offered".
    doSTARTTLS: config.secure ? undefined : Boolean(config.starttls),
    tls,
    auth: { user: config.user, pass: config.password },
    logger: false,
    connectionTimeout: 30_000,
  });
  // imapflow reports socket trouble as 'error' events; unhandled they would crash the process.
  client.on('error', (error: unknown) => say(`IMAP ${where}: ${describe(error, config.password)}`));

  try {
    await client.connect();
  } catch (error) {
    const e = error as ImapFlowError;
    const detail = describe(error, config.password);
    if (e.authenticationFailed) {
      throw new ImapSourceError('auth', `IMAP login as ${config.user} at ${where} failed: ${detail}`);
    }
    if (e.tlsFailed || TLS_ERROR.test(`${e.code ?? ''} ${e.message ?? ''}`)) {
      throw new ImapSourceError(
        'tls',
        `IMAP TLS (${transport}) with ${where} failed: ${detail}; ` +
          `if the server uses a private CA, set ${IMAP_ENV.ca} to its certificate`,
      );
    }
    throw new ImapSourceError('connect', `cannot connect to IMAP server ${where} (${transport}): ${detail}`);
  }
  say(`IMAP connected to ${where} (${client.secureConnection ? 'TLS' : 'cleartext'}) as ${config.user}`);

  let opened: { path: string; uidValidity: bigint };
  try {
    const box = await client.mailboxOpen(config.mailbox);
    opened = { path: box.path, uidValidity: box.uidValidity };
  } catch (error) {
    await client.logout().catch(() => client.close());
    throw new ImapSourceError('mailbox', `cannot open IMAP folder "${config.mailbox}" at ${where}: ${describe(error, config.password)}`);
  }
  const refBase = `imap://${where}/${encodeURIComponent(opened.path)};UIDVALIDITY=${opened.uidValidity}`;

  /** Reselects the mailbox if it is no longer selected, and refuses to go on if its UIDVALIDITY changed. */
  const ensureMailbox = async (): Promise<void> => {
    let current = client.mailbox;
    if (!current || current.path !== opened.path) {
      try {
        current = await client.mailboxOpen(opened.path);
      } catch (error) {
        throw new ImapSourceError('mailbox', `cannot reopen IMAP folder "${opened.path}" at ${where}: ${describe(error, config.password)}`);
      }
    }
    if (current.uidValidity !== opened.uidValidity) {
      throw new ImapSourceError(
        'uidvalidity',
        `UIDVALIDITY of "${opened.path}" at ${where} changed from ${opened.uidValidity} to ${current.uidValidity}: ` +
          'the UIDs read earlier may name other messages, so nothing was moved; run again to start over',
      );
    }
  };

  const fail = (kind: ImapErrorKind, what: string, error: unknown): ImapSourceError => {
    if (error instanceof ImapSourceError) return error;
    // imapflow answers `false` once the socket is gone: say so rather than just "COPY failed".
    const gone = client.usable ? '' : ' (the server closed the connection)';
    return new ImapSourceError(kind, `${what} at ${where}: ${describe(error, config.password)}${gone}`);
  };

  const known = new Set<string>();
  const ensureFolder = async (folder: string): Promise<void> => {
    if (known.has(folder)) return;
    try {
      const result = await client.mailboxCreate(folder); // answers created: false when it exists
      if (result.created) say(`IMAP created folder "${result.path}"`);
    } catch (error) {
      throw fail('move', `cannot create IMAP folder "${folder}"`, error);
    }
    known.add(folder);
  };

  const info = (meta: FetchMessageObject): Omit<MailboxMessage, 'size' | 'source'> => {
    const date = meta.internalDate === undefined ? undefined : new Date(meta.internalDate);
    return {
      uid: meta.uid,
      ref: `${refBase}/;UID=${meta.uid}`,
      ...(meta.envelope?.messageId ? { messageId: meta.envelope.messageId } : {}),
      ...(meta.envelope?.subject !== undefined ? { subject: meta.envelope.subject } : {}),
      ...(date && !Number.isNaN(date.getTime()) ? { internalDate: date } : {}),
    };
  };

  async function* messages(options: MessagesOptions = {}): AsyncGenerator<MailboxMessage> {
    const batchSize = Math.max(1, Math.floor(options.batchSize ?? DEFAULT_BATCH_SIZE));
    const maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    const maxBatchBytes = options.maxBatchBytes ?? DEFAULT_MAX_BATCH_BYTES;

    await ensureMailbox();
    let uids: number[];
    try {
      const found = await client.search({ deleted: false }, { uid: true });
      if (!found) throw new Error('SEARCH failed');
      uids = [...found].sort((a, b) => a - b);
    } catch (error) {
      throw fail('fetch', `cannot list messages in "${opened.path}"`, error);
    }
    const max = options.maxMessages;
    if (max !== undefined && uids.length > max) {
      say(
        `IMAP "${opened.path}": ${uids.length} message(s); reading the oldest ${max}, ${uids.length - max} wait for the next run (--max-messages)`,
      );
      uids = uids.slice(0, max);
    } else say(`IMAP "${opened.path}": ${uids.length} message(s) to read`);

    let downloaded = 0;
    let stopped = false;
    for (let start = 0; start < uids.length && !stopped; start += batchSize) {
      const batch = uids.slice(start, start + batchSize);
      await ensureMailbox();
      let metas: FetchMessageObject[];
      try {
        // Headers first: sizes decide what to download and how to group it.
        metas = await client.fetchAll(batch, { uid: true, size: true, envelope: true, internalDate: true }, { uid: true });
      } catch (error) {
        throw fail('fetch', `cannot fetch messages from "${opened.path}"`, error);
      }
      metas.sort((a, b) => a.uid - b.uid);

      // Download in groups of at most maxBatchBytes, yielding strictly in UID order.
      let group: FetchMessageObject[] = [];
      let groupBytes = 0;
      const flush = async function* (): AsyncGenerator<MailboxMessage> {
        if (group.length === 0) return;
        const wanted = group;
        group = [];
        groupBytes = 0;
        let sources: Map<number, Buffer>;
        const wantedUids = wanted.map((m) => m.uid);
        options.onFetch?.(wantedUids);
        try {
          const fetched = await client.fetchAll(wantedUids, { uid: true, source: true }, { uid: true });
          sources = new Map(fetched.flatMap((m) => (m.source ? [[m.uid, m.source] as const] : [])));
        } catch (error) {
          throw fail('fetch', `cannot download messages from "${opened.path}"`, error);
        }
        for (const meta of wanted) {
          const source = sources.get(meta.uid);
          if (!source) {
            say(`IMAP "${opened.path}": UID ${meta.uid} vanished while reading (moved or expunged elsewhere)`);
            continue;
          }
          sources.delete(meta.uid); // let it be collected once the consumer is done with it
          yield { ...info(meta), size: meta.size ?? source.length, source };
        }
      };

      for (const meta of metas) {
        const size = meta.size ?? 0;
        if (
          options.select &&
          !options.select({ uid: meta.uid, size, ...(meta.envelope?.messageId ? { messageId: meta.envelope.messageId } : {}) })
        )
          continue;
        if (options.maxBytes !== undefined && size <= maxMessageBytes && downloaded > 0 && downloaded + size > options.maxBytes) {
          const waiting = uids.length - uids.indexOf(meta.uid);
          say(
            `IMAP "${opened.path}": ${formatBytes(downloaded)} read; ${waiting} message(s) wait for the next run ` +
              `(--max-mail-bytes ${formatBytes(options.maxBytes)})`,
          );
          stopped = true;
          break;
        }
        if (size <= maxMessageBytes) downloaded += size;
        if (size > maxMessageBytes) {
          yield* flush();
          const ref = `${refBase}/;UID=${meta.uid}`;
          const error = new UnpackError(
            'limit-size',
            `message is ${formatBytes(size)} (${size} bytes), over the ${formatBytes(maxMessageBytes)} limit for one message; not downloaded`,
            [ref],
          );
          yield { ...info(meta), size, source: new Uint8Array(0), error };
          continue;
        }
        if (group.length > 0 && groupBytes + size > maxBatchBytes) yield* flush();
        group.push(meta);
        groupBytes += size;
      }
      yield* flush();
    }
  }

  async function moveTo(uids: number[], folder: string): Promise<void> {
    const unique = [...new Set(uids)].sort((a, b) => a - b);
    if (unique.length === 0) return;
    if (!unique.every((uid) => Number.isInteger(uid) && uid > 0)) {
      throw new ImapSourceError('move', `moveTo: UIDs must be positive integers`);
    }
    const isSource = (name: string) => name === opened.path || (name.toUpperCase() === 'INBOX' && opened.path.toUpperCase() === 'INBOX');
    if (isSource(folder) || folder === config.mailbox) {
      throw new ImapSourceError('move', `moveTo: "${folder}" is the folder being read`);
    }
    await ensureFolder(folder);
    await ensureMailbox();
    const canMove = client.capabilities.has('MOVE');
    const canUidExpunge = client.capabilities.has('UIDPLUS');

    for (let start = 0; start < unique.length; start += MOVE_CHUNK) {
      const chunk = unique.slice(start, start + MOVE_CHUNK);
      const range = chunk.join(',');
      const what = `cannot move ${chunk.length} message(s) from "${opened.path}" to "${folder}"`;
      try {
        if (canMove) {
          if (!(await client.messageMove(range, folder, { uid: true }))) throw new Error('MOVE failed');
        } else {
          // Copy first: if anything below fails, the message exists twice, never zero times.
          if (!(await client.messageCopy(range, folder, { uid: true }))) throw new Error('COPY failed');
          if (canUidExpunge) {
            // \Deleted + UID EXPUNGE of exactly this range (imapflow uses UID EXPUNGE with UIDPLUS).
            if (!(await client.messageDelete(range, { uid: true }))) throw new Error('UID EXPUNGE failed');
          } else if (!(await client.messageFlagsAdd(range, ['\\Deleted'], { uid: true }))) {
            throw new Error('STORE \\Deleted failed');
          }
        }
        // Verify: none of these UIDs may still be waiting in the mailbox.
        const left = await client.search({ uid: range, deleted: false }, { uid: true });
        if (left === false || left === undefined) throw new Error('SEARCH failed');
        if (left.length > 0) throw new Error(`UID(s) ${left.join(',')} still in "${opened.path}"`);
      } catch (error) {
        throw fail('move', what, error);
      }
    }
    const how = canMove ? 'MOVE' : canUidExpunge ? 'COPY+UID EXPUNGE' : 'COPY+\\Deleted (no UIDPLUS: left for the next EXPUNGE)';
    say(`IMAP moved ${unique.length} message(s) from "${opened.path}" to "${folder}" (${how})`);
  }

  let closed = false;
  async function close(): Promise<void> {
    if (closed) return;
    closed = true;
    try {
      await client.logout();
    } catch {
      client.close(); // the connection is gone already; just drop it
    }
  }

  return { messages, moveTo, close };
}
