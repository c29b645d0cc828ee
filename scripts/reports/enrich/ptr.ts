/**
 * Reverse DNS (PTR) for report source IPs: bounded concurrency, a timeout per lookup, one query per
 * IP however often it is asked for, and a JSON cache on disk so that reruns and `--offline` runs
 * need no network. Failures become null and are counted; nothing here throws at the caller.
 *
 * Forward-confirmed (FCrDNS, RFC 8601 §3 "iprev"): whoever controls an IP's reverse zone can make
 * its PTR say anything, `mail-sor-f41.google.com` included, and a report naming such an IP is as
 * easy to forge. A PTR name is only used when one of its A (IPv4) or AAAA (IPv6) answers is the IP
 * again; otherwise the IP has no name here. That name is what labels a source, picks a known
 * service and marks known forwarders, so an unconfirmed one must not: it is not stored at all.
 */
import { randomBytes } from 'node:crypto';
import { Resolver } from 'node:dns/promises';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { canonicalIp } from '../../lib/ip.ts';
import { normaliseName } from '../../lib/dns-name.ts';
import { compare, unique } from '../../lib/collections.ts';

/**
 * Resolves an IP to its PTR names. An empty array, or a rejection with code ENOTFOUND/ENODATA
 * (NXDOMAIN/NODATA), means "no PTR"; ETIMEOUT is a timeout; any other rejection is a failure.
 */
export type PtrResolver = (ip: string) => Promise<string[]>;

/**
 * Resolves a name to its addresses of one family: A records for 4, AAAA for 6. An empty array, or a
 * rejection with code ENOTFOUND/ENODATA, means "none"; other rejections are failures.
 */
export type AddressResolver = (name: string, family: 4 | 6) => Promise<string[]>;

/** Both resolvers over one node:dns (c-ares) Resolver with one try per server, each bounded by `timeoutMs`. */
export function nodeDnsResolvers(timeoutMs = 2000, servers?: string[]): { reverse: PtrResolver; addresses: AddressResolver } {
  const resolver = new Resolver({ timeout: timeoutMs, tries: 1 });
  if (servers !== undefined && servers.length > 0) resolver.setServers(servers);
  return {
    reverse: (ip) => resolver.reverse(ip),
    addresses: (name, family) => (family === 4 ? resolver.resolve4(name) : resolver.resolve6(name)),
  };
}

/** A PtrResolver over node:dns (c-ares) with one try per server, each bounded by `timeoutMs`. */
export function nodePtrResolver(timeoutMs = 2000, servers?: string[]): PtrResolver {
  return nodeDnsResolvers(timeoutMs, servers).reverse;
}

/**
 * One cached answer. `error` marks a failed lookup (timeout, SERVFAIL…), kept for a short while.
 * `seenAt` is when the entry was last used (answered from the cache, or stored by a lookup), kept
 * to a resolution of at most 30 days (the enricher's refresh); pruning goes by it. Files written before it existed lack it:
 * their entries count as seen when resolved.
 *
 * `confirmed` records forward confirmation: true on an entry with a `ptr` (the name's A/AAAA answers
 * include the IP), false on a `ptr: null` entry whose PTR names all failed it (the names are not
 * kept; the entry lives as long as a name would). An entry with a `ptr` but without `confirmed: true`
 * was written before confirmation existed: it is never used as it is, but looked up again (offline:
 * treated as no name).
 */
export interface PtrCacheEntry {
  ptr: string | null;
  resolvedAt: string;
  seenAt?: string;
  error?: string;
  confirmed?: boolean;
}

/**
 * Still version 1: `seenAt` and `confirmed` are optional additions, so files written before them
 * load as they are (unconfirmed names are then looked up again), and loaders that predate them read
 * the new files (they ignore the fields; every name in a new file is confirmed).
 */
export interface PtrCacheFile {
  version: 1;
  entries: Record<string, PtrCacheEntry>;
}

export interface PtrStats {
  /** Queries sent to the resolver. */
  lookups: number;
  /** Answers taken from the cache instead. */
  cacheHits: number;
  /** Lookups that got no answer (timeouts included); "no PTR" is an answer, not a failure. */
  failures: number;
  /** Of the failures, those that timed out. */
  timeouts: number;
  /** A/AAAA queries sent to confirm PTR names. */
  forwardLookups: number;
  /** IPs whose PTR names all failed forward confirmation (they get no name). */
  unconfirmed: number;
}

