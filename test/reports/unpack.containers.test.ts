/** Sniffing and the containers: gzip (members, junk, nesting), zlib, zip (folders, empty members, nesting). */
import { gzipSync, zipSync, zlibSync } from 'fflate';
import { describe, expect, it } from 'vitest';
import { bytesSource, gunzipStream, inflateStream } from '../../scripts/reports/unpack/decompress.ts';
import type { StreamContext } from '../../scripts/reports/unpack/decompress.ts';
import { DEFAULT_LIMITS, unpackBytes } from '../../scripts/reports/unpack/index.ts';
import { sniff, xmlRootProblem } from '../../scripts/reports/unpack/sniff.ts';
import { concat, enc, readText, reportXml } from '../fixtures/unpack/make.ts';

describe('sniff', () => {
  const cases: [string, Uint8Array, ReturnType<typeof sniff>][] = [
    ['gzip magic', new Uint8Array([0x1f, 0x8b, 8, 0]), 'gzip'],
    ['zip local header', enc('PK\x03\x04rest'), 'zip'],
    ['empty zip (end record only)', enc('PK\x05\x06'), 'zip'],
    ['zlib 78 9c', new Uint8Array([0x78, 0x9c, 1, 2]), 'zlib'],
    ['text starting with x is not zlib', enc('x-mailer says hi'), 'unknown'],
    ['XML declaration', enc('<?xml version="1.0"?><feedback/>'), 'xml'],
    ['XML after BOM and blank lines', concat([new Uint8Array([0xef, 0xbb, 0xbf]), enc('\r\n  \t<feedback/>')]), 'xml'],
    ['UTF-16LE XML with BOM', new Uint8Array([0xff, 0xfe, 0x3c, 0, 0x66, 0]), 'xml'],
    ['mbox From_ line', enc('From MAILER-DAEMON Thu Jan  1 00:00:00 2026\nSubject: x\n'), 'mbox'],
    ['message starting with Received', enc('Received: from a by b;\r\n Thu, 1 Jan 2026\r\nSubject: x\r\n\r\nbody'), 'message'],
    ['message with lowercase headers', enc('return-path: <a@b>\nsubject: x\n\nbody'), 'message'],
    ['message starting with an unknown header, then a known one', enc('X-Mozilla-Status: 0001\nFrom: a@b\n\n'), 'message'],
    ['"From:" is a header, not an mbox separator', enc('From: a@b\n\n'), 'message'],
    ['message after a blank line', enc('\r\nSubject: x\r\n\r\n'), 'message'],
    ['key: value text without mail headers', enc('name: value\nother: thing\n'), 'unknown'],
    ['JSON', enc(' {"organization-name":"x"}'), 'json'],
    ['nothing', new Uint8Array(0), 'empty'],
    ['only whitespace', enc(' \n\t '), 'empty'],
    ['PNG', new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a]), 'unknown'],
  ];
  it.each(cases)('%s', (_, head, expected) => expect(sniff(head)).toBe(expected));

  it('accepts a <feedback> root (any prefix, after prolog, comments, doctype or junk) and names any other root', () => {
    expect(xmlRootProblem(enc('<?xml version="1.0"?>\n<!-- c -->\n<!DOCTYPE feedback [<!ENTITY a "b">]>\n<feedback>'))).toBeUndefined();
    expect(xmlRootProblem(enc('<?xml version="1.0"?>"\n<feedback>'))).toBeUndefined();
    expect(xmlRootProblem(enc('<dmarc:feedback xmlns:dmarc="urn:x">'))).toBeUndefined();
    expect(xmlRootProblem(enc('<?xml version="1.0"?><xs:schema xmlns:xs="x"><feedback>'))).toBeUndefined();
    expect(xmlRootProblem(enc('<?xml version="1.0"?>\n<invalid></invalid>'))).toMatch(/<invalid>/);
    expect(xmlRootProblem(enc('<html><body>summary</body></html>'))).toMatch(/<html>/);
    expect(xmlRootProblem(enc('<?xml version="1.0"?><!-- a comment that never ends'))).toBeUndefined();
  });
});

