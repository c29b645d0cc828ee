/**
 * The IMAP source against a real Dovecot (started here; needs `dovecot-imapd` and `openssl`):
 * plain, implicit TLS and STARTTLS, batching, moves, the fallback without MOVE, errors.
 * Each test reads its own folder so the tests stay independent on one server.
 */
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { imapConfigFromEnv, ImapSourceError, openImapSource } from '../../scripts/reports/sources/imap.ts';
import type { ImapConfig, ImapSource, MailboxMessage } from '../../scripts/reports/sources/imap.ts';
import { startDovecot } from '../services/dovecot.ts';
import type { DovecotServer } from '../services/dovecot.ts';

/** A report-like mail with CRLF line ends, raw 8-bit text and a gzip attachment; `padding` bytes make it big. */
function mail(n: number, padding = 0): Buffer {
  const xml = `<?xml version="1.0"?><feedback><report_metadata><org_name>example.org</org_name><report_id>r-${n}</report_id></report_metadata></feedback>`;
  const attachment = gzipSync(xml).toString('base64').replace(/.{76}/g, '$&\r\n');
  const filler =
    padding > 0
      ? 'x'
          .repeat(75)
          .concat('\r\n')
          .repeat(Math.ceil(padding / 77))
      : '';
  return Buffer.from(
    [
      'From: DMARC <noreply-dmarc@example.org>',
      'To: reports@example.test',
      `Subject: Report domain: example.test Submitter: example.org Report-ID: r-${n}`,
      `Message-ID: <r-${n}@example.org>`,
      'Date: Wed, 15 Nov 2023 00:00:00 +0000',
      'MIME-Version: 1.0',
      'Content-Type: multipart/mixed; boundary="b"',
      '',
      '--b',
      'Content-Type: text/plain; charset=utf-8',
      'Content-Transfer-Encoding: 8bit',
      '',
      `Grüße, report ${n}.   `, // trailing spaces and 8-bit bytes must survive
      filler,
      '--b',
      `Content-Type: application/gzip; name="example.org!example.test!${n}.xml.gz"`,
      'Content-Transfer-Encoding: base64',
      '',
      attachment,
      '--b--',
      '',
    ].join('\r\n'),
  );
}

const subjectOf = (n: number) => `Report domain: example.test Submitter: example.org Report-ID: r-${n}`;

let server: DovecotServer;
const logs: string[] = [];
const open: ImapSource[] = [];

function config(overrides: Partial<ImapConfig> = {}): ImapConfig {
  return {
    host: server.host,
    port: server.port,
    secure: false,
    starttls: false,
    user: server.user,
    password: server.password,
    mailbox: 'INBOX',
    processedFolder: 'Processed',
    invalidFolder: 'Invalid',
    rejectUnauthorized: true,
    ...overrides,
  };
}

async function connect(overrides: Partial<ImapConfig> = {}): Promise<ImapSource> {
  const source = await openImapSource(config(overrides), (line) => logs.push(line));
  open.push(source);
  return source;
}

async function fill(folder: string, numbers: number[]): Promise<Map<number, Buffer>> {
  const sent = new Map<number, Buffer>();
  for (const n of numbers) {
    const bytes = mail(n);
    await server.appendMessage(folder, bytes);
    sent.set(n, bytes);
  }
  return sent;
}

async function collect(iterable: AsyncIterable<MailboxMessage>): Promise<MailboxMessage[]> {
  const all: MailboxMessage[] = [];
  for await (const message of iterable) all.push(message);
  return all;
}

async function rejection(promise: Promise<unknown>): Promise<ImapSourceError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ImapSourceError);
  return error as ImapSourceError;
}

beforeAll(async () => {
  server = await startDovecot();
});

afterAll(async () => {
  await Promise.allSettled(open.map((source) => source.close()));
  await server?.stop();
  // Nothing this suite logged may contain the password.
  expect(logs.join('\n')).not.toContain(server.password);
});

