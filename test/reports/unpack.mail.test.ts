/** Mail: attachments and encodings, forwarded messages, failure and TLS reports, mbox and Maildir. */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync, zipSync } from 'fflate';
import { afterAll, describe, expect, it } from 'vitest';
import { mailboxKind, splitMailbox, unpackBytes, unpackFile } from '../../scripts/reports/unpack/index.ts';
import type { MailboxMessage } from '../../scripts/reports/unpack/index.ts';
import { arfReport, enc, gzipBomb, mail, readText, reportXml } from '../fixtures/unpack/make.ts';

const xml = reportXml('r-1', 2);
const headers = (subject: string, id: string) => ({
  From: 'noreply-dmarc@receiver.example',
  To: 'rua@example.com',
  Subject: subject,
  'Message-ID': `<${id}@receiver.example>`,
  Date: 'Thu, 1 Jan 2026 10:00:00 +0000',
});
const zipReport = zipSync({ 'google.com!example.com!1!2.xml': enc(xml) });
const reportMail = (id: string) =>
  mail(headers(`Report domain: example.com Submitter: receiver.example Report-ID: ${id}`, id), [
    { type: 'text/plain', body: 'This is an aggregate report from receiver.example.' },
    { type: 'application/zip', filename: 'google.com!example.com!1!2.zip', body: zipReport, encoding: 'base64' },
  ]);

const temp = mkdtempSync(join(tmpdir(), 'unpack-mail-'));
afterAll(() => rmSync(temp, { recursive: true, force: true }));

