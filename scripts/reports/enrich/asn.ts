/**
 * Offline IP → ASN, AS name and country, from the CSV range files of the npm packages
 * `@ip-location-db/asn` (RouteViews + NRO + DB-IP, CC BY 4.0) and `@ip-location-db/asn-country`
 * (NRO, CC BY 4.0), or `@ip-location-db/geo-whois-asn-country` when that one is installed.
 *
 * Nothing is downloaded: the files are read from node_modules. Each table (ASN/country × IPv4/IPv6)
 * is parsed at its first use into sorted typed arrays and searched by bisection. Without the
 * packages every lookup answers null and one process warning says why: enrichment never blocks ingest.
 */
import { closeSync, fstatSync, mkdirSync, openSync, readFileSync, readSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';
import { isPublicIp, parseIp, parseIpv4, parseIpv6 } from '../../lib/ip.ts';
import type { ParsedIp } from '../../lib/ip.ts';

export interface AsnInfo {
  asn: number;
  /** The AS organisation; null where the database has none. */
  asName: string | null;
  country: string | null;
}

/** Paths of the four CSV files (`start,end,asn,name` and `start,end,country`, addresses as text). */
export interface AsnDatabaseFiles {
  asnIpv4: string;
  asnIpv6: string;
  countryIpv4?: string;
  countryIpv6?: string;
}

export interface AsnDatabaseStats {
  /** Ranges per loaded table; a table not used yet is absent. */
  ranges: Partial<Record<TableName, number>>;
  /** Time spent parsing, in ms. */
  loadMs: number;
}

export interface AsnDatabase {
  lookup(ip: string): AsnInfo | null;
  country(ip: string): string | null;
  stats(): AsnDatabaseStats;
}

type TableName = 'asnIpv4' | 'asnIpv6' | 'countryIpv4' | 'countryIpv6';

/**
 * One table: ranges sorted by start. An IPv4 address is one word, an IPv6 address four (most
 * significant first), so `starts`/`ends` hold `width` words per range. `values` is the AS number
 * or the country code (two letters packed in 16 bits); `names` indexes `nameList` (ASN tables).
 */
interface Table {
  width: 1 | 4;
  size: number;
  starts: Uint32Array;
  ends: Uint32Array;
  values: Uint32Array;
  names: Uint32Array | null;
  nameList: string[];
}

export interface AsnDatabaseOptions {
  /**
   * Where parsed tables are kept as binary files (keyed by the CSV's path, size and mtime), so that
   * later processes load them in milliseconds instead of parsing the CSV. Absent: no cache.
   */
  cacheDir?: string;
}

/** Opens a database over these files. Nothing is read until the first lookup needs a table. */
export function openAsnDatabase(files: AsnDatabaseFiles, options: AsnDatabaseOptions = {}): AsnDatabase {
  const tables = new Map<TableName, Table | null>();
  let loadMs = 0;
  const table = (name: TableName): Table | null => {
    if (!tables.has(name)) {
      const path = files[name];
      const started = performance.now();
      tables.set(
        name,
        path === undefined ? null : cachedTable(path, name.endsWith('Ipv4') ? 1 : 4, name.startsWith('asn'), options.cacheDir),
      );
      loadMs += performance.now() - started;
    }
    return tables.get(name) ?? null;
  };
  const find = (kind: 'asn' | 'country', ip: ParsedIp): { table: Table; index: number } | null => {
    const t = table(ip.family === 4 ? `${kind}Ipv4` : `${kind}Ipv6`);
    if (t === null) return null;
    const key = ip.family === 4 ? [ip.value] : ip.words;
    const index = search(t, key);
    return index === -1 ? null : { table: t, index };
  };
  const countryOf = (ip: ParsedIp): string | null => {
    const hit = find('country', ip);
    return hit === null ? null : unpackCountry(hit.table.values[hit.index] ?? 0);
  };
  return {
    lookup(text) {
      const ip = parseIp(text);
      if (ip === null || !isPublicIp(ip)) return null;
      const hit = find('asn', ip);
      if (hit === null) return null;
      const { table: t, index } = hit;
      const name = t.nameList[t.names?.[index] ?? 0] ?? '';
      return { asn: t.values[index] ?? 0, asName: name === '' ? null : name, country: countryOf(ip) };
    },
    country(text) {
      const ip = parseIp(text);
      return ip === null || !isPublicIp(ip) ? null : countryOf(ip);
    },
    stats() {
      const ranges: Partial<Record<TableName, number>> = {};
      for (const [name, t] of tables) if (t !== null) ranges[name] = t.size;
      return { ranges, loadMs: Math.round(loadMs) };
    },
  };
}

/** Index of the range holding `key` (the last range starting at or before it, if it ends after), or -1. */
function search(t: Table, key: readonly number[]): number {
  let lo = 0;
  let hi = t.size - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    if (compareAddresses(t.starts, mid * t.width, key, 0, t.width) <= 0) {
      found = mid;
      lo = mid + 1;
    } else {
      hi = mid - 1;
    }
  }
  return found !== -1 && compareAddresses(t.ends, found * t.width, key, 0, t.width) >= 0 ? found : -1;
}

