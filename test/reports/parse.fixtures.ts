/**
 * Shared by the parse tests: the shared corpus (/work/shared/corpus, MANIFEST.tsv) and its payloads.
 * Payloads come from the unpack stage when it is there; otherwise .gz/.zip are opened with fflate
 * and .eml files are skipped (noted in the output).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync, unzipSync } from 'fflate';

export const CORPUS = process.env.DMARC_CORPUS ?? '/work/shared/corpus';
export const MANIFEST = join(CORPUS, 'MANIFEST.tsv');

export type Expectation = 'parse' | 'reject' | 'salvage' | 'either';

export interface ManifestRow {
  path: string;
  container: string;
  orgName: string;
  policyDomain: string;
  records: number;
  schema: string;
  notes: string;
  /**
   * `reject` for NEG files and BROKEN ones with no records; `salvage` for BROKEN files the manifest
   * still counts records in (parsed, with a warning); `either` when the manifest's own reader found
   * no XML but the file is not labelled NEG/BROKEN (a raw zlib stream the unpack stage can open).
   */
  expect: Expectation;
}

export function readManifest(): ManifestRow[] {
  if (!existsSync(MANIFEST)) return [];
  const [head, ...lines] = readFileSync(MANIFEST, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '');
  const columns = (head ?? '').split('\t');
  const at = (cells: string[], name: string): string => cells[columns.indexOf(name)] ?? '';
  return lines.map((line) => {
    const cells = line.split('\t');
    const notes = at(cells, 'notes');
    const records = Number(at(cells, 'record_count'));
    const schema = at(cells, 'schema');
    const negative = notes.startsWith('NEG');
    const broken = /\bBROKEN\b/.test(notes);
    const expect: Expectation =
      negative || (broken && records === 0) ? 'reject' : broken ? 'salvage' : schema === 'unknown' ? 'either' : 'parse';
    return {
      path: at(cells, 'path'),
      container: at(cells, 'container'),
      orgName: at(cells, 'reporter_org_name'),
      policyDomain: at(cells, 'policy_domain'),
      records,
      schema,
      notes,
      expect,
    };
  });
}

export interface CorpusPayload {
  name: string;
  bytes: Uint8Array;
}

export interface CorpusItem {
  payloads: CorpusPayload[];
  /** Why the unpack step found nothing to parse (or skipped the file). */
  problems: string[];
  skipped?: string;
}

interface UnpackModule {
  unpackFile(path: string): Promise<{
    payloads: { name: string; open(): AsyncIterable<Uint8Array> }[];
    problems: { message: string }[];
  }>;
}

let unpack: UnpackModule | null | undefined;

/** Whether payloads come from scripts/reports/unpack (true) or the fflate stand-in (false). */
export async function usingUnpackStage(): Promise<boolean> {
  if (unpack === undefined) {
    try {
      unpack = (await import('../../scripts/reports/unpack/index.ts')) as UnpackModule;
    } catch {
      unpack = null;
    }
  }
  return unpack !== null;
}

export async function corpusItem(row: ManifestRow): Promise<CorpusItem> {
  const path = join(CORPUS, row.path);
  if (await usingUnpackStage()) {
    const result = await (unpack as UnpackModule).unpackFile(path);
    const payloads: CorpusPayload[] = [];
    const problems = result.problems.map((p) => p.message);
    for (const payload of result.payloads) {
      try {
        payloads.push({ name: payload.name, bytes: await collect(payload.open()) });
      } catch (error) {
        problems.push(error instanceof Error ? error.message : String(error));
      }
    }
    return { payloads, problems };
  }
  const bytes = new Uint8Array(readFileSync(path));
  if (row.container === 'eml') return { payloads: [], problems: [], skipped: 'eml needs the unpack stage' };
  try {
    return { payloads: openContainer(row.path, bytes), problems: [] };
  } catch (error) {
    return { payloads: [], problems: [error instanceof Error ? error.message : String(error)] };
  }
}

/** The fflate stand-in for the unpack stage: gzip (nested too) and zip; anything else as is. */
function openContainer(name: string, bytes: Uint8Array): CorpusPayload[] {
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) return openContainer(name.replace(/\.gz$/, ''), gunzipSync(bytes));
  if (bytes[0] === 0x50 && bytes[1] === 0x4b) {
    return Object.entries(unzipSync(bytes))
      .filter(([entry]) => !entry.endsWith('/'))
      .flatMap(([entry, data]) => openContainer(entry, data));
  }
  return [{ name, bytes }];
}

async function collect(chunks: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const chunk of chunks) parts.push(chunk);
  return new Uint8Array(Buffer.concat(parts));
}

/** `bytes` in pieces of `size`, as a stream would deliver them. */
export function* chunked(bytes: Uint8Array, size: number): Generator<Uint8Array> {
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

export async function* asAsync<T>(items: Iterable<T>): AsyncGenerator<T> {
  for (const item of items) yield item;
}
