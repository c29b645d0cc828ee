/**
 * gzip data integrity: fflate (which has the last word when node:zlib objects) does not check a
 * member's CRC32, so a byte altered inside a stored block would inflate "fine" and store wrong
 * numbers. Each member's CRC32 is now checked against its trailer: a trailer whose size matches
 * but whose CRC32 does not is refused as corrupt; a damaged or missing trailer keeps the data with a
 * note, as do junk bytes after the last member.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../scripts/cli.ts';
import type { IngestSummary } from '../../scripts/reports/pipeline.ts';
import { bytesSource, gunzipStream, inflateStream } from '../../scripts/reports/unpack/decompress.ts';
import type { StreamContext } from '../../scripts/reports/unpack/decompress.ts';
import { DEFAULT_LIMITS, UnpackError, unpackBytes, unpackFile } from '../../scripts/reports/unpack/index.ts';
import { concat, enc, readText, reportXml } from '../fixtures/unpack/make.ts';
import { captureOutput } from '../helpers/output.ts';

const xml = reportXml('crc-1', 40);
/** Stored deflate blocks: the XML sits in the gzip file as is, so an altered byte inflates without error. */
const stored = (text: string): Uint8Array => new Uint8Array(gzipSync(enc(text), { level: 0 }));

/** A copy of a stored gzip with the first digit of its last <count> changed (e.g. 17 → 27): same size, still valid XML. */
function alteredCount(gz: Uint8Array): Uint8Array {
  const at = Buffer.from(gz).lastIndexOf('<count>') + '<count>'.length;
  const digit = gz[at]! - 0x30;
  expect(digit >= 1 && digit <= 9, 'a stored gzip holding a <count>').toBe(true);
  const copy = gz.slice();
  copy[at] = 0x30 + (digit === 9 ? 1 : digit + 1);
  return copy;
}

function flipped(gz: Uint8Array, at: number): Uint8Array {
  const copy = gz.slice();
  const index = at < 0 ? copy.length + at : at;
  copy[index] = copy[index]! ^ 0xff;
  return copy;
}

interface Verdict {
  text?: string;
  error?: unknown;
  notes: string[];
}

/** Drains a stream over `bytes` with a fresh context. */
async function run(stream: (ctx: StreamContext) => AsyncIterable<Uint8Array>): Promise<Verdict> {
  const notes: string[] = [];
  const parts: Uint8Array[] = [];
  try {
    for await (const chunk of stream({ limits: DEFAULT_LIMITS, trail: ['crc.xml.gz', 'crc.xml'], note: (note) => notes.push(note) }))
      parts.push(chunk);
    return { text: new TextDecoder().decode(concat(parts)), notes };
  } catch (error) {
    return { error, notes };
  }
}

/** The fflate path on its own, and the node:zlib path (which falls back to it when it objects): both must agree. */
async function both(bytes: Uint8Array): Promise<Verdict> {
  const fflate = await run((ctx) => inflateStream(bytesSource(bytes)(), 'gzip', ctx));
  const native = await run((ctx) => gunzipStream(bytesSource(bytes), ctx));
  expect(messageOf(native)).toEqual(messageOf(fflate));
  return fflate;
}

const messageOf = (v: Verdict) => ({ text: v.text, error: v.error instanceof Error ? v.error.message : v.error, notes: v.notes });

function expectCorrupt(v: Verdict, member = 1): void {
  expect(v.text).toBeUndefined();
  expect(v.error).toBeInstanceOf(UnpackError);
  const error = v.error as UnpackError;
  expect(error.code).toBe('corrupt');
  expect(error.trail).toEqual(['crc.xml.gz', 'crc.xml']);
  expect(error.message).toMatch(
    new RegExp(
      `^crc\\.xml\\.gz › crc\\.xml: gzip data is corrupt: CRC32 of member ${member} \\(.+\\) ` +
        'is 0x[0-9a-f]{8}, expected 0x[0-9a-f]{8} from its trailer; refused$',
    ),
  );
}

