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
import { formatIp, isPublicIp, parseIp } from './ip.ts';
import { DAY_MS, createPtrLookup, loadPtrCache, nodePtrResolver, savePtrCache } from './ptr.ts';
import type { PtrCacheEntry, PtrResolver, PtrStats } from './ptr.ts';
import { senderForAsn, senderForPtr } from './senders.ts';

export { asnDatabaseStatus, installedAsnLookup, lookupAsn, lookupCountry, openAsnDatabase } from './asn.ts';
export type { AsnDatabase, AsnDatabaseFiles, AsnInfo } from './asn.ts';
export { canonicalIp, isPublicIp, parseIp } from './ip.ts';
export { loadPtrCache, nodePtrResolver, savePtrCache } from './ptr.ts';
export type { PtrCacheEntry, PtrCacheFile, PtrResolver, PtrStats } from './ptr.ts';
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
  /** The PTR cache, e.g. reports/cache/ptr.json: ip → {ptr, resolvedAt}. None: in memory only. */
  cacheFile?: string;
  /** Defaults to node:dns with `timeoutMs`. */
  resolver?: PtrResolver;
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
  /** ASN lookup; defaults to the installed offline database (`lookupAsn`). */
  asnLookup?: (ip: string) => AsnInfo | null;
  /** Where warnings go (unreadable cache, missing database…); default process.emitWarning. */
  onWarning?: (message: string) => void;
}

export interface Enricher {
  /** Enrichment for each distinct input string (keys as given). Never rejects. */
  enrichAll(ips: Iterable<string>): Promise<Map<string, Enrichment>>;
  stats(): PtrStats;
  /** Persists the PTR cache atomically (temp + rename) when it changed. Never rejects: a failure warns. */
  save(): Promise<void>;
  /** Warnings so far, for the run summary. */
  warnings(): string[];
}

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
  const lookup = createPtrLookup({
    offline: options.offline,
    makeResolver: () => options.resolver ?? nodePtrResolver(timeoutMs),
    timeoutMs,
    concurrency: options.concurrency ?? 16,
    positiveTtlMs: options.positiveTtlMs ?? 30 * DAY_MS,
    negativeTtlMs: options.negativeTtlMs ?? DAY_MS,
    failureTtlMs: options.failureTtlMs ?? DAY_MS / 24,
    now: options.now ?? (() => new Date()),
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

  const failed = (ip: string, error: unknown): void => warn(`could not enrich ${ip}: ${error instanceof Error ? error.message : String(error)}`);

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
        else pending.push(lookup.ptr(canonical).then((answer) => settle(ip, canonical, answer), (error: unknown) => failed(ip, error)));
      }
      await Promise.all(pending);
      return result;
    },
    stats: () => lookup.stats(),
    async save() {
      if (options.cacheFile === undefined || !lookup.changed()) return;
      try {
        await savePtrCache(options.cacheFile, cache);
      } catch (error) {
        warn(`could not save the PTR cache ${options.cacheFile}: ${error instanceof Error ? error.message : String(error)}`);
      }
    },
    warnings: () => [...warnings],
  };
}