describe('reading', () => {
  test('plain IMAP: 5 messages oldest first, byte-identical, in batches of 2', async () => {
    const sent = await fill('INBOX', [1, 2, 3, 4, 5]);
    const source = await connect();
    const fetches: number[][] = [];
    const messages = await collect(source.messages({ batchSize: 2, onFetch: (uids) => fetches.push(uids) }));

    expect(messages.map((m) => m.uid)).toEqual([1, 2, 3, 4, 5]);
    expect(fetches).toEqual([[1, 2], [3, 4], [5]]);
    for (const [i, message] of messages.entries()) {
      const bytes = sent.get(i + 1)!;
      expect(Buffer.from(message.source).equals(bytes)).toBe(true);
      expect(message.size).toBe(bytes.length);
      expect(message.subject).toBe(subjectOf(i + 1));
      expect(message.messageId).toBe(`<r-${i + 1}@example.org>`);
      expect(message.internalDate).toBeInstanceOf(Date);
      expect(message.error).toBeUndefined();
      expect(message.ref).toMatch(new RegExp(`^imap://127\\.0\\.0\\.1:${server.port}/INBOX;UIDVALIDITY=\\d+/;UID=${i + 1}$`));
    }
    // Reading does not consume: the mailbox still holds everything, unflagged.
    expect((await server.listFolder('INBOX')).map((m) => m.uid)).toEqual([1, 2, 3, 4, 5]);
  });

  test('maxBatchBytes splits a batch by size, keeping UID order', async () => {
    await fill('bytes', [1, 2, 3, 4]);
    const source = await connect({ mailbox: 'bytes' });
    const size = mail(1).length;
    const fetches: number[][] = [];
    const uids = (await collect(source.messages({ batchSize: 10, maxBatchBytes: 2 * size + 10, onFetch: (u) => fetches.push(u) }))).map(
      (m) => m.uid,
    );
    expect(uids).toEqual([1, 2, 3, 4]);
    expect(fetches).toEqual([
      [1, 2],
      [3, 4],
    ]);
  });

  test('moving each message right after reading it (as the pipeline does) skips none', async () => {
    await fill('live', [1, 2, 3, 4, 5]);
    const source = await connect({ mailbox: 'live' });
    const seen: number[] = [];
    for await (const message of source.messages({ batchSize: 2 })) {
      seen.push(message.uid);
      await source.moveTo([message.uid], message.uid % 2 ? 'Processed-live' : 'Invalid-live');
    }
    expect(seen).toEqual([1, 2, 3, 4, 5]);
    expect(await server.listFolder('live')).toEqual([]);
    expect((await server.listFolder('Processed-live')).map((m) => m.subject)).toEqual([1, 3, 5].map(subjectOf));
    expect((await server.listFolder('Invalid-live')).map((m) => m.subject)).toEqual([2, 4].map(subjectOf));
  });

  test('a message over maxMessageBytes is yielded with a limit-size error, not downloaded, and can go to Invalid', async () => {
    await server.appendMessage('big', mail(1));
    await server.appendMessage('big', mail(2, 300_000));
    await server.appendMessage('big', mail(3));
    const source = await connect({ mailbox: 'big' });
    const fetches: number[][] = [];
    const messages = await collect(source.messages({ maxMessageBytes: 100_000, onFetch: (u) => fetches.push(u) }));

    expect(messages.map((m) => m.uid)).toEqual([1, 2, 3]);
    const big = messages[1]!;
    expect(big.error?.code).toBe('limit-size');
    expect(big.error?.message).toMatch(/over the 97\.7 KiB limit/);
    expect(big.source.length).toBe(0);
    expect(big.size).toBeGreaterThan(300_000);
    expect(big.subject).toBe(subjectOf(2));
    expect(fetches.flat()).not.toContain(2);
    expect(messages[2]!.error).toBeUndefined();

    await source.moveTo([big.uid], 'Invalid');
    expect((await collect(source.messages({ maxMessageBytes: 100_000 }))).map((m) => m.uid)).toEqual([1, 3]);
    expect((await server.listFolder('Invalid')).map((m) => m.subject)).toContain(subjectOf(2));
  });

  test('an empty folder yields nothing; a missing one fails clearly', async () => {
    await server.doveadm(['mailbox', 'create', '-u', server.user, 'empty']);
    expect(await collect((await connect({ mailbox: 'empty' })).messages())).toEqual([]);
    const error = await rejection(connect({ mailbox: 'NoSuchFolder' }));
    expect(error.kind).toBe('mailbox');
    expect(error.message).toContain(`127.0.0.1:${server.port}`);
    expect(error.message).toContain('NoSuchFolder');
  });
});