describe('gzip CRC32 check (stream level, fflate and node:zlib paths)', () => {
  const gz = stored(xml);

  it('accepts an intact stored gzip without notes', async () => {
    expect(await both(gz)).toEqual({ text: xml, notes: [] });
  });

  it('refuses a stored gzip with one data byte altered (same size, still valid XML)', async () => {
    expectCorrupt(await both(alteredCount(gz)));
  });

  it('refuses a stored gzip with one byte of the data flipped', async () => {
    expectCorrupt(await both(flipped(gz, gz.length >> 1)));
  });

  it('refuses a gzip whose stored CRC32 has a flipped byte (its size still matches)', async () => {
    expectCorrupt(await both(flipped(gz, -6)));
    expectCorrupt(await both(flipped(gzipSync(enc(xml)), -8))); // a compressed member too
  });

  it('names the CRC32 it computed and the one the trailer holds', async () => {
    const bad = flipped(gz, -5); // last CRC byte
    const trailerCrc = Buffer.from(bad).readUInt32LE(bad.length - 8);
    const realCrc = Buffer.from(gz).readUInt32LE(gz.length - 8);
    const v = await both(bad);
    expect((v.error as Error).message).toContain(
      `is 0x${realCrc.toString(16).padStart(8, '0')}, expected 0x${trailerCrc.toString(16).padStart(8, '0')}`,
    );
  });

  it('accepts a correct multi-member gzip whole (stored and compressed members)', async () => {
    const third = Math.floor(xml.length / 3);
    const members = concat([
      stored(xml.slice(0, third)),
      new Uint8Array(gzipSync(enc(xml.slice(third, 2 * third)))),
      stored(xml.slice(2 * third)),
    ]);
    expect(await both(members)).toEqual({ text: xml, notes: [] });
  });

  it('refuses a bad CRC32 in the second of two members, and in the first', async () => {
    const half = xml.length >> 1;
    const [a, b] = [stored(xml.slice(0, half)), stored(xml.slice(half))];
    expectCorrupt(await both(concat([a, alteredCount(b)])), 2);
    expectCorrupt(await both(concat([a, flipped(b, -7)])), 2);
    expectCorrupt(await both(concat([alteredCount(a), b])), 1);
  });

  it('checks every member when the members span many input slices', async () => {
    const big = reportXml('big', 600); // ~210 KB: members and trailers fall anywhere in the 8 KiB slices
    const size = Math.ceil(big.length / 7);
    const parts = Array.from({ length: 7 }, (_, i) => stored(big.slice(i * size, (i + 1) * size)));
    expect(await both(concat(parts))).toEqual({ text: big, notes: [] });
    const bad = [...parts];
    bad[5] = flipped(bad[5]!, bad[5]!.length >> 1);
    expectCorrupt(await both(concat(bad)), 6);
    bad[5] = parts[5]!;
    bad[6] = alteredCount(bad[6]!);
    expectCorrupt(await both(concat(bad)), 7);
  });

  it('keeps a first member whose trailer size is damaged, with the trailer note (the data checks out by its CRC32 or not at all)', async () => {
    const half = xml.length >> 1;
    const [a, b] = [stored(xml.slice(0, half)), stored(xml.slice(half))];
    expect(await both(concat([flipped(a, -2), b]))).toEqual({
      text: xml,
      notes: ['gzip trailer does not match the data (damaged or missing trailer); data kept'],
    });
  });

  it('says so when a member cannot be checked because the next header is longer than the bytes kept (128 KiB)', async () => {
    const half = xml.length >> 1;
    const name = enc(`${'n'.repeat(200 * 1024)}.xml`);
    const body = stored(xml.slice(half));
    // The same member with an FNAME of 200 KiB: flags 0x08, then the name and its NUL.
    const named = concat([new Uint8Array([0x1f, 0x8b, 8, 0x08, 0, 0, 0, 0, 0, 3]), name, new Uint8Array([0]), body.subarray(10)]);
    expect(await both(concat([alteredCount(stored(xml.slice(0, half))), named]))).toEqual({
      text: expect.any(String),
      notes: ["could not check gzip member 1 against its trailer (the next member's header is too long); data kept"],
    });
  });

  it('keeps a member with a truncated trailer, with the existing note', async () => {
    for (const cut of [3, 5, 8]) {
      expect(await both(gz.subarray(0, gz.length - cut))).toEqual({
        text: xml,
        notes: ['gzip trailer does not match the data (damaged or missing trailer); data kept'],
      });
    }
  });

  it('keeps a member whose trailer size is damaged, with the existing note', async () => {
    expect(await both(flipped(gz, -2))).toEqual({
      text: xml,
      notes: ['gzip trailer does not match the data (damaged or missing trailer); data kept'],
    });
  });

  it('keeps junk after an intact member, with a note (1-3 bytes, and longer)', async () => {
    expect(await both(concat([gz, enc('\r\n')]))).toEqual({ text: xml, notes: ['ignored 2 byte(s) of junk after the gzip member'] });
    expect(await both(concat([gz, enc('--boundary--\r\n')]))).toEqual({
      text: xml,
      notes: ['ignored data after the gzip member that is not another gzip member'],
    });
    expect(await both(concat([gz, new Uint8Array(10)]))).toEqual({
      text: xml,
      notes: ['ignored data after the gzip member that is not another gzip member'],
    });
  });

  it('still refuses altered data followed by junk', async () => {
    expectCorrupt(await both(concat([alteredCount(gz), enc('\r\n')])));
    expectCorrupt(await both(concat([alteredCount(gz), new Uint8Array(10)])));
  });
});