describe('mail messages', () => {
  it('finds a base64 zip attachment and ignores the text summary', async () => {
    const r = await unpackBytes(reportMail('42'), 'msg.eml');
    expect(r.problems).toEqual([]);
    expect(r.kind).toBe('aggregate');
    const [p] = r.payloads;
    expect(p!.trail).toEqual(['msg.eml', 'attachment google.com!example.com!1!2.zip', 'google.com!example.com!1!2.xml']);
    expect(p!.mail).toEqual({
      subject: 'Report domain: example.com Submitter: receiver.example Report-ID: 42',
      messageId: '<42@receiver.example>',
      from: 'noreply-dmarc@receiver.example',
      date: '2026-01-01T10:00:00.000Z',
    });
    expect(await readText(p!)).toBe(xml);
  });

  it('decodes a quoted-printable XML attachment labelled text/plain, and a gzip sent as application/octet-stream', async () => {
    const long = reportXml('qp-é', 1, 'a-rather-long-domain-name-so-that-lines-need-soft-breaks.example.com');
    const bytes = mail(headers('QP', 'qp'), [
      { type: 'text/plain; charset=utf-8', filename: 'report.xml', body: long, encoding: 'quoted-printable' },
      { type: 'application/octet-stream', filename: 'x.xml.gz', body: gzipSync(enc(xml), { filename: 'amazon.xml' }), encoding: 'base64' },
    ]);
    const r = await unpackBytes(bytes, 'qp.eml');
    expect(r.payloads.map((p) => p.trail.slice(1))).toEqual([['attachment report.xml'], ['attachment x.xml.gz', 'amazon.xml']]);
    // Line ends of a decoded text body are the MIME decoder's business: compare the text.
    expect((await readText(r.payloads[0]!)).replace(/\r\n/g, '\n').trimEnd()).toBe(long.trimEnd());
    expect(await readText(r.payloads[1]!)).toBe(xml);
  });

  it('reads a single-part message whose whole body is the gzip', async () => {
    const bytes = mail(headers('Report', 'single'), [
      { type: 'application/gzip', filename: 'r.xml.gz', body: gzipSync(enc(xml)), encoding: 'base64' },
    ]);
    const r = await unpackBytes(bytes, 'single.eml');
    expect(r.payloads.map((p) => p.trail)).toEqual([['single.eml', 'attachment r.xml.gz', 'r.xml']]);
  });

  it('recurses into a forwarded message/rfc822 and names the inner message', async () => {
    const forward = mail(headers('Fwd: a report', 'fwd'), [
      { type: 'text/plain', body: 'See the attached report.' },
      { type: 'message/rfc822', body: new TextDecoder().decode(reportMail('inner')) },
    ]);
    const r = await unpackBytes(forward, 'fwd.eml');
    expect(r.problems).toEqual([]);
    expect(r.payloads.map((p) => p.trail)).toEqual([
      ['fwd.eml', 'attached message', 'attachment google.com!example.com!1!2.zip', 'google.com!example.com!1!2.xml'],
    ]);
    expect(r.payloads[0]!.mail?.messageId).toBe('<inner@receiver.example>');
    expect(await readText(r.payloads[0]!)).toBe(xml);
  });

  it('says which message has no report, and does not warn about each logo', async () => {
    const bytes = mail(headers('Your invoice', 'invoice-7'), [
      { type: 'text/html', body: '<html><body>Invoice</body></html>' },
      { type: 'image/png', filename: 'logo.png', body: new Uint8Array([0x89, 0x50, 0x4e, 0x47, 13, 10, 26, 10]), encoding: 'base64' },
    ]);
    const r = await unpackBytes(bytes, 'invoice.eml');
    expect(r.kind).toBe('other');
    expect(r.payloads).toEqual([]);
    expect(r.problems).toHaveLength(1);
    expect(r.problems[0]!.code).toBe('not-a-report');
    expect(r.problems[0]!.message).toMatch(/no DMARC aggregate report in message "Your invoice" <invoice-7@receiver\.example>.*logo\.png/);
  });

  it('recognises a failure report (ARF) and does not look inside it', async () => {
    const r = await unpackBytes(arfReport(reportMail('carried')), 'ruf.eml');
    expect(r.kind).toBe('failure');
    expect(r.payloads).toEqual([]); // the carried message holds a report, but failure reports are never unpacked
    expect(r.problems).toEqual([
      { code: 'not-a-report', trail: ['ruf.eml'], message: expect.stringMatching(/failure report \(ARF\).*personal data/) },
    ]);
  });

  it('unpacks TLS-RPT (RFC 8460 §5.3) to a JSON payload of kind tls: from its mail, gzipped or not, and from a bare JSON file', async () => {
    const text = '{"organization-name":"receiver.example","date-range":{},"report-id":"1","policies":[]}';
    const json = enc(text);
    const tlsMail = mail(
      headers('Report Domain: example.com Submitter: receiver.example', 'tls'),
      [
        { type: 'text/plain', body: 'TLS report' },
        { type: 'application/tlsrpt+gzip', filename: 'receiver.example!example.com!1!2.json.gz', body: gzipSync(json), encoding: 'base64' },
      ],
      'multipart/report; report-type=tlsrpt',
    );
    const a = await unpackBytes(tlsMail, 'tls.eml');
    expect([a.kind, a.payloads.map((p) => [p.kind, p.trail]), a.problems]).toEqual([
      'tls',
      [['tls', ['tls.eml', 'attachment receiver.example!example.com!1!2.json.gz', 'receiver.example!example.com!1!2.json']]],
      [],
    ]);
    expect(await readText(a.payloads[0]!)).toBe(text);
    const plain = await unpackBytes(
      mail(
        headers('Report Domain: example.com', 'tls-json'),
        [{ type: 'application/tlsrpt+json', filename: 'r.json', body: json }],
        'multipart/report; report-type=tlsrpt',
      ),
      'plain.eml',
    );
    expect(plain.payloads.map((p) => p.kind)).toEqual(['tls']);
    const b = await unpackBytes(gzipSync(json), 'x.json.gz');
    expect([b.kind, b.payloads.map((p) => p.kind), await readText(b.payloads[0]!)]).toEqual(['tls', ['tls'], text]);
    // Aggregate and TLS reports side by side in one mail: one payload each, the mail counts as aggregate.
    const both = await unpackBytes(
      mail(headers('Reports', 'both'), [
        { type: 'application/gzip', filename: 'r.xml.gz', body: gzipSync(enc(xml)), encoding: 'base64' },
        { type: 'application/tlsrpt+json', filename: 'r.json', body: json },
      ]),
      'both.eml',
    );
    expect([both.kind, both.payloads.map((p) => p.kind)]).toEqual(['aggregate', ['aggregate', 'tls']]);
  });

  it('a TLS report mail without a report, and JSON that is no report, are problems with reasons', async () => {
    const empty = await unpackBytes(
      mail(
        headers('Report Domain: example.com', 'tls-empty'),
        [{ type: 'text/plain', body: 'no report today' }],
        'multipart/report; report-type=tlsrpt',
      ),
      'empty.eml',
    );
    expect([empty.kind, empty.payloads, empty.problems.map((p) => p.message)]).toEqual([
      'tls',
      [],
      [expect.stringMatching(/no TLS report \(RFC 8460\) in message/)],
    ]);
    const other = await unpackBytes(enc('{"name": "not a report"}'), 'x.json');
    expect([other.kind, other.problems.map((p) => p.message)]).toEqual([
      'other',
      ['x.json: is JSON that is neither a DMARC report nor a TLS report'],
    ]);
  });

  it('the limits apply to TLS reports: a gzip bomb in a TLS mail is refused while it streams', async () => {
    const bomb = gzipBomb(64 * 1024 * 1024, enc('{"organization-name":"x","policies":['));
    const r = await unpackBytes(
      mail(
        headers('Report Domain: example.com', 'tls-bomb'),
        [{ type: 'application/tlsrpt+gzip', filename: 'r.json.gz', body: bomb, encoding: 'base64' }],
        'multipart/report; report-type=tlsrpt',
      ),
      'bomb.eml',
    );
    expect([r.kind, r.payloads, r.problems.map((p) => p.code)]).toEqual(['tls', [], ['limit-ratio']]);
  });
});