const xml = reportXml('r-1', 3);

describe('gzip and zlib', () => {
  it('gunzips, naming the payload from the gzip FNAME', async () => {
    const r = await unpackBytes(gzipSync(enc(xml), { filename: 'google.com!example.com!1!2.xml' }), 'att.gz');
    expect(r.problems).toEqual([]);
    expect(r.kind).toBe('aggregate');
    expect(r.payloads.map((p) => [p.name, p.trail])).toEqual([
      ['google.com!example.com!1!2.xml', ['att.gz', 'google.com!example.com!1!2.xml']],
    ]);
    expect(await readText(r.payloads[0]!)).toBe(xml);
    expect(r.payloads[0]!.notes).toEqual([]);
  });

  it('names a gzip without FNAME after the outer name minus .gz', async () => {
    const r = await unpackBytes(gzipSync(enc(xml)), 'x!y!1!2.xml.gz');
    expect(r.payloads[0]!.trail).toEqual(['x!y!1!2.xml.gz', 'x!y!1!2.xml']);
  });

  it('unwraps a double gzip', async () => {
    const r = await unpackBytes(gzipSync(gzipSync(enc(xml))), 'test.xml.gz.gz');
    expect(r.payloads[0]!.trail).toEqual(['test.xml.gz.gz', 'test.xml.gz', 'test.xml']);
    expect(await readText(r.payloads[0]!)).toBe(xml);
  });

  it('appends concatenated gzip members', async () => {
    const half = xml.length >> 1;
    const r = await unpackBytes(concat([gzipSync(enc(xml.slice(0, half))), gzipSync(enc(xml.slice(half)))]), 'two.xml.gz');
    expect(await readText(r.payloads[0]!)).toBe(xml);
    expect(r.payloads[0]!.notes).toEqual([]);
  });

  it('ignores junk after the gzip member, with a note (short junk, as in real reports, and longer junk)', async () => {
    const short = await unpackBytes(concat([gzipSync(enc(xml)), new Uint8Array([0x0d, 0x0a])]), 'a.xml.gz');
    expect(await readText(short.payloads[0]!)).toBe(xml);
    expect(short.payloads[0]!.notes).toEqual(['ignored 2 byte(s) of junk after the gzip member']);
    const long = await unpackBytes(concat([gzipSync(enc(xml)), enc('--boundary--\r\n')]), 'b.xml.gz');
    expect(await readText(long.payloads[0]!)).toBe(xml);
    expect(long.payloads[0]!.notes.join()).toMatch(/not another gzip member/);
    expect(long.problems).toEqual([]);
  });

  it('reports a truncated gzip as corrupt', async () => {
    const gz = gzipSync(enc(reportXml('r', 50)));
    const r = await unpackBytes(gz.subarray(0, gz.length >> 1), 'cut.xml.gz');
    expect(r.payloads).toEqual([]);
    expect(r.problems).toEqual([expect.objectContaining({ code: 'corrupt', trail: ['cut.xml.gz', 'cut.xml'] })]);
    expect(r.problems[0]!.message).toMatch(/damaged gzip data/);
  });

  // gzip goes through node:zlib, which checks more (CRC, length) and says less (trailing zeros)
  // than fflate: where they disagree, fflate decodes again and its verdict stands, as before.
  describe('node:zlib and fflate agree on odd gzip', () => {
    const big = reportXml('big', 5000); // ~2 MB: several chunks are delivered before the odd part
    const gz = gzipSync(enc(big));
    const flipped = (at: number) => {
      const copy = gz.slice();
      copy[at] = (copy[at] ?? 0) ^ 0xff;
      return copy;
    };
    const cases: [string, Uint8Array, string[]][] = [
      ['junk after a big member', concat([gz, enc('\r\n')]), ['ignored 2 byte(s) of junk after the gzip member']],
      [
        'zero bytes after the member',
        concat([gz, new Uint8Array(10)]),
        ['ignored data after the gzip member that is not another gzip member'],
      ],
      [
        'a wrong size in the trailer',
        flipped(gz.length - 2),
        ['gzip trailer does not match the data (damaged or missing trailer); data kept'],
      ],
      ['no trailer', gz.subarray(0, gz.length - 8), ['gzip trailer does not match the data (damaged or missing trailer); data kept']],
      ['many members', concat(Array.from({ length: 40 }, (_, i) => gzipSync(enc(big.slice(i * 50_000, (i + 1) * 50_000))))), []],
    ];
    it.each(cases)('%s', async (_, bytes, notes) => {
      const r = await unpackBytes(bytes, 'odd.xml.gz');
      expect(r.problems).toEqual([]);
      expect(await readText(r.payloads[0]!)).toBe(big);
      expect(r.payloads[0]!.notes).toEqual(notes);
    });

    // A CRC32 that does not match the data while the size does: altered data, refused (fflate
    // does not check the CRC itself; see unpack.gzip-integrity.test.ts).
    it('refuses a wrong CRC in the trailer', async () => {
      const r = await unpackBytes(flipped(gz.length - 6), 'odd.xml.gz');
      expect(r.payloads).toEqual([]);
      expect(r.problems).toEqual([expect.objectContaining({ code: 'corrupt', trail: ['odd.xml.gz', 'odd.xml'] })]);
      expect(r.problems[0]!.message).toMatch(
        /gzip data is corrupt: CRC32 of member 1 \(.*\) is 0x[0-9a-f]{8}, expected 0x[0-9a-f]{8} from its trailer/,
      );
    });

    // Stream by stream: the same bytes, notes and errors (damage fflate notices, and damage it does not).
    const damaged: [string, Uint8Array][] = [
      ...cases.map(([name, bytes]): [string, Uint8Array] => [name, bytes]),
      ['a wrong CRC', flipped(gz.length - 6)],
      ['cut in the middle', gz.subarray(0, gz.length >> 1)],
      ...[0.3, 0.5, 0.7, 0.9].map((at): [string, Uint8Array] => [`a byte flipped at ${at * 100} %`, flipped(Math.floor(gz.length * at))]),
      ['junk that starts like a member', concat([gz, new Uint8Array([0x1f, 0x8b, 1, 2, 3])])],
    ];
    it.each(damaged)('gunzipStream = inflateStream: %s', async (_, bytes) => {
      const verdict = async (stream: (ctx: StreamContext) => AsyncIterable<Uint8Array>) => {
        const notes: string[] = [];
        const parts: Uint8Array[] = [];
        try {
          for await (const chunk of stream({ limits: DEFAULT_LIMITS, trail: ['odd.xml.gz'], note: (note) => notes.push(note) }))
            parts.push(chunk);
          return { bytes: concat(parts), notes };
        } catch (error) {
          return { error: (error as Error).message, notes };
        }
      };
      const native = await verdict((ctx) => gunzipStream(bytesSource(bytes), ctx));
      expect(native).toEqual(await verdict((ctx) => inflateStream(bytesSource(bytes)(), 'gzip', ctx)));
    });
  });

  it('inflates a raw zlib stream', async () => {
    const r = await unpackBytes(zlibSync(enc(xml)), 'aol.zlib');
    expect(r.payloads.map((p) => p.trail)).toEqual([['aol.zlib', 'aol']]);
    expect(await readText(r.payloads[0]!)).toBe(xml);
  });

  it("rejects a gzip that holds text, naming its kind without quoting it (it may be anyone's mail)", async () => {
    const r = await unpackBytes(gzipSync(enc('unused 078-05-1120')), 'yahoo.xml.gz');
    expect(r.payloads).toEqual([]);
    expect(r.problems).toEqual([
      { code: 'not-a-report', trail: ['yahoo.xml.gz', 'yahoo.xml'], message: expect.stringContaining('(plain text)') },
    ]);
    expect(r.problems[0]?.message).not.toMatch(/unused|078/);
  });

  it.each([
    ['markup', '<3 Hi, see you', 'does not start with an XML element (markup)'],
    ['binary', '\u0000\u0001\u0002\u0003secret', 'binary data starting with bytes 00 01 02 03'],
  ])('names %s content by its kind only', async (_label, text, expected) => {
    const r = await unpackBytes(gzipSync(enc(text)), 'x.gz');
    expect(r.problems[0]?.message).toContain(expected);
    expect(r.problems[0]?.message).not.toMatch(/Hi|secret/);
  });
});