/** Compares the `width`-word addresses at `a[aAt…]` and `b[bAt…]`: negative, zero or positive. */
function compareAddresses(a: ArrayLike<number>, aAt: number, b: ArrayLike<number>, bAt: number, width: number): number {
  for (let i = 0; i < width; i++) {
    const diff = (a[aAt + i] ?? 0) - (b[bAt + i] ?? 0);
    if (diff !== 0) return diff;
  }
  return 0;
}

function unpackCountry(packed: number): string | null {
  return packed === 0 ? null : String.fromCharCode(packed >>> 8, packed & 0xff);
}

/**
 * Parses one CSV file. Rows are `start,end,value[,name]`; only the name may be quoted (RFC 4180,
 * `""` for a quote) and it runs to the end of the line. Rows must come sorted by start.
 */
function loadTable(path: string, width: 1 | 4, withNames: boolean): Table {
  // latin1: one byte per character, so a one-byte string of the file's size (utf8 would make the
  // whole file a two-byte string because of a few non-ASCII names); names are decoded from UTF-8 below.
  const text = readFileSync(path, 'latin1');
  let capacity = 1;
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) capacity++;
  const starts = new Uint32Array(capacity * width);
  const ends = new Uint32Array(capacity * width);
  const values = new Uint32Array(capacity);
  const names = withNames ? new Uint32Array(capacity) : null;
  const nameList: string[] = [''];
  const nameIndex = new Map<string, number>([['', 0]]);
  const put = (target: Uint32Array, at: number, address: string): void => {
    if (width === 1) target[at] = parseIpv4(address);
    else target.set(parseIpv6(address), at * 4);
  };
  let size = 0;
  let lineStart = 0;
  while (lineStart < text.length) {
    let lineEnd = text.indexOf('\n', lineStart);
    if (lineEnd === -1) lineEnd = text.length;
    const line = text.slice(lineStart, text.charCodeAt(lineEnd - 1) === 13 ? lineEnd - 1 : lineEnd);
    lineStart = lineEnd + 1;
    if (line === '') continue;
    const c1 = line.indexOf(',');
    const c2 = line.indexOf(',', c1 + 1);
    if (c1 === -1 || c2 === -1) throw new Error(`${path}: malformed row ${JSON.stringify(line)}`);
    const c3 = withNames ? line.indexOf(',', c2 + 1) : -1;
    put(starts, size, line.slice(0, c1));
    put(ends, size, line.slice(c1 + 1, c2));
    const value = line.slice(c2 + 1, c3 === -1 ? line.length : c3);
    if (names !== null) {
      values[size] = Number(value);
      const name = c3 === -1 ? '' : unquote(line.slice(c3 + 1));
      let index = nameIndex.get(name);
      if (index === undefined) {
        // A copy, not a slice: V8 slices keep the whole file's text alive (tens of MB). The text is
        // the file's bytes as latin1; the name is UTF-8.
        index = nameList.push(Buffer.from(name, 'latin1').toString('utf8')) - 1;
        nameIndex.set(name, index);
      }
      names[size] = index;
    } else {
      values[size] = value.length === 2 ? (value.charCodeAt(0) << 8) | value.charCodeAt(1) : 0;
    }
    if (size > 0 && compareAddresses(starts, (size - 1) * width, starts, size * width, width) > 0) {
      throw new Error(`${path}: rows are not sorted by range start (row ${size + 1})`);
    }
    size++;
  }
  return {
    width,
    size,
    starts: starts.subarray(0, size * width),
    ends: ends.subarray(0, size * width),
    values: values.subarray(0, size),
    names: names?.subarray(0, size) ?? null,
    nameList,
  };
}

// ---------------------------------------------------------------------------------------------
// The binary cache of parsed tables
//
// Layout (little-endian u32 words): magic, format version, width, size, hasNames, nameBytes; then
// starts (size × width), ends (size × width), values (size), names (size, if hasNames), then the
// name list as UTF-8 JSON (nameBytes), then the magic again. Anything else is treated as corrupt.

const CACHE_MAGIC = 0x53414d44; // "DMAS"
const CACHE_VERSION = 1;
const HEADER_WORDS = 6;

