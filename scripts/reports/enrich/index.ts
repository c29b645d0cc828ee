/**
 * Enrichment of report source IPs at ingest: PTR name (cached reverse DNS), its base domain (PSL),
 * a named sender and type (data/senders.json), ASN, AS name and country (offline database from
 * npm). The result goes into the dataset's source_* columns, so builds never look anything up.
 *
 * Enrichment never blocks ingest: every failure leaves fields null, is counted, and at most warns.
 */
import { getDomain } from 'tldts';
import { installedAsnLookup } from './asn.ts';
import type { AsnInfo } from './asn.ts';
import { formatIp, isPublicIp, parseIp } from '../../lib/ip.ts';
import { DAY_MS, createPtrLookup, loadPtrCache, nodeDnsResolvers, prunePtrCache, savePtrCache } from './ptr.ts';
import type { AddressResolver, PtrCacheEntry, PtrPruneCounts, PtrResolver, PtrStats } from './ptr.ts';
import { senderForAsn, senderForPtr } from './senders.ts';

export { asnDatabaseStatus, installedAsnLookup, lookupAsn, lookupCountry, openAsnDatabase } from './asn.ts';
export type { AsnDatabase, AsnDatabaseFiles, AsnInfo } from './asn.ts';
export { loadPtrCache, nodeDnsResolvers, nodePtrResolver, prunePtrCache, savePtrCache } from './ptr.ts';
export type { AddressResolver, PtrCacheEntry, PtrCacheFile, PtrPruneCounts, PtrPruneOptions, PtrResolver, PtrStats } from './ptr.ts';
export { createSenderMatcher, isKnownForwarder, parseSenderMap, senderForAsn, senderForPtr, senderMap } from './senders.ts';
export type { Sender, SenderEntry, SenderMap, SenderMatcher } from './senders.ts';

/** The dataset's enrichment columns for one source IP (source_ptr … source_country). */
export interface Enrichment {
  ptr: string | null;
  baseDomain: string | null;
  name: string | null;
  type: string | null;
  asn: number | null;
  asName: string | null;
  country: string | null;
}

export interface EnricherOptions {
  /** No network at all: PTR names come from the cache only (expired entries included). */
  offline: boolean;
  /** The PTR cache, e.g. reports/cache/ptr.json: ip → {ptr, resolvedAt, seenAt}. None: in memory only. */
  cacheFile?: string;
  /** PTR queries; defaults to node:dns with `timeoutMs`. */
  resolver?: PtrResolver;
  /**
   * A/AAAA queries that forward-confirm each PTR name (an unconfirmed name is not used); defaults
   * to node:dns with `timeoutMs`, also when only `resolver` is given: inject both to keep tests off
   * the network.
   */
  addressResolver?: AddressResolver;
  /** Per lookup; default 2000. */
  timeoutMs?: number;
  /** PTR queries in flight at once; default 16. */
  concurrency?: number;
  now?: () => Date;
  /** How long a PTR name is trusted; default 30 days. */
  positiveTtlMs?: number;
  /** How long "no PTR" (NXDOMAIN/NODATA) is trusted; default 1 day. */
  negativeTtlMs?: number;
  /** How long a failed lookup (timeout, SERVFAIL) is remembered before trying again; default 1 hour. */
  failureTtlMs?: number;
  /** save() drops cache entries not used (read or looked up) for longer than this; default 90 days. */
  cacheRetentionMs?: number;
  /** save() keeps at most this many cache entries, the most recently used; default 200,000. */
  cacheMaxEntries?: number;
  /** ASN lookup; defaults to the installed offline database (`lookupAsn`). */
  asnLookup?: (ip: string) => AsnInfo | null;
  /** Where warnings go (unreadable cache, missing database…); default process.emitWarning. */
  onWarning?: (message: string) => void;
}

export interface Enricher {
  /** Enrichment for each distinct input string (keys as given). Never rejects. */
  enrichAll(ips: Iterable<string>): Promise<Map<string, Enrichment>>;
  stats(): PtrStats;
  /**
   * Prunes the PTR cache (entries unused past the retention period, failures past their TTL, the
   * least recently used beyond the maximum count), then persists it atomically (temp + rename) when
   * it changed or lost entries. Never rejects: a failure warns.
   */
  save(): Promise<void>;
  /** Cache entries dropped by save() so far, by reason (all zero before it runs). */
  pruned(): PtrPruneCounts;
  /** Warnings so far, for the run summary. */
  warnings(): string[];
}

/** How long an unused PTR cache entry is kept (see EnricherOptions.cacheRetentionMs). */
export const DEFAULT_CACHE_RETENTION_MS = 90 * DAY_MS;
/** The most PTR cache entries kept (see EnricherOptions.cacheMaxEntries). */
export const DEFAULT_CACHE_MAX_ENTRIES = 200_000;

export const EMPTY_ENRICHMENT: Readonly<Enrichment> = Object.freeze({
  ptr: null,
  baseDomain: null,
  name: null,
  type: null,
  asn: null,
  asName: null,
  country: null,
});