describe('zip', () => {
  it('reads every entry, in subfolders, skipping directory entries', async () => {
    const zip = zipSync({
      'reports/': {},
      'reports/2026/': {},
      'reports/2026/a.xml': enc(reportXml('a')),
      'subfolder.xml/': {},
      'subfolder.xml/b.xml': enc(reportXml('b')),
      'c.xml': enc(reportXml('c')),
    });
    const r = await unpackBytes(zip, 'many.zip');
    expect(r.problems).toEqual([]);
    expect(r.payloads.map((p) => [p.name, p.trail.at(-1)])).toEqual([
      ['a.xml', 'reports/2026/a.xml'],
      ['b.xml', 'subfolder.xml/b.xml'],
      ['c.xml', 'c.xml'],
    ]);
    expect(await Promise.all(r.payloads.map(readText))).toEqual([reportXml('a'), reportXml('b'), reportXml('c')]);
  });

  it('skips an empty member with a problem and keeps the others', async () => {
    const r = await unpackBytes(zipSync({ 'empty.xml': new Uint8Array(0), 'good.xml': enc(xml) }), 'bad.zip');
    expect(r.payloads.map((p) => p.name)).toEqual(['good.xml']);
    expect(r.problems).toEqual([{ code: 'empty', trail: ['bad.zip', 'empty.xml'], message: 'bad.zip › empty.xml: is empty' }]);
  });

  it('reports an empty archive', async () => {
    const r = await unpackBytes(zipSync({}), 'nothing.zip');
    expect(r.problems).toEqual([expect.objectContaining({ code: 'empty', trail: ['nothing.zip'] })]);
  });

  it('unpacks a zip inside a zip, and a gzip inside a zip (stored and deflated)', async () => {
    const inner = zipSync({ 'inner.xml': enc(xml) });
    const outer = zipSync({ 'inner.zip': [inner, { level: 0 }], 'x.xml.gz': [gzipSync(enc(xml)), { level: 0 }] });
    const r = await unpackBytes(outer, 'outer.zip');
    expect(r.payloads.map((p) => p.trail)).toEqual([
      ['outer.zip', 'inner.zip', 'inner.xml'],
      ['outer.zip', 'x.xml.gz', 'x.xml'],
    ]);
    for (const p of r.payloads) expect(await readText(p)).toBe(xml);
  });

  it('sniffs content, not names: a gzip named .zip and a zip named .gz both work', async () => {
    const a = await unpackBytes(gzipSync(enc(xml)), 'report.zip');
    const b = await unpackBytes(zipSync({ 'r.xml': enc(xml) }), 'report.xml.gz');
    expect([a.payloads.length, b.payloads.length]).toEqual([1, 1]);
  });

  it('reports a damaged archive as corrupt', async () => {
    const zip = zipSync({ 'r.xml': enc(xml) });
    const r = await unpackBytes(zip.subarray(0, zip.length - 30), 'cut.zip');
    expect(r.problems).toEqual([expect.objectContaining({ code: 'corrupt', trail: ['cut.zip'] })]);
    expect(r.problems[0]!.message).toMatch(/damaged zip archive.*end-of-central-directory/);
  });

  it('rejects a zip member that is not XML, and an XML file that is not a report', async () => {
    const r = await unpackBytes(zipSync({ 'notes.txt': enc('Hello world, zip!'), 'other.xml': enc('<invoice/>') }), 'mixed.zip');
    expect(r.payloads).toEqual([]);
    expect(r.problems.map((p) => [p.code, p.trail.at(-1)])).toEqual([
      ['not-a-report', 'notes.txt'],
      ['not-a-report', 'other.xml'],
    ]);
    expect(r.problems[1]!.message).toMatch(/root element is <invoice>/);
  });
});