export interface PtrLookupOptions {
  offline: boolean;
  /** Called once, at the first query: offline runs never create a resolver. */
  makeResolver: () => PtrResolver;
  /** Called once, at the first forward confirmation. */
  makeAddressResolver: () => AddressResolver;
  timeoutMs: number;
  concurrency: number;
  positiveTtlMs: number;
  negativeTtlMs: number;
  failureTtlMs: number;
  now: () => Date;
  /**
   * An entry's `seenAt` is moved to now when it is used and at least this old (default 1 day; the
   * enricher uses 30 days): a run that only reads the cache rewrites each entry at most once in that
   * time, so the committed file's git diffs stay small. Keep it well below the retention period.
   */
  seenRefreshMs?: number;
  /** The cache to start from (from `loadPtrCache`); it is updated in place. */
  cache: Map<string, PtrCacheEntry>;
}

export const DAY_MS = 24 * 60 * 60 * 1000;

export interface PtrLookup {
  /** The PTR name of a canonical IP, lower case without the trailing dot; null when there is none or on failure. */
  ptr(ip: string): Promise<string | null>;
  /** The answer when the cache (or being offline) gives it without a query, else undefined. */
  known(ip: string): string | null | undefined;
  stats(): PtrStats;
  /** Whether any answer was stored in the cache, or any entry's `seenAt` moved, since the start. */
  changed(): boolean;
}

class LookupTimeout extends Error {}

/** PTR names checked per IP (an IP may have several; a forged zone could list hundreds). */
const MAX_NAMES_CONFIRMED = 4;

/** Whether an entry can answer as it is: a name only when it was forward-confirmed. */
const usable = (entry: PtrCacheEntry): boolean => entry.ptr === null || entry.confirmed === true;

/** Builds the lookup. In offline mode the resolver is never called (nor created), whatever the cache holds. */
export function createPtrLookup(options: PtrLookupOptions): PtrLookup {
  const stats: PtrStats = { lookups: 0, cacheHits: 0, failures: 0, timeouts: 0, forwardLookups: 0, unconfirmed: 0 };
  const inFlight = new Map<string, Promise<string | null>>();
  const limit = limiter(options.concurrency);
  let resolver: PtrResolver | undefined;
  let addressResolver: AddressResolver | undefined;
  let changed = false;

  const seenRefreshMs = options.seenRefreshMs ?? DAY_MS;

  const fresh = (entry: PtrCacheEntry): boolean => {
    // Names that failed confirmation are an answer as stable as a name.
    const named = entry.ptr !== null || entry.confirmed === false;
    const ttl = named ? options.positiveTtlMs : entry.error !== undefined ? options.failureTtlMs : options.negativeTtlMs;
    return within(options.now().getTime(), Date.parse(entry.resolvedAt), ttl);
  };

  /** Records that a cached entry was used (a new object: entries loaded from disk are not mutated). */
  const touch = (ip: string, entry: PtrCacheEntry): void => {
    const now = options.now();
    if (within(now.getTime(), lastSeen(entry), seenRefreshMs)) return;
    options.cache.set(ip, { ...entry, seenAt: now.toISOString() });
    changed = true;
  };

  const failed = (error: unknown): string => {
    const code = error instanceof LookupTimeout ? 'ETIMEOUT' : ((error as NodeJS.ErrnoException | null)?.code ?? 'ERROR');
    return code === 'ENOTFOUND' || code === 'ENODATA' ? 'NONE' : code;
  };

  const remember = (ip: string, ptr: string | null, extra: { error?: string; confirmed?: boolean } = {}): string | null => {
    const now = options.now().toISOString();
    options.cache.set(ip, entry(ptr, now, now, extra.error, extra.confirmed));
    changed = true;
    return ptr;
  };

  /** A failure: counted, and remembered for the short failure TTL. */
  const failure = (ip: string, code: string): string | null => {
    stats.failures++;
    if (code === 'ETIMEOUT') stats.timeouts++;
    return remember(ip, null, { error: code });
  };

  /** Whether `name` has an A (IPv4) or AAAA (IPv6) record that is `ip` again; a code on failure. */
  const confirms = async (name: string, ip: string): Promise<boolean | string> => {
    const query = (addressResolver ??= options.makeAddressResolver());
    stats.forwardLookups++;
    try {
      const family = ip.includes(':') ? 6 : 4;
      const addresses = await withTimeout(
        Promise.resolve().then(() => query(name, family)),
        options.timeoutMs,
      );
      return addresses.some((address) => canonicalIp(address) === ip);
    } catch (error) {
      const code = failed(error);
      return code === 'NONE' ? false : code;
    }
  };

  const resolve = async (ip: string): Promise<string | null> => {
    const query = (resolver ??= options.makeResolver());
    stats.lookups++;
    let names: string[];
    try {
      names = ptrNames(
        await withTimeout(
          Promise.resolve().then(() => query(ip)),
          options.timeoutMs,
        ),
      );
    } catch (error) {
      const code = failed(error);
      return code === 'NONE' ? remember(ip, null) : failure(ip, code);
    }
    if (names.length === 0) return remember(ip, null);
    // The smallest confirmed name, so that reruns agree.
    let failedCode: string | undefined;
    for (const name of names.slice(0, MAX_NAMES_CONFIRMED)) {
      const result = await confirms(name, ip);
      if (result === true) return remember(ip, name, { confirmed: true });
      if (typeof result === 'string') failedCode ??= result;
    }
    // No name confirmed, and a forward lookup could not be answered: try again after the failure TTL.
    if (failedCode !== undefined) return failure(ip, failedCode);
    stats.unconfirmed++;
    return remember(ip, null, { confirmed: false });
  };

  const known = (ip: string): string | null | undefined => {
    const cached = options.cache.get(ip);
    // Offline, the cache is all there is: an expired answer is still the best one (but a name that
    // was never forward-confirmed is none).
    if (cached !== undefined && (options.offline || (fresh(cached) && usable(cached)))) {
      stats.cacheHits++;
      touch(ip, cached);
      return usable(cached) ? cached.ptr : null;
    }
    return options.offline ? null : undefined;
  };

  return {
    known,
    ptr(ip) {
      const answer = known(ip);
      if (answer !== undefined) return Promise.resolve(answer);
      let pending = inFlight.get(ip);
      if (pending === undefined) {
        pending = limit(() => resolve(ip)).finally(() => inFlight.delete(ip));
        inFlight.set(ip, pending);
      }
      return pending;
    },
    stats: () => ({ ...stats }),
    changed: () => changed,
  };
}