describe('moving', () => {
  test('moveTo Processed and Invalid creates the folders and removes exactly those UIDs', async () => {
    const sent = await fill('move', [1, 2, 3, 4, 5]);
    const source = await connect({ mailbox: 'move' });
    await source.moveTo([3, 1], 'Processed-move');
    await source.moveTo([5], 'Invalid-move');
    await source.moveTo([], 'Invalid-move'); // no-op

    const folders = await server.listFolders();
    expect(folders).toEqual(expect.arrayContaining(['Processed-move', 'Invalid-move']));
    expect((await server.listFolder('move')).map((m) => m.uid)).toEqual([2, 4]);
    expect((await server.listFolder('Processed-move')).map((m) => m.messageId)).toEqual(['<r-1@example.org>', '<r-3@example.org>']);
    expect((await server.listFolder('Invalid-move')).map((m) => m.messageId)).toEqual(['<r-5@example.org>']);
    expect((await collect(source.messages())).map((m) => m.uid)).toEqual([2, 4]);

    // Moved bytes are untouched.
    const processed = await collect((await connect({ mailbox: 'Processed-move' })).messages());
    expect(processed.map((m) => Buffer.from(m.source).equals(sent.get(Number(m.messageId?.match(/r-(\d)/)?.[1]))!))).toEqual([true, true]);

    // A UID already moved away is not an error and touches nothing else.
    await source.moveTo([1], 'Processed-move');
    expect((await server.listFolder('move')).map((m) => m.uid)).toEqual([2, 4]);
    expect((await server.listFolder('Processed-move')).length).toBe(2);

    expect((await rejection(source.moveTo([2], 'move'))).kind).toBe('move');
    expect(logs.some((line) => line.includes('created folder "Processed-move"'))).toBe(true);
  });

  test('after the server changes UIDVALIDITY, moveTo refuses and moves nothing', async () => {
    await fill('epoch', [1, 2]);
    const source = await connect({ mailbox: 'epoch' });
    expect((await collect(source.messages())).length).toBe(2);
    await server.doveadm(['mailbox', 'update', '-u', server.user, '--uid-validity', '4242', 'epoch']);
    // Dovecot drops a session whose selected mailbox changed UIDVALIDITY; either way nothing may move.
    const error = await rejection(source.moveTo([1], 'Processed-epoch'));
    expect(['uidvalidity', 'move', 'mailbox']).toContain(error.kind);
    expect((await server.listFolder('epoch')).map((m) => m.uid)).toEqual([1, 2]);
    expect(await server.listFolder('Processed-epoch').catch(() => [])).toEqual([]);
  });
});

describe('TLS', () => {
  test('implicit TLS with the test CA reads byte-identical messages', async () => {
    const sent = await fill('tls', [1, 2]);
    const source = await connect({ mailbox: 'tls', port: server.tlsPort, secure: true, ca: server.caFile });
    const messages = await collect(source.messages());
    expect(messages.map((m) => Buffer.from(m.source).equals(sent.get(m.uid)!))).toEqual([true, true]);
    expect(logs.some((line) => line.includes(`127.0.0.1:${server.tlsPort} (TLS)`))).toBe(true);
    await source.moveTo([1], 'Processed-tls');
    expect((await server.listFolder('tls')).map((m) => m.uid)).toEqual([2]);
  });

  test('STARTTLS on the plain port with the test CA', async () => {
    await fill('starttls', [1]);
    const source = await connect({ mailbox: 'starttls', starttls: true, ca: server.caFile });
    expect((await collect(source.messages())).map((m) => m.subject)).toEqual([subjectOf(1)]);
  });

  test('TLS without the CA (rejectUnauthorized) fails with a clear error', async () => {
    for (const overrides of [{ port: server.tlsPort, secure: true }, { starttls: true }]) {
      const error = await rejection(connect(overrides));
      expect(error.kind).toBe('tls');
      expect(error.message).toContain(`127.0.0.1:${overrides.port ?? server.port}`);
      expect(error.message).toMatch(/self-signed/);
      expect(error.message).toContain('DMARCOPS_IMAP_CA_FILE');
      expect(error.message).not.toContain(server.password);
    }
  });

  test('rejectUnauthorized=false accepts the unknown certificate', async () => {
    const source = await connect({ port: server.tlsPort, secure: true, rejectUnauthorized: false });
    await source.close();
    await source.close(); // idempotent
  });
});

