/**
 * The known-sender map (data/senders.json, MIT, maintained here): a PTR name or base domain → a
 * named service and its type, by longest label suffix; an AS number → the same, as a fallback.
 */
import { readFileSync } from 'node:fs';
import { isPlainObject } from '../../lib/collections.ts';
import { normaliseName } from '../../lib/dns-name.ts';

export interface Sender {
  name: string;
  type: string;
}

export interface SenderEntry extends Sender {
  forwarder: boolean;
}

export interface SenderMap {
  types: ReadonlySet<string>;
  domains: ReadonlyMap<string, SenderEntry>;
  asns: ReadonlyMap<number, SenderEntry>;
}

const DATA_FILE = new URL('./data/senders.json', import.meta.url);

let loaded: SenderMap | undefined;

/** The map, read and checked once. A broken data file is a bug in this repository, so it throws. */
export function senderMap(): SenderMap {
  loaded ??= parseSenderMap(JSON.parse(readFileSync(DATA_FILE, 'utf8')) as unknown);
  return loaded;
}

/** Validates the JSON shape: every entry has a name and a type from the vocabulary. */
export function parseSenderMap(json: unknown): SenderMap {
  const fail = (why: string): never => {
    throw new Error(`senders.json: ${why}`);
  };
  if (!isPlainObject(json)) return fail('not an object');
  const typeList = json.types;
  if (!Array.isArray(typeList) || !typeList.every((t) => typeof t === 'string')) return fail('"types" must list strings');
  const types = new Set<string>(typeList);
  const entry = (where: string, value: unknown): SenderEntry => {
    if (!isPlainObject(value)) return fail(`${where} is not an object`);
    const { name, type, forwarder } = value;
    if (typeof name !== 'string' || name === '') return fail(`${where} has no name`);
    if (typeof type !== 'string' || !types.has(type)) return fail(`${where} has type ${JSON.stringify(type)}, not one of "types"`);
    if (forwarder !== undefined && typeof forwarder !== 'boolean') return fail(`${where}.forwarder must be true or false`);
    return { name, type, forwarder: forwarder === true };
  };
  const domains = new Map<string, SenderEntry>();
  for (const [key, value] of Object.entries(isPlainObject(json.domains) ? json.domains : fail('"domains" is missing'))) {
    if (key !== normaliseName(key) || key === '') fail(`domain key "${key}" must be lower case without a trailing dot`);
    domains.set(key, entry(`domains["${key}"]`, value));
  }
  const asns = new Map<number, SenderEntry>();
  for (const [key, value] of Object.entries(isPlainObject(json.asns) ? json.asns : {})) {
    const asn = Number(key);
    if (!Number.isInteger(asn) || asn <= 0) fail(`asn key "${key}" is not an AS number`);
    asns.set(asn, entry(`asns["${key}"]`, value));
  }
  return { types, domains, asns };
}

export interface SenderMatcher {
  senderForPtr(ptrOrBaseDomain: string): Sender | null;
  senderForAsn(asn: number): Sender | null;
  isKnownForwarder(ptrOrBaseDomain: string | null, asn?: number | null): boolean;
}

/** The lookups over one map (the maintained one, or a test's). */
export function createSenderMatcher(map: SenderMap): SenderMatcher {
  // The entry whose key is the longest label suffix of the name (the name itself included).
  const entryForName = (ptrOrBaseDomain: string): SenderEntry | null => {
    let name = normaliseName(ptrOrBaseDomain);
    while (name !== '') {
      const found = map.domains.get(name);
      if (found) return found;
      const dot = name.indexOf('.');
      if (dot === -1) return null;
      name = name.slice(dot + 1);
    }
    return null;
  };
  const sender = (entry: SenderEntry | null | undefined): Sender | null => (entry ? { name: entry.name, type: entry.type } : null);
  return {
    senderForPtr: (ptrOrBaseDomain) => sender(entryForName(ptrOrBaseDomain)),
    senderForAsn: (asn) => sender(map.asns.get(asn)),
    isKnownForwarder(ptrOrBaseDomain, asn) {
      // A matching PTR name decides; the AS number is consulted only when the name matches nothing.
      if (ptrOrBaseDomain !== null && ptrOrBaseDomain !== '') {
        const found = entryForName(ptrOrBaseDomain);
        if (found) return found.forwarder;
      }
      return asn !== undefined && asn !== null && map.asns.get(asn)?.forwarder === true;
    },
  };
}

let matcher: SenderMatcher | undefined;
const maintained = (): SenderMatcher => (matcher ??= createSenderMatcher(senderMap()));

/** The service sending from a host with this PTR name (or base domain), e.g. SendGrid / ESP. */
export function senderForPtr(ptrOrBaseDomain: string): Sender | null {
  return maintained().senderForPtr(ptrOrBaseDomain);
}

/** The service owning this AS number, for ASNs that carry a single service's mail. */
export function senderForAsn(asn: number): Sender | null {
  return maintained().senderForAsn(asn);
}

/**
 * Whether the host is a known forwarder (mailbox provider, forwarding service): by its PTR name or
 * base domain, or else by its AS number when given.
 */
export function isKnownForwarder(ptrOrBaseDomain: string | null, asn?: number | null): boolean {
  return maintained().isKnownForwarder(ptrOrBaseDomain, asn);
}