describe('mbox', () => {
  // Message 2 carries an uncompressed XML attachment with a line that starts with "From ": the mbox
  // writer quoted it as ">From ". Message 3 has a ">>From " line (mboxrd), which must lose one ">".
  const attachedXml = xml.replace('<feedback>', '<feedback>\n<!--\nFrom now on, reports come daily\n-->');
  const messages = [
    reportMail('m1'),
    mail(headers('Report 2', 'm2'), [
      { type: 'text/plain', body: 'Summary' },
      { type: 'text/xml', filename: 'm2.xml', body: attachedXml },
    ]),
    mail(headers('Report 3', 'm3'), [
      { type: 'text/plain', body: '>From the archive' },
      { type: 'application/gzip', filename: 'm3.xml.gz', body: gzipSync(enc(xml)), encoding: 'base64' },
    ]),
  ];
  const quote = (m: Uint8Array) => new TextDecoder().decode(m).replace(/^(>*From )/gm, '>$1');
  const mbox = enc(messages.map((m) => `From MAILER-DAEMON Thu Jan  1 10:00:00 2026\n${quote(m).replace(/\r\n/g, '\n')}\n`).join('\n'));

  it('splits an mbox into messages and unquotes >From lines', async () => {
    const r = await unpackBytes(mbox, 'inbox.mbox');
    expect(r.problems).toEqual([]);
    expect(r.payloads.map((p) => p.trail.slice(0, 2))).toEqual([
      ['inbox.mbox', 'message 1'],
      ['inbox.mbox', 'message 2'],
      ['inbox.mbox', 'message 3'],
    ]);
    const second = await readText(r.payloads[1]!);
    expect(second).toContain('\nFrom now on, reports come daily\n');
    expect(second).not.toContain('>From');
  });

  it('streams an mbox file message by message (splitMailbox), and unpackFile reads it too', async () => {
    const path = join(temp, 'inbox.mbox');
    writeFileSync(path, mbox);
    expect(await mailboxKind(path)).toBe('mbox');
    const got: MailboxMessage[] = [];
    for await (const m of splitMailbox(path)) got.push(m);
    expect(got.map((m) => m.name)).toEqual([`${path}#1`, `${path}#2`, `${path}#3`]);
    const third = new TextDecoder().decode(got[2]!.bytes);
    expect(third).toContain('\n>From the archive'); // ">>From" → ">From"
    expect(third.startsWith('MIME-Version: 1.0\n')).toBe(true); // the From_ line is not part of the message
    expect(third.endsWith('--\n')).toBe(true); // nor is the blank separator line
    const r = await unpackFile(path);
    expect(r.payloads.map((p) => p.trail[0])).toEqual([`${path}#1`, `${path}#2`, `${path}#3`]);
  });

  it('splits an mbox with CRLF line ends', async () => {
    const crlf = enc(new TextDecoder().decode(mbox).replace(/\n/g, '\r\n'));
    const r = await unpackBytes(crlf, 'crlf.mbox');
    expect(r.payloads).toHaveLength(3);
    expect(await readText(r.payloads[2]!)).toBe(xml);
  });
});

describe('Maildir', () => {
  it('reads new/ and cur/ and Maildir++ subfolders, never tmp/', async () => {
    const root = join(temp, 'Maildir');
    for (const dir of ['new', 'cur', 'tmp', '.Reports/cur', '.Reports/new', '.Reports/tmp'])
      mkdirSync(join(root, dir), { recursive: true });
    writeFileSync(join(root, 'new', '1767261600.M1P1.host'), reportMail('new'));
    writeFileSync(join(root, 'cur', '1767261601.M2P1.host:2,S'), reportMail('cur'));
    writeFileSync(join(root, 'tmp', '1767261602.M3P1.host'), reportMail('tmp').subarray(0, 200)); // still being delivered
    writeFileSync(join(root, '.Reports', 'cur', '1767261603.M4P1.host:2,S'), reportMail('sub'));
    expect(await mailboxKind(root)).toBe('maildir');
    expect(await mailboxKind(temp)).toBeUndefined();

    const names: string[] = [];
    for await (const m of splitMailbox(root)) names.push(m.name.slice(root.length + 1));
    expect(names).toEqual(['new/1767261600.M1P1.host', 'cur/1767261601.M2P1.host:2,S', '.Reports/cur/1767261603.M4P1.host:2,S']);

    const r = await unpackFile(root);
    expect(r.problems).toEqual([]);
    expect(r.payloads.map((p) => p.mail?.messageId)).toEqual([
      '<new@receiver.example>',
      '<cur@receiver.example>',
      '<sub@receiver.example>',
    ]);
  });

  it('reports an oversized message instead of reading it', async () => {
    const root = join(temp, 'Big');
    mkdirSync(join(root, 'new'), { recursive: true });
    writeFileSync(join(root, 'new', 'big'), reportMail('big'));
    const got: MailboxMessage[] = [];
    for await (const m of splitMailbox(root, { maxMessageBytes: 100 })) got.push(m);
    expect(got).toHaveLength(1);
    expect(got[0]!.bytes).toHaveLength(0);
    expect(got[0]!.error?.code).toBe('limit-size');
  });
});