describe('errors', () => {
  test('a bad password gives host:port and the server response, never the password', async () => {
    const wrong = 'Wr0ng-Secret-4711';
    const error = await rejection(connect({ password: wrong }));
    expect(error.kind).toBe('auth');
    expect(error.message).toContain(`127.0.0.1:${server.port}`);
    expect(error.message).toContain('Authentication failed');
    expect(error.message).not.toContain(wrong);
    expect(JSON.stringify(error)).not.toContain(wrong);
    expect(String(error.stack)).not.toContain(wrong);
    expect(error.cause).toBeUndefined();
    expect(logs.join('\n')).not.toContain(wrong);
  });

  test('nobody listening gives a connect error with host:port', async () => {
    const error = await rejection(connect({ port: 1 }));
    expect(error.kind).toBe('connect');
    expect(error.message).toContain('127.0.0.1:1');
    expect(error.message).toContain('ECONNREFUSED');
  });

  test('an unreadable CA file is a config error', async () => {
    const error = await rejection(connect({ secure: true, port: server.tlsPort, ca: '/nonexistent/ca.pem' }));
    expect(error.kind).toBe('config');
    expect(error.message).toContain('/nonexistent/ca.pem');
  });
});

describe('fallback without MOVE', () => {
  const base = 'IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE NAMESPACE LITERAL+ CONDSTORE ESEARCH';
  for (const [name, capability] of [
    ['UIDPLUS: COPY + \\Deleted + UID EXPUNGE', `${base} UIDPLUS`],
    ['neither MOVE nor UIDPLUS: COPY + \\Deleted, no EXPUNGE', base],
  ] as const) {
    test(name, async () => {
      const other = await startDovecot({ imapCapability: capability });
      try {
        for (const n of [1, 2, 3, 4]) await other.appendMessage('INBOX', mail(n));
        // Someone else's \Deleted message: a plain EXPUNGE would take it too.
        await other.doveadm(['flags', 'add', '-u', other.user, '\\Deleted', 'mailbox', 'INBOX', 'uid', '4']);
        const source = await openImapSource(
          config({ host: other.host, port: other.port, user: other.user, password: other.password }),
          (line) => logs.push(line),
        );
        try {
          expect((await collect(source.messages())).map((m) => m.uid)).toEqual([1, 2, 3]);
          await source.moveTo([1, 2], 'Processed');
          expect((await collect(source.messages())).map((m) => m.uid)).toEqual([3]);
        } finally {
          await source.close();
        }
        expect((await other.listFolder('Processed')).map((m) => m.subject)).toEqual([1, 2].map(subjectOf));
        const left = (await other.listFolder('INBOX')).map((m) => m.uid);
        expect(left).toEqual(capability.includes('UIDPLUS') ? [3, 4] : [1, 2, 3, 4]);
      } finally {
        await other.stop();
      }
    });
  }
});