/** The table from the cache when it is there and sound; else parsed from the CSV and cached. */
function cachedTable(path: string, width: 1 | 4, withNames: boolean, cacheDir: string | undefined): Table {
  if (cacheDir === undefined) return loadTable(path, width, withNames);
  let file: string | undefined;
  try {
    const { size, mtimeMs } = statSync(path);
    const key = createHash('sha256')
      .update(`${CACHE_VERSION}\0${path}\0${size}\0${Math.trunc(mtimeMs)}\0${width}\0${withNames}`)
      .digest('hex')
      .slice(0, 16);
    file = join(cacheDir, `${basename(path, '.csv')}-${key}.bin`);
    const cached = readCache(file, width, withNames);
    if (cached !== null) return cached;
  } catch {
    // No usable cache: parse.
  }
  const table = loadTable(path, width, withNames);
  if (file !== undefined) writeCache(file, table);
  return table;
}

/** Reads a cache file; null when it is missing, of another layout, or damaged. */
export function readCache(file: string, width: 1 | 4, withNames: boolean): Table | null {
  let bytes: Buffer;
  try {
    bytes = readAligned(file);
  } catch {
    return null;
  }
  if (bytes.length < (HEADER_WORDS + 1) * 4 || bytes.length % 4 !== 0) return null;
  const word = (at: number): number => bytes.readUInt32LE(at * 4);
  if (word(0) !== CACHE_MAGIC || word(1) !== CACHE_VERSION || word(2) !== width || word(4) !== (withNames ? 1 : 0)) return null;
  const size = word(3);
  const nameBytes = word(5);
  const words = HEADER_WORDS + 2 * size * width + size + (withNames ? size : 0);
  const padded = Math.ceil(nameBytes / 4) * 4;
  if (bytes.length !== words * 4 + padded + 4 || bytes.readUInt32LE(bytes.length - 4) !== CACHE_MAGIC) return null;
  // Views on the file's bytes, not copies: every section starts at a multiple of 4 bytes.
  let at = HEADER_WORDS * 4;
  const take = (count: number): Uint32Array => {
    const out = new Uint32Array(bytes.buffer, bytes.byteOffset + at, count);
    at += count * 4;
    return out;
  };
  const starts = take(size * width);
  const ends = take(size * width);
  const values = take(size);
  const names = withNames ? take(size) : null;
  let nameList: unknown;
  try {
    nameList = JSON.parse(bytes.toString('utf8', at, at + nameBytes));
  } catch {
    return null;
  }
  if (!Array.isArray(nameList) || !nameList.every((n) => typeof n === 'string')) return null;
  if (names?.some((n) => n >= nameList.length)) return null;
  return { width, size, starts, ends, values, names, nameList: nameList as string[] };
}

/** A file's bytes in a buffer of their own starting at offset 0, so 4-byte aligned (readFileSync may use a shared pool). */
function readAligned(file: string): Buffer {
  const fd = openSync(file, 'r');
  try {
    const size = fstatSync(fd).size;
    const bytes = Buffer.from(new ArrayBuffer(size));
    let done = 0;
    while (done < size) {
      const read = readSync(fd, bytes, done, size - done, done);
      if (read === 0) break;
      done += read;
    }
    return done === size ? bytes : bytes.subarray(0, done);
  } finally {
    closeSync(fd);
  }
}

/** Writes a cache file atomically (a temporary name, then a rename); failures are ignored. */
function writeCache(file: string, t: Table): void {
  const temp = `${file}.${process.pid}.${Date.now()}.tmp`;
  try {
    const nameJson = Buffer.from(JSON.stringify(t.nameList), 'utf8');
    const padded = Math.ceil(nameJson.length / 4) * 4;
    const header = new Uint32Array([CACHE_MAGIC, CACHE_VERSION, t.width, t.size, t.names === null ? 0 : 1, nameJson.length]);
    const parts: Uint8Array[] = [header, t.starts, t.ends, t.values, ...(t.names === null ? [] : [t.names])].map(
      (a) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength),
    );
    const trailer = new Uint8Array(new Uint32Array([CACHE_MAGIC]).buffer);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(temp, Buffer.concat([...parts, nameJson, new Uint8Array(padded - nameJson.length), trailer]));
    renameSync(temp, file);
  } catch {
    rmSync(temp, { force: true });
  }
}

function unquote(field: string): string {
  if (!field.startsWith('"')) return field.trim();
  const end = field.endsWith('"') ? field.length - 1 : field.length;
  return field.slice(1, end).replaceAll('""', '"').trim();
}

// ---------------------------------------------------------------------------------------------
// The database installed from npm

export const ASN_PACKAGE = '@ip-location-db/asn';
/** Country packages, best first: geo-whois adds geofeeds and WHOIS to the RIR statistics. */
export const COUNTRY_PACKAGES = ['@ip-location-db/geo-whois-asn-country', '@ip-location-db/asn-country'] as const;

