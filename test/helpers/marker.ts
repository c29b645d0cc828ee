/**
 * Where a marker string occurs under a folder: in the raw bytes of every file (hidden ones, temp
 * files and caches included), in the decompressed bytes of every gzip file, and in every value of
 * every Parquet file read through DuckDB — zstd-compressed Parquet pages hide strings from a plain
 * byte search, so each row is read and serialised (all columns: VARCHAR, lists, structs, maps, JSON).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { DuckDBInstance } from '@duckdb/node-api';

export interface MarkerScan {
  /** Every file looked at (relative paths). */
  files: string[];
  /** Parquet files whose rows were read. */
  parquetFiles: string[];
  /** Rows read from Parquet, all files together. */
  parquetRows: number;
  /** Where the marker was found: `path` (raw bytes), `path (gunzipped)`, `path row N`. */
  hits: string[];
}

export async function scanForMarker(root: string, marker: string): Promise<MarkerScan> {
  const scan: MarkerScan = { files: [], parquetFiles: [], parquetRows: 0, hits: [] };
  const needle = Buffer.from(marker, 'utf8');
  const paths = readdirSync(root, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name))
    .sort();
  const instance = await DuckDBInstance.create(':memory:');
  const conn = await instance.connect();
  try {
    for (const path of paths) {
      const name = relative(root, path);
      scan.files.push(name);
      const bytes = readFileSync(path);
      if (bytes.includes(needle)) scan.hits.push(name);
      if (bytes[0] === 0x1f && bytes[1] === 0x8b) {
        try {
          if (gunzipSync(bytes).includes(needle)) scan.hits.push(`${name} (gunzipped)`);
        } catch {
          // Not a whole gzip: its raw bytes were searched.
        }
      }
      if (bytes.subarray(0, 4).toString('latin1') === 'PAR1') {
        scan.parquetFiles.push(name);
        const rows = (
          await conn.runAndReadAll(`SELECT * FROM read_parquet('${path.replaceAll("'", "''")}', hive_partitioning = false)`)
        ).getRowObjectsJson();
        scan.parquetRows += rows.length;
        rows.forEach((row, index) => {
          if (JSON.stringify(row).includes(marker)) scan.hits.push(`${name} row ${index}`);
        });
      }
    }
  } finally {
    conn.closeSync();
    instance.closeSync();
  }
  return scan;
}