describe('gzip CRC32 check through the unpack entry points', () => {
  it('reports a small altered gzip as a corrupt problem naming the payload (validated up front)', async () => {
    const r = await unpackBytes(alteredCount(stored(xml)), 'crc.xml.gz');
    expect(r.payloads).toEqual([]);
    expect(r.problems).toEqual([expect.objectContaining({ code: 'corrupt', trail: ['crc.xml.gz', 'crc.xml'] })]);
    expect(r.problems[0]!.message).toMatch(/^crc\.xml\.gz › crc\.xml: gzip data is corrupt: CRC32 of member 1 .* expected 0x[0-9a-f]{8}/);
  });

  it('throws UnpackError from payload.open() for a large altered gzip (streamed, not validated up front)', async () => {
    const big = reportXml('big', 12_000); // > 4 MiB stored: past the up-front validation size
    const r = await unpackBytes(alteredCount(stored(big)), 'big.xml.gz');
    expect(r.problems).toEqual([]);
    expect(r.payloads).toHaveLength(1);
    const error = await readText(r.payloads[0]!).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(UnpackError);
    expect((error as UnpackError).code).toBe('corrupt');
    expect((error as UnpackError).message).toMatch(/^big\.xml\.gz › big\.xml: gzip data is corrupt: CRC32 of member 1 /);
  });

  it('accepts intact and merely oddly ended gzip files from disk', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dmarcops-gzcrc-'));
    try {
      const gz = stored(xml);
      const cases: [string, Uint8Array, string[]][] = [
        ['ok.xml.gz', gz, []],
        ['cut.xml.gz', gz.subarray(0, gz.length - 4), ['gzip trailer does not match the data (damaged or missing trailer); data kept']],
        ['junk.xml.gz', concat([gz, enc('\r\n')]), ['ignored 2 byte(s) of junk after the gzip member']],
      ];
      for (const [name, bytes, notes] of cases) {
        await writeFile(join(dir, name), bytes);
        const r = await unpackFile(join(dir, name));
        expect(r.problems, name).toEqual([]);
        expect(await readText(r.payloads[0]!), name).toBe(xml);
        expect(r.payloads[0]!.notes, name).toEqual(notes);
      }
      await writeFile(join(dir, 'bad.xml.gz'), alteredCount(gz));
      const bad = await unpackFile(join(dir, 'bad.xml.gz'));
      expect(bad.payloads).toEqual([]);
      expect(bad.problems.map((p) => [p.code, p.message])).toEqual([
        ['corrupt', expect.stringMatching(/bad\.xml\.gz › bad\.xml: gzip data is corrupt: CRC32/)],
      ]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('dmarcops ingest: an altered gzip is set aside as invalid, nothing stored', () => {
  let dir: string;
  let inbox: string;
  let data: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dmarcops-gzcrc-ingest-'));
    inbox = join(dir, 'inbox');
    data = join(dir, 'reports');
    await mkdir(inbox);
    await writeFile(join(inbox, '01-small-altered.xml.gz'), alteredCount(stored(reportXml('small-1', 40, 'example.com'))));
    await writeFile(join(inbox, '02-big-altered.xml.gz'), alteredCount(stored(reportXml('big-1', 12_000, 'example.com'))));
  });

  afterAll(async () => {
    if (dir?.startsWith(join(tmpdir(), 'dmarcops-gzcrc-ingest-'))) await rm(dir, { recursive: true, force: true });
  });

  it('quarantines both with the CRC reason', { timeout: 60_000 }, async () => {
    const output = captureOutput();
    const code = await main(['ingest', inbox, '--data', data, '--domains', 'domains', '--offline', '--json'], output, {});
    expect(code, output.stderr.join('\n')).toBe(0);
    const summary = JSON.parse(output.text()) as IngestSummary;
    expect(summary.reports).toEqual({ stored: 0, duplicate: 0, foreign: 0, invalid: 2 });
    expect(summary.records).toBe(0);
    expect(summary.invalid).toHaveLength(2);
    for (const entry of summary.invalid)
      expect(entry.reason).toMatch(/gzip data is corrupt: CRC32 of member 1 .* expected 0x[0-9a-f]{8} from its trailer; refused/);
  });
});