export interface AsnDatabaseStatus {
  available: boolean;
  /** Why lookups answer null (or why country is missing), when they do. */
  reason?: string;
  asnPackage?: string;
  countryPackage?: string;
}

let installed: { database: AsnDatabase | null; status: AsnDatabaseStatus } | undefined;
const warned = new Set<string>();

/** Finds the packages in node_modules (no download, ever) and opens them. */
function installedDatabase(): { database: AsnDatabase | null; status: AsnDatabaseStatus } {
  if (installed) return installed;
  const require = createRequire(import.meta.url);
  const locate = (name: string): { dir: string; version: string } | null => {
    try {
      const manifest = require.resolve(`${name}/package.json`);
      const { version } = JSON.parse(readFileSync(manifest, 'utf8')) as { version?: string };
      return { dir: dirname(manifest), version: version ?? '?' };
    } catch {
      return null;
    }
  };
  const asn = locate(ASN_PACKAGE);
  if (asn === null) {
    installed = {
      database: null,
      status: { available: false, reason: `${ASN_PACKAGE} is not installed, so source_asn, source_as_name and source_country stay empty` },
    };
    return installed;
  }
  const files: AsnDatabaseFiles = { asnIpv4: join(asn.dir, 'asn-ipv4.csv'), asnIpv6: join(asn.dir, 'asn-ipv6.csv') };
  const status: AsnDatabaseStatus = { available: true, asnPackage: `${ASN_PACKAGE}@${asn.version}` };
  const countryName = COUNTRY_PACKAGES.find((name) => locate(name) !== null);
  const country = countryName === undefined ? null : locate(countryName);
  if (countryName !== undefined && country !== null) {
    const base = countryName.slice(countryName.indexOf('/') + 1);
    files.countryIpv4 = join(country.dir, `${base}-ipv4.csv`);
    files.countryIpv6 = join(country.dir, `${base}-ipv6.csv`);
    status.countryPackage = `${countryName}@${country.version}`;
  } else {
    status.reason = `no country package (${COUNTRY_PACKAGES.join(' or ')}) is installed, so source_country stays empty`;
  }
  const cache = process.env.DMARCOPS_ASN_CACHE;
  // node_modules/.cache, not a shared temp dir: a cache file there is trusted as it is, so only the
  // project's own user may write it; `npm ci` clears it with the packages it was built from.
  const cacheDir =
    cache === 'off' ? undefined : cache !== undefined && cache !== '' ? cache : join(asn.dir, '..', '..', '.cache', 'dmarcops-asn');
  installed = { database: openAsnDatabase(files, cacheDir === undefined ? {} : { cacheDir }), status };
  return installed;
}

/** Process-wide: each problem with the installed database becomes one process warning. */
function warnOnce(reason: string): void {
  if (warned.has(reason)) return;
  warned.add(reason);
  process.emitWarning(`IP enrichment: ${reason}.`, { code: 'DMARCOPS_ASN_DB' });
}

/** Runs a lookup on the installed database; a missing or unreadable one gives null and a report. */
function withInstalled<T>(run: (database: AsnDatabase) => T | null, report: (reason: string) => void): T | null {
  const { database, status } = installedDatabase();
  if (status.reason !== undefined) report(status.reason);
  if (database === null) return null;
  try {
    return run(database);
  } catch (error) {
    // A corrupt or unexpected file: stop using the database for this process, and say so.
    const reason = `the IP database could not be read (${error instanceof Error ? error.message : String(error)})`;
    installed = { database: null, status: { ...status, available: false, reason } };
    report(reason);
    return null;
  }
}

/** ASN, AS name and country of a public address, from the installed offline database; else null. */
export function lookupAsn(ip: string): AsnInfo | null {
  return withInstalled((database) => database.lookup(ip), warnOnce);
}

/** Country of a public address (ISO 3166-1 alpha-2), from the installed offline database; else null. */
export function lookupCountry(ip: string): string | null {
  return withInstalled((database) => database.country(ip), warnOnce);
}

/** Like lookupAsn, but each distinct problem goes to `onProblem` (once) instead of a process warning. */
export function installedAsnLookup(onProblem: (reason: string) => void): (ip: string) => AsnInfo | null {
  const reported = new Set<string>();
  const report = (reason: string): void => {
    if (reported.has(reason)) return;
    reported.add(reason);
    onProblem(reason);
  };
  return (ip) => withInstalled((database) => database.lookup(ip), report);
}

/** Which packages are in use, or why not; and table sizes and load time once loaded. */
export function asnDatabaseStatus(): AsnDatabaseStatus & Partial<AsnDatabaseStats> {
  const { database, status } = installedDatabase();
  return database === null ? { ...status } : { ...status, ...database.stats() };
}