/** Several PTR names can come back, in any order: lower case, without the root dot, unique, sorted (reruns agree). */
function ptrNames(names: readonly string[]): string[] {
  const cleaned = names.map(normaliseName).filter((name) => name !== '');
  return unique(cleaned).sort(compare);
}

/**
 * Rejects with LookupTimeout after `ms`. The slot is freed then even if the resolver never
 * settles, so a hung resolver slows a run down but cannot stall it.
 */
function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new LookupTimeout(`no answer in ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** At most `max` tasks at once; the rest wait in order. */
function limiter(max: number): <T>(task: () => Promise<T>) => Promise<T> {
  const size = Math.max(1, Math.floor(max));
  let active = 0;
  const waiting: (() => void)[] = [];
  return async (task) => {
    if (active >= size) await new Promise<void>((wake) => waiting.push(wake));
    active++;
    try {
      return await task();
    } finally {
      active--;
      waiting.shift()?.();
    }
  };
}

// ---------------------------------------------------------------------------------------------
// The cache file

/** Reads the cache; a missing file is an empty cache, an unreadable one too (with a reason). */
export async function loadPtrCache(file: string): Promise<{ cache: Map<string, PtrCacheEntry>; problem?: string }> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { cache: new Map() };
    return { cache: new Map(), problem: `could not read ${file}: ${(error as Error).message}` };
  }
  try {
    const json = JSON.parse(text) as Partial<PtrCacheFile>;
    if (json.version !== 1 || typeof json.entries !== 'object' || json.entries === null) {
      return { cache: new Map(), problem: `${file} is not a version 1 PTR cache; starting afresh` };
    }
    const cache = new Map<string, PtrCacheEntry>();
    for (const [ip, entry] of Object.entries(json.entries)) {
      const valid = validEntry(entry);
      if (valid !== null) cache.set(ip, valid);
    }
    return { cache };
  } catch (error) {
    return { cache: new Map(), problem: `${file} is not valid JSON (${(error as Error).message}); starting afresh` };
  }
}

/**
 * The entry with its known fields only (in the order they are written), or null when it is
 * malformed. A missing or unreadable `seenAt` (files from before it existed) becomes `resolvedAt`.
 */
function validEntry(value: unknown): PtrCacheEntry | null {
  if (typeof value !== 'object' || value === null) return null;
  const { ptr, resolvedAt, seenAt, error, confirmed } = value as Record<string, unknown>;
  const valid = (ptr === null || typeof ptr === 'string') && isTime(resolvedAt) && (error === undefined || typeof error === 'string');
  if (!valid) return null;
  return entry(ptr, resolvedAt, isTime(seenAt) ? seenAt : resolvedAt, error, typeof confirmed === 'boolean' ? confirmed : undefined);
}

function isTime(value: unknown): value is string {
  return typeof value === 'string' && !Number.isNaN(Date.parse(value));
}

/** An entry with its fields in a fixed order, so the file's lines do not move between runs. */
function entry(
  ptr: string | null,
  resolvedAt: string,
  seenAt: string,
  error: string | undefined,
  confirmed: boolean | undefined,
): PtrCacheEntry {
  const result: PtrCacheEntry = { ptr, resolvedAt, seenAt };
  if (error !== undefined) result.error = error;
  if (confirmed !== undefined) result.confirmed = confirmed;
  return result;
}

/** Whether `time` is at most `ms` before `now` (a time ahead of the clock counts as not within). */
function within(now: number, time: number, ms: number): boolean {
  const age = now - time;
  return age >= 0 && age < ms;
}

/** When the entry was last used: `seenAt`, or `resolvedAt` for entries that lack it. */
function lastSeen(value: PtrCacheEntry): number {
  const seen = value.seenAt === undefined ? Number.NaN : Date.parse(value.seenAt);
  return Number.isNaN(seen) ? Date.parse(value.resolvedAt) : seen;
}

export interface PtrPruneOptions {
  now: Date;
  /** Entries not seen for longer than this are dropped. */
  retentionMs: number;
  /** Failure entries (with `error`) are dropped once this has passed since they were resolved. */
  failureTtlMs: number;
  /** At most this many entries are kept: the most recently seen. */
  maxEntries: number;
}

/** What `prunePtrCache` dropped, by reason (each entry counted once, under the first that applies). */
export interface PtrPruneCounts {
  /** Not seen within the retention period. */
  unused: number;
  /** Failures past their TTL (the next lookup would ask again anyway). */
  failures: number;
  /** Beyond the maximum entry count (the least recently seen). */
  overCap: number;
}

/**
 * Drops from the cache (in place) what is no longer useful: failures past their TTL, entries not
 * seen within the retention period, and beyond `maxEntries` the least recently seen ones (ties:
 * older `resolvedAt` first, then the larger IP string, so the result does not depend on map order).
 * Entries dated in the future (a clock that was ahead) are kept, not treated as stale.
 */
export function prunePtrCache(cache: Map<string, PtrCacheEntry>, options: PtrPruneOptions): PtrPruneCounts {
  const counts: PtrPruneCounts = { unused: 0, failures: 0, overCap: 0 };
  const now = options.now.getTime();
  for (const [ip, value] of cache) {
    if (value.error !== undefined) {
      if (!within(now, Date.parse(value.resolvedAt), options.failureTtlMs)) {
        cache.delete(ip);
        counts.failures++;
        continue;
      }
    }
    if (now - lastSeen(value) > options.retentionMs) {
      cache.delete(ip);
      counts.unused++;
    }
  }
  const max = Math.max(0, Math.floor(options.maxEntries));
  if (cache.size > max) {
    const ranked = [...cache].map(([ip, value]) => ({ ip, seen: lastSeen(value), resolved: Date.parse(value.resolvedAt) }));
    ranked.sort((a, b) => b.seen - a.seen || b.resolved - a.resolved || (a.ip < b.ip ? -1 : a.ip > b.ip ? 1 : 0));
    for (const { ip } of ranked.slice(max)) cache.delete(ip);
    counts.overCap = ranked.length - max;
  }
  return counts;
}

/**
 * Writes the cache atomically (a temporary file in the same folder, then rename), keys sorted and
 * each entry's fields in a fixed order, for stable diffs. Prune first (`prunePtrCache`) to bound it.
 */
export async function savePtrCache(file: string, cache: ReadonlyMap<string, PtrCacheEntry>): Promise<void> {
  const entries: Record<string, PtrCacheEntry> = {};
  for (const ip of [...cache.keys()].sort()) {
    const value = cache.get(ip)!;
    entries[ip] = entry(value.ptr, value.resolvedAt, value.seenAt ?? value.resolvedAt, value.error, value.confirmed);
  }
  const body: PtrCacheFile = { version: 1, entries };
  await mkdir(dirname(file), { recursive: true });
  const temporary = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await writeFile(temporary, `${JSON.stringify(body, null, 1)}\n`, 'utf8');
    await rename(temporary, file);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
}