describe('imapConfigFromEnv', () => {
  const env = { DMARCOPS_IMAP_HOST: 'imap.example.test', DMARCOPS_IMAP_USER: 'dmarc', DMARCOPS_IMAP_PASSWORD: ' pa ss ' };

  test('defaults: implicit TLS on 993, INBOX → Processed / Invalid, certificates verified', () => {
    expect(imapConfigFromEnv(env)).toEqual({
      host: 'imap.example.test',
      port: 993,
      secure: true,
      starttls: false,
      user: 'dmarc',
      password: ' pa ss ',
      mailbox: 'INBOX',
      processedFolder: 'Processed',
      invalidFolder: 'Invalid',
      rejectUnauthorized: true,
      ca: undefined,
    });
  });

  test('all variables, and overrides win', () => {
    const config = imapConfigFromEnv(
      {
        ...env,
        DMARCOPS_IMAP_TLS: 'starttls',
        DMARCOPS_IMAP_PORT: '1143',
        DMARCOPS_IMAP_MAILBOX: 'Reports',
        DMARCOPS_IMAP_PROCESSED_FOLDER: 'Reports/Done',
        DMARCOPS_IMAP_INVALID_FOLDER: 'Reports/Bad',
        DMARCOPS_IMAP_CA_FILE: '/etc/ca.pem',
        DMARCOPS_IMAP_TLS_REJECT_UNAUTHORIZED: 'false',
      },
      { invalidFolder: 'Quarantine', host: undefined },
    );
    expect(config).toMatchObject({
      host: 'imap.example.test',
      port: 1143,
      secure: false,
      starttls: true,
      mailbox: 'Reports',
      processedFolder: 'Reports/Done',
      invalidFolder: 'Quarantine',
      ca: '/etc/ca.pem',
      rejectUnauthorized: false,
    });
    expect(imapConfigFromEnv({ ...env, DMARCOPS_IMAP_TLS: 'none' })).toMatchObject({ port: 143, secure: false, starttls: false });
  });

  test('missing variables are named, values never shown', () => {
    const error = (() => {
      try {
        imapConfigFromEnv({ DMARCOPS_IMAP_PASSWORD: 'Sekr1t-value', DMARCOPS_IMAP_USER: '  ' });
      } catch (e) {
        return e as ImapSourceError;
      }
      throw new Error('no error');
    })();
    expect(error).toBeInstanceOf(ImapSourceError);
    expect(error.kind).toBe('config');
    expect(error.message).toContain('DMARCOPS_IMAP_HOST');
    expect(error.message).toContain('DMARCOPS_IMAP_USER');
    expect(error.message).not.toContain('DMARCOPS_IMAP_PASSWORD');
    expect(error.message).not.toContain('Sekr1t-value');
    expect(() => imapConfigFromEnv({}, { host: 'h', user: 'u' })).toThrow(/DMARCOPS_IMAP_PASSWORD/);
    expect(() => imapConfigFromEnv({}, { host: 'h', user: 'u', password: 'p' })).not.toThrow();
  });

  test('bad values name the variable only', () => {
    expect(() => imapConfigFromEnv({ ...env, DMARCOPS_IMAP_PORT: 'abc123' })).toThrow(/^DMARCOPS_IMAP_PORT must be a port number/);
    expect(() => imapConfigFromEnv({ ...env, DMARCOPS_IMAP_PORT: '70000' })).toThrow(/DMARCOPS_IMAP_PORT/);
    expect(() => imapConfigFromEnv({ ...env, DMARCOPS_IMAP_TLS: 'ssl' })).toThrow(
      /DMARCOPS_IMAP_TLS must be one of: implicit, starttls, none/,
    );
    expect(() => imapConfigFromEnv({ ...env, DMARCOPS_IMAP_TLS_REJECT_UNAUTHORIZED: 'maybe' })).toThrow(
      /DMARCOPS_IMAP_TLS_REJECT_UNAUTHORIZED/,
    );
    try {
      imapConfigFromEnv({ ...env, DMARCOPS_IMAP_PORT: 'abc123' });
    } catch (e) {
      expect((e as Error).message).not.toContain('abc123');
    }
  });

  test('a config from the environment opens the real server', async () => {
    const fromEnv = imapConfigFromEnv({
      DMARCOPS_IMAP_HOST: server.host,
      DMARCOPS_IMAP_PORT: String(server.tlsPort),
      DMARCOPS_IMAP_USER: server.user,
      DMARCOPS_IMAP_PASSWORD: server.password,
      DMARCOPS_IMAP_CA_FILE: server.caFile,
    });
    const source = await openImapSource(fromEnv);
    await source.close();
  });
});
