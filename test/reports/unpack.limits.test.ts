/** Limits (bombs, nesting, part counts) and streaming: everything here is generated at test time. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Gzip, inflateSync, zipSync } from 'fflate';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS, UnpackError, unpackBytes, unpackFile } from '../../scripts/reports/unpack/index.ts';
import type { UnpackResult } from '../../scripts/reports/unpack/index.ts';
import {
  concat,
  enc,
  gzipBomb,
  mail,
  rawZip,
  readAll,
  readText,
  rejection,
  reportStart,
  reportXml,
  variedRecords,
  zeroDeflate,
} from '../fixtures/unpack/make.ts';

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;
const temp = mkdtempSync(join(tmpdir(), 'unpack-limits-'));
afterAll(() => rmSync(temp, { recursive: true, force: true }));

const only = (r: UnpackResult) => {
  expect(r.payloads).toEqual([]);
  expect(r.problems).toHaveLength(1);
  return r.problems[0]!;
};

describe('the bomb builder', () => {
  it('really inflates to zeros of the requested size', () => {
    const out = inflateSync(zeroDeflate(3 * MiB));
    expect(out.length).toBe(3 * MiB);
    expect(out.every((b) => b === 0)).toBe(true);
  });
});

describe('gzip bombs', () => {
  const bombPath = join(temp, 'bomb.xml.gz');
  writeFileSync(bombPath, gzipBomb(10 * GiB)); // ~10 MB on disk, 10 GiB of zeros inside

  it('refuses a 10 GiB gzip bomb by ratio after reading a sliver, fast and in little memory', async () => {
    const rss = process.memoryUsage().rss;
    const started = performance.now();
    const problem = only(await unpackFile(bombPath));
    expect(performance.now() - started).toBeLessThan(2000);
    expect(process.memoryUsage().rss - rss).toBeLessThan(128 * MiB);
    expect(problem.code).toBe('limit-ratio');
    expect(problem.trail).toEqual([bombPath, 'bomb.xml']);
    expect(problem.message).toMatch(/bomb\.xml.*expanded 8 KiB into .*MiB \(ratio \d+:1 > maxRatio 200\)/);
  });

  it('refuses a bomb by size when the ratio check is off (here one that starts like a report)', async () => {
    const problem = only(
      await unpackBytes(gzipBomb(1 * GiB, reportStart()), 'x.xml.gz', { maxRatio: Infinity, maxPayloadBytes: 32 * MiB }),
    );
    expect(problem.code).toBe('limit-size');
    expect(problem.message).toMatch(/^x\.xml\.gz › x\.xml: gzip data grew past 32 MiB \(maxPayloadBytes\)/);
  });

  it('says which message and attachment held the bomb', async () => {
    const bytes = mail({ From: 'x@receiver.example', Subject: 'Report', 'Message-ID': '<b@x>' }, [
      { type: 'text/plain', body: 'report' },
      { type: 'application/gzip', filename: 'x.xml.gz', body: gzipBomb(64 * MiB), encoding: 'base64' },
    ]);
    const problem = only(await unpackBytes(bytes, 'bomb.eml'));
    expect(problem.code).toBe('limit-ratio');
    expect(problem.trail).toEqual(['bomb.eml', 'attachment x.xml.gz', 'x.xml']);
    expect(problem.message.startsWith('bomb.eml › attachment x.xml.gz › x.xml: ')).toBe(true);
  });

  // A bomb that starts like a report: sniffing reads only the start and sees XML.
  it('validates small inputs during unpack, so a bomb after a harmless start is a problem, not a payload', async () => {
    const problem = only(await unpackBytes(gzipBomb(1 * GiB, reportStart()), 'x.xml.gz'));
    expect(problem.code).toBe('limit-ratio');
  });

  it('enforces the limits in payload.open() for big inputs that are only peeked at', async () => {
    const path = join(temp, 'disguised.xml.gz');
    writeFileSync(path, gzipBomb(10 * GiB, reportStart()));
    const r = await unpackFile(path);
    expect(r.problems).toEqual([]);
    expect(r.payloads).toHaveLength(1);
    const error = await rejection(() => readAll(r.payloads[0]!));
    expect(error).toBeInstanceOf(UnpackError);
    expect((error as UnpackError).code).toBe('limit-ratio');
    expect((error as UnpackError).trail).toEqual([path, 'disguised.xml']);
  });
});

describe('zip bombs', () => {
  it('refuses an entry whose declared size is a bomb, without inflating it', async () => {
    const problem = only(await unpackBytes(zipSync({ 'big.xml': new Uint8Array(8 * MiB) }), 'big.zip'));
    expect(problem.code).toBe('limit-ratio');
    expect(problem.trail).toEqual(['big.zip', 'big.xml']);
    expect(problem.message).toMatch(/declares 8 MiB/);
    const bySize = only(await unpackBytes(zipSync({ 'big.xml': new Uint8Array(8 * MiB) }), 'big.zip', { maxPayloadBytes: 4 * MiB }));
    expect(bySize.code).toBe('limit-size');
  });

  it('does not trust declared sizes: a 1 GiB entry declared as 1000 bytes is stopped while streaming', async () => {
    const liar = rawZip([{ name: 'small.xml', data: zeroDeflate(1 * GiB, reportStart()), declaredSize: 1000 }]);
    const byRatio = only(await unpackBytes(liar, 'liar.zip'));
    expect(byRatio.code).toBe('limit-ratio');
    expect(byRatio.message).not.toMatch(/declares/);
    const bySize = only(await unpackBytes(liar, 'liar.zip', { maxRatio: Infinity, maxPayloadBytes: 16 * MiB }));
    expect(bySize.code).toBe('limit-size');
    expect(bySize.message).toMatch(/liar\.zip › small\.xml: .*16 MiB \(maxPayloadBytes\)/);
  });

  it('notes a wrong declared size on a harmless entry', async () => {
    const xml = enc(reportXml());
    const r = await unpackBytes(rawZip([{ name: 'r.xml', data: xml, method: 0, declaredSize: 5 }]), 'r.zip');
    expect(r.payloads).toHaveLength(1);
    expect(await readText(r.payloads[0]!)).toBe(reportXml());
    expect(r.payloads[0]!.notes).toEqual([`zip entry is ${xml.length} bytes, its header declared 5`]);
  });
});

describe('nesting and part limits', () => {
  const nested = (levels: number) => {
    let bytes = enc(reportXml());
    let name = 'r.xml';
    for (let i = 1; i <= levels; i++) {
      bytes = zipSync({ [name]: bytes });
      name = `level${i}.zip`;
    }
    return bytes;
  };

  it('follows zips inside zips up to maxDepth and refuses deeper ones', async () => {
    const ok = await unpackBytes(nested(5), 'level5.zip');
    expect(ok.payloads.map((p) => p.trail.length)).toEqual([6]);
    const deep = only(await unpackBytes(nested(7), 'level7.zip'));
    expect(deep.code).toBe('limit-depth');
    expect(deep.trail).toHaveLength(7);
    expect(deep.message).toMatch(/more than 5 \(maxDepth\)/);
    expect((await unpackBytes(nested(7), 'level7.zip', { maxDepth: 8 })).payloads).toHaveLength(1);
  });

  it('stops after maxParts payloads and says so', async () => {
    const files = Object.fromEntries(Array.from({ length: 5 }, (_, i) => [`r${i}.xml`, enc(reportXml(`r${i}`))]));
    const r = await unpackBytes(zipSync(files), 'many.zip', { maxParts: 3 });
    expect(r.payloads.map((p) => p.name)).toEqual(['r0.xml', 'r1.xml', 'r2.xml']);
    expect(r.problems).toEqual([
      expect.objectContaining({ code: 'limit-parts', message: expect.stringMatching(/more than 3 .*\(maxParts\)/) }),
    ]);
  });

  it('refuses an input larger than maxPayloadBytes outright', async () => {
    const problem = only(await unpackBytes(enc(reportXml('big', 50)), 'big.xml', { maxPayloadBytes: 1000 }));
    expect(problem.code).toBe('limit-size');
    const path = join(temp, 'big.xml');
    writeFileSync(path, reportXml('big', 50));
    expect(only(await unpackFile(path, { maxPayloadBytes: 1000 })).code).toBe('limit-size');
  });

  it('exports the documented defaults', () => {
    expect(DEFAULT_LIMITS).toEqual({ maxPayloadBytes: 256 * MiB, maxRatio: 200, maxDepth: 5, maxParts: 200 });
  });
});

describe('streaming from disk', () => {
  it('streams a ~50 MB XML report out of its .gz in bounded chunks without holding it in memory', { timeout: 20_000 }, async () => {
    // Varied records so that the ratio is that of a real report (~9:1).
    const path = join(temp, 'large.xml.gz');
    const gz: Uint8Array[] = [];
    const gzip = new Gzip({ level: 1 }, (chunk) => gz.push(chunk));
    let xmlSize = 0;
    const write = (text: string, final = false) => {
      const bytes = enc(text);
      xmlSize += bytes.length;
      gzip.push(bytes, final);
    };
    write('<?xml version="1.0"?>\n<feedback>\n');
    for (let seed = 1; xmlSize < 50e6; seed++) write(variedRecords(2000, seed));
    write('</feedback>\n', true);
    writeFileSync(path, concat(gz));
    gz.length = 0;

    const started = performance.now();
    const r = await unpackFile(path);
    expect(r.problems).toEqual([]);
    const baseline = process.memoryUsage().rss;
    let peak = baseline;
    let total = 0;
    let largest = 0;
    let chunks = 0;
    for await (const chunk of r.payloads[0]!.open()) {
      total += chunk.length;
      largest = Math.max(largest, chunk.length);
      if (++chunks % 16 === 0) peak = Math.max(peak, process.memoryUsage().rss);
    }
    const seconds = (performance.now() - started) / 1000;
    console.log(
      `streamed ${(total / 1e6).toFixed(1)} MB of XML in ${chunks} chunks (largest ${(largest / 1024).toFixed(0)} KiB) ` +
        `in ${seconds.toFixed(2)} s; RSS grew ${((peak - baseline) / MiB).toFixed(1)} MiB`,
    );
    expect(total).toBe(xmlSize);
    expect(largest).toBeLessThanOrEqual(8 * 1024 * 1032); // one 8 KiB push at deflate's maximum ratio
    expect(peak - baseline).toBeLessThan(64 * MiB);
    expect(seconds).toBeLessThan(5);
  });

  it('streams a plain XML file in read-sized chunks', async () => {
    const path = join(temp, 'plain.xml');
    const xml = reportXml('plain', 3000);
    writeFileSync(path, xml);
    const r = await unpackFile(path);
    expect(r.payloads.map((p) => [p.name, p.trail])).toEqual([['plain.xml', [path]]]);
    const sizes: number[] = [];
    for await (const chunk of r.payloads[0]!.open()) sizes.push(chunk.length);
    expect(sizes.length).toBeGreaterThan(1);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(64 * 1024);
    expect(sizes.reduce((a, b) => a + b)).toBe(enc(xml).length);
  });
});