export async function createEnricher(options: EnricherOptions): Promise<Enricher> {
  const warnings: string[] = [];
  const warn = (message: string): void => {
    warnings.push(message);
    if (options.onWarning) options.onWarning(message);
    else process.emitWarning(`IP enrichment: ${message}`, { code: 'DMARCOPS_ENRICH' });
  };
  let cache = new Map<string, PtrCacheEntry>();
  if (options.cacheFile !== undefined) {
    const loaded = await loadPtrCache(options.cacheFile);
    cache = loaded.cache;
    if (loaded.problem !== undefined) warn(loaded.problem);
  }
  const timeoutMs = options.timeoutMs ?? 2000;
  const now = options.now ?? (() => new Date());
  const failureTtlMs = options.failureTtlMs ?? DAY_MS / 24;
  const retentionMs = options.cacheRetentionMs ?? DEFAULT_CACHE_RETENTION_MS;
  const maxEntries = options.cacheMaxEntries ?? DEFAULT_CACHE_MAX_ENTRIES;
  const pruned: PtrPruneCounts = { unused: 0, failures: 0, overCap: 0 };
  let nodeDns: ReturnType<typeof nodeDnsResolvers> | undefined;
  const lookup = createPtrLookup({
    offline: options.offline,
    makeResolver: () => options.resolver ?? (nodeDns ??= nodeDnsResolvers(timeoutMs)).reverse,
    makeAddressResolver: () => options.addressResolver ?? (nodeDns ??= nodeDnsResolvers(timeoutMs)).addresses,
    timeoutMs,
    concurrency: options.concurrency ?? 16,
    positiveTtlMs: options.positiveTtlMs ?? 30 * DAY_MS,
    negativeTtlMs: options.negativeTtlMs ?? DAY_MS,
    failureTtlMs,
    now,
    // Each refresh rewrites the entry's line in the committed file: at most monthly (as a name's TTL),
    // and well within the retention period, so a used entry never looks unused at save.
    seenRefreshMs: Math.min(30 * DAY_MS, retentionMs / 3),
    cache,
  });
  const asnLookup = options.asnLookup ?? installedAsnLookup(warn);

  const describe = (canonical: string, ptr: string | null): Enrichment => {
    // ICANN section only: private suffixes (compute-1.amazonaws.com, members.linode.com) would
    // make every cloud host its own "base domain"; the IP's operator owns the ICANN domain.
    const baseDomain = ptr === null ? null : (getDomain(ptr, { allowPrivateDomains: false }) ?? null);
    let asn: AsnInfo | null = null;
    try {
      asn = asnLookup(canonical);
    } catch {
      asn = null;
    }
    // The PTR name says more than the ASN (a customer-branded PTR in SendGrid's AS still is SendGrid).
    const sender = (ptr === null ? null : senderForPtr(ptr)) ?? (asn === null ? null : senderForAsn(asn.asn));
    return {
      ptr,
      baseDomain,
      name: sender?.name ?? null,
      type: sender?.type ?? null,
      asn: asn?.asn ?? null,
      asName: asn?.asName ?? null,
      country: asn?.country ?? null,
    };
  };

  const failed = (ip: string, error: unknown): void =>
    warn(`could not enrich ${ip}: ${error instanceof Error ? error.message : String(error)}`);

  return {
    async enrichAll(ips) {
      const result = new Map<string, Enrichment>();
      const pending: Promise<void>[] = [];
      const settle = (ip: string, canonical: string, ptr: string | null): void => {
        try {
          result.set(ip, describe(canonical, ptr));
        } catch (error) {
          failed(ip, error);
        }
      };
      for (const ip of ips) {
        if (result.has(ip)) continue;
        // Until (unless) something better is known. Frozen and shared: tens of thousands of IPs.
        result.set(ip, EMPTY_ENRICHMENT);
        const parsed = parseIp(ip);
        if (parsed === null || !isPublicIp(parsed)) continue;
        const canonical = formatIp(parsed);
        // Offline or cached (nearly always): answered at once, no promise per IP.
        const ptr = lookup.known(canonical);
        if (ptr !== undefined) settle(ip, canonical, ptr);
        else
          pending.push(
            lookup.ptr(canonical).then(
              (answer) => settle(ip, canonical, answer),
              (error: unknown) => failed(ip, error),
            ),
          );
      }
      await Promise.all(pending);
      return result;
    },
    stats: () => lookup.stats(),
    async save() {
      if (options.cacheFile === undefined) return;
      const dropped = prunePtrCache(cache, { now: now(), retentionMs, failureTtlMs, maxEntries });
      pruned.unused += dropped.unused;
      pruned.failures += dropped.failures;
      pruned.overCap += dropped.overCap;
      if (!lookup.changed() && dropped.unused + dropped.failures + dropped.overCap === 0) return;
      try {
        await savePtrCache(options.cacheFile, cache);
      } catch (error) {
        warn(`could not save the PTR cache ${options.cacheFile}: ${error instanceof Error ? error.message : String(error)}`);
      }
    },
    pruned: () => ({ ...pruned }),
    warnings: () => [...warnings],
  };
}
