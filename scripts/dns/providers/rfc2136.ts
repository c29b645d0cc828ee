/**
 * The rfc2136 provider: any authoritative server that takes RFC 2136 dynamic updates signed with an
 * RFC 8945 TSIG key (BIND 9, Knot, PowerDNS with dnsupdate, Windows DNS with a TSIG-capable setup…).
 * Everything goes over TCP to one server (`DMARCOPS_RFC2136_SERVER`, the zone's primary), every
 * request is signed and every answer's signature verified, so neither a read nor the outcome of a
 * write can be forged by something in between.
 *
 * - `listTxt`: one TSIG-signed `TXT` query per name asked, pipelined on one TCP connection (RFC 7766
 *   §6.2.1.1). Only the names dmarcops manages are asked for: no zone transfer. The answer must be
 *   authoritative (AA), so a resolver or a server for another zone is refused instead of believed.
 *   Each record's `id` is its RDATA in hex: in DNS an RR is identified by its name, type and RDATA
 *   (RFC 2181 §5), which is what `applyZone` needs to delete exactly that RR and to state the RRset.
 * - `applyZone`: ONE UPDATE message per zone (RFC 2136 §3), which the server applies all or nothing.
 *   Per changed name, the prerequisites are the TXT RRset exactly as listed (§2.4.2 "RRset exists,
 *   value dependent"), or "RRset does not exist" (§2.4.3) when there was none, plus "no CNAME" before
 *   adding records where there was none. A concurrent edit of those RRsets, or a stale `current`,
 *   therefore fails the whole update with NXRRSET/YXRRSET and nothing is written. The updates delete
 *   only the RRs the change owns (class NONE, §2.5.4: other TXT at the name stay) and add the wanted
 *   values as character-strings of at most 255 octets split at tag boundaries (`splitCharacterStrings`).
 *   An RRset has one TTL (RFC 2181 §5.2): when the wanted TTL differs, the kept DMARC records are
 *   re-added with it and the server gives the whole RRset that TTL, other TXT at the name included.
 *   A zone whose update would not fit in one 64 KiB TCP message is sent in several, each all or nothing.
 *
 * The SOA serial is the server's business (BIND increments it on every update). Settings come from the
 * environment only; the key's secret never appears in a message.
 */
import { randomInt } from 'node:crypto';
import { connect, isIP } from 'node:net';
import { DmarcopsError } from '../../lib/errors.ts';
import type { DnsProviderErrorCode } from './cloudflare.ts';
import { splitCharacterStrings } from '../../lib/dns-txt.ts';
import { inZone, normaliseName } from '../../lib/dns-name.ts';
import type { DnsProvider, RecordChange, TxtRecord } from '../types.ts';
import {
  MAX_TCP_MESSAGE,
  OPCODE,
  RR_CLASS,
  RR_TYPE,
  TSIG_ALGORITHMS,
  TSIG_FUDGE,
  decodeMessage,
  decodeTxtData,
  encodeMessage,
  encodeName,
  encodeRecord,
  encodeTxtData,
  rcodeName,
  signMessage,
  tsigErrorName,
  verifyResponse,
  type DecodedMessage,
  type TsigAlgorithm,
  type TsigKey,
  type WireRecord,
} from './dns-wire.ts';

export const ENV = {
  server: 'DMARCOPS_RFC2136_SERVER',
  keyName: 'DMARCOPS_RFC2136_KEY_NAME',
  keyAlgorithm: 'DMARCOPS_RFC2136_KEY_ALGORITHM',
  keySecret: 'DMARCOPS_RFC2136_KEY_SECRET',
} as const;

export interface ServerAddress {
  host: string;
  port: number;
}

export interface Rfc2136Config {
  server: ServerAddress;
  key: TsigKey;
}

export interface Rfc2136ProviderOptions extends Rfc2136Config {
  /** Per exchange with the server (default 15 s). */
  timeoutMs?: number;
  /** Seconds since the epoch, for signing and checking TSIG times (tests move it). */
  now?: () => number;
  /** Largest UPDATE message before a zone's update is split (default 64 KiB less room for the TSIG). */
  maxMessageOctets?: number;
  /** Replaces the TCP exchange (tests watch or alter the messages with it). */
  exchange?: typeof exchangeTcp;
}

/**
 * A failure answered by the server (or of the exchange), with the RCODE and TSIG error when there were
 * any. The code: given (configuration), or told from them: a TSIG error, REFUSED or NOTAUTH is the key
 * or the server refusing; a failed prerequisite (NXRRSET, YXRRSET, NXDOMAIN, YXDOMAIN) is a zone that
 * changed since it was planned (RFC 2136 §3.2).
 */
export class Rfc2136Error extends DmarcopsError {
  declare readonly code: DnsProviderErrorCode;
  readonly rcode: string | undefined;
  readonly tsigError: string | undefined;
  constructor(message: string, details: { rcode?: string; tsigError?: string; cause?: unknown; code?: DnsProviderErrorCode } = {}) {
    super(
      details.code ?? rfc2136ErrorCode(details.rcode, details.tsigError),
      message,
      details.cause === undefined ? {} : { cause: details.cause },
    );
    this.name = 'Rfc2136Error';
    this.rcode = details.rcode;
    this.tsigError = details.tsigError;
  }
}

function rfc2136ErrorCode(rcode: string | undefined, tsigError: string | undefined): DnsProviderErrorCode {
  if (tsigError !== undefined || rcode === 'REFUSED' || rcode === 'NOTAUTH') return 'dns-provider-auth';
  if (rcode === 'NXRRSET' || rcode === 'YXRRSET' || rcode === 'NXDOMAIN' || rcode === 'YXDOMAIN') return 'dns-zone-changed';
  if (rcode === 'NOTZONE') return 'dns-zone-not-found';
  return 'dns-provider-failed';
}

const CONFIG = { code: 'dns-provider-config' } as const;
const DEFAULT_TIMEOUT_MS = 15_000;
const DEFAULT_PORT = 53;
/** Queries in flight at once on the connection. */
const PIPELINE_WINDOW = 32;
/** Room left in a 64 KiB message for the TSIG RR (key name ≤ 255, algorithm, MAC ≤ 64 octets, fixed fields). */
const TSIG_RESERVE = 512;

// ------------------------------------------------------------------------------------------------
// Configuration

/**
 * The settings from the environment: `DMARCOPS_RFC2136_SERVER` (`host`, `host:port`, `[v6]:port`),
 * `DMARCOPS_RFC2136_KEY_NAME`, `DMARCOPS_RFC2136_KEY_SECRET` (base64, as `tsig-keygen` prints it) and
 * `DMARCOPS_RFC2136_KEY_ALGORITHM` (default hmac-sha256). Errors name variables, never the secret.
 */
export function rfc2136ConfigFromEnv(env: Readonly<Record<string, string | undefined>> = process.env): Rfc2136Config {
  const read = (name: string): string => env[name]?.trim() ?? '';
  const missing = [ENV.server, ENV.keyName, ENV.keySecret].filter((name) => read(name) === '');
  if (missing.length > 0) {
    throw new Rfc2136Error(
      `rfc2136 provider: missing environment variable${missing.length === 1 ? '' : 's'} ${missing.join(', ')} ` +
        `(${ENV.server} is the zone's primary server as host or host:port, ${ENV.keyName} and ${ENV.keySecret} the TSIG key's name ` +
        `and base64 secret as tsig-keygen prints them, ${ENV.keyAlgorithm} its algorithm, default hmac-sha256)`,
      CONFIG,
    );
  }
  const server = parseServer(read(ENV.server));
  const algorithm = parseAlgorithm(read(ENV.keyAlgorithm) || 'hmac-sha256');
  const keyName = read(ENV.keyName);
  try {
    encodeName(keyName);
  } catch (error) {
    throw new Rfc2136Error(`rfc2136 provider: ${ENV.keyName} is not a valid key name: ${(error as Error).message}`, CONFIG);
  }
  const secret = parseSecret(read(ENV.keySecret));
  return { server, key: { name: normaliseName(keyName), algorithm, secret } };
}

/** For `providers/index.ts`: the provider configured from the environment. */
export function providerFromEnv(env: Readonly<Record<string, string | undefined>> = process.env): DnsProvider {
  return createRfc2136Provider(rfc2136ConfigFromEnv(env));
}

/** `ns1.example.com`, `192.0.2.53:5353`, `[2001:db8::53]:53` or a bare `2001:db8::53` (port 53). */
export function parseServer(text: string): ServerAddress {
  const fail = (why: string): never => {
    throw new Rfc2136Error(
      `rfc2136 provider: ${ENV.server}=${JSON.stringify(text)} ${why} (expected host, host:port or [IPv6]:port)`,
      CONFIG,
    );
  };
  let host = text.trim();
  let portText: string | undefined;
  const bracketed = /^\[([^\]]+)\](?::(.*))?$/.exec(host);
  if (bracketed !== null) {
    host = bracketed[1] ?? '';
    portText = bracketed[2];
    if (isIP(host) !== 6) fail('has brackets around something that is not an IPv6 address');
  } else if ((host.match(/:/g) ?? []).length === 1) {
    [host = '', portText] = host.split(':');
  } else if (host.includes(':') && isIP(host) !== 6) {
    fail('is not an IPv6 address');
  }
  if (host === '' || /[\s/@]/.test(host)) fail('has no valid host');
  let port = DEFAULT_PORT;
  if (portText !== undefined) {
    port = /^\d{1,5}$/.test(portText) ? Number(portText) : 0;
    if (port < 1 || port > 65_535) fail('has an invalid port');
  }
  return { host, port };
}

function parseAlgorithm(text: string): TsigAlgorithm {
  const name = normaliseName(text);
  if (Object.hasOwn(TSIG_ALGORITHMS, name)) return name as TsigAlgorithm;
  const known = Object.keys(TSIG_ALGORITHMS).join(', ');
  const md5 = name.startsWith('hmac-md5')
    ? ' (HMAC-MD5 is deprecated by RFC 8945 §6: make an hmac-sha256 key with tsig-keygen -a hmac-sha256 <name>)'
    : '';
  throw new Rfc2136Error(
    `rfc2136 provider: ${ENV.keyAlgorithm}=${JSON.stringify(text)} is not supported${md5}; use one of ${known}`,
    CONFIG,
  );
}

function parseSecret(text: string): Uint8Array {
  const compact = text.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(compact) || compact.length % 4 !== 0) {
    throw new Rfc2136Error(
      `rfc2136 provider: ${ENV.keySecret} is not base64 (the secret "…" of the key as tsig-keygen prints it; the value is not shown)`,
      CONFIG,
    );
  }
  const secret = Buffer.from(compact, 'base64');
  if (secret.length === 0) throw new Rfc2136Error(`rfc2136 provider: ${ENV.keySecret} is empty`, CONFIG);
  return secret;
}

export function showServer(server: ServerAddress): string {
  return `${isIP(server.host) === 6 ? `[${server.host}]` : server.host}:${server.port}`;
}

// ------------------------------------------------------------------------------------------------
// The provider

export function createRfc2136Provider(options: Rfc2136ProviderOptions): DnsProvider {
  const { server, key } = options;
  if (key.secret.length === 0) throw new Rfc2136Error('rfc2136 provider: the TSIG secret is empty', CONFIG);
  const shown = showServer(server);
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const now = options.now ?? (() => Math.floor(Date.now() / 1000));
  const exchange = options.exchange ?? exchangeTcp;
  const maxMessageOctets = options.maxMessageOctets ?? MAX_TCP_MESSAGE - TSIG_RESERVE;
  const prefix = `RFC 2136 server ${shown}`;

  /** Sends signed requests on one TCP connection; answers in request order, each decoded and its TSIG verified. */
  async function exchangeSigned(messages: readonly Buffer[], what: string): Promise<DecodedMessage[]> {
    const signed = messages.map((message) => signMessage(message, key, now()));
    let answers: Buffer[];
    try {
      answers = await exchange(
        server,
        signed.map((request) => request.wire),
        timeoutMs,
      );
    } catch (error) {
      throw new Rfc2136Error(`${prefix}: ${what} failed: ${(error as Error).message}`, { cause: error });
    }
    if (answers.length !== signed.length)
      throw new Rfc2136Error(`${prefix}: ${what}: ${answers.length} answers to ${signed.length} requests`);
    return answers.map((answer, index) => {
      let decoded: DecodedMessage;
      try {
        decoded = decodeMessage(answer);
      } catch (error) {
        throw new Rfc2136Error(`${prefix}: ${what}: ${(error as Error).message}`, { cause: error });
      }
      const request = signed[index];
      if (!decoded.response || request === undefined) throw new Rfc2136Error(`${prefix}: ${what}: the answer is not a response`);
      const check = verifyResponse(answer, decoded, key, request.mac, now());
      const rcode = rcodeName(decoded.rcode);
      // The server may have applied an update whose answer cannot be believed.
      const maybeApplied =
        decoded.opcode === OPCODE.UPDATE && decoded.rcode === 0 ? '; the update may have been applied: plan again to see' : '';
      if (check.status === 'error') {
        throw new Rfc2136Error(`${prefix}: ${what}: ${tsigProblem(check.error, check.serverTime)}`, {
          rcode,
          tsigError: tsigErrorName(check.error),
        });
      }
      if (check.status === 'invalid') {
        throw new Rfc2136Error(
          `${prefix}: ${what}: the answer's TSIG signature does not verify (${check.reason}); it is ignored${maybeApplied}`,
          { rcode },
        );
      }
      if (check.status === 'unsigned') {
        // An error answer may come unsigned (a server that does not know the key, REFUSED before any
        // TSIG check): it changes nothing, so report it. A success must be signed to be believed.
        if (decoded.rcode !== 0) return decoded;
        throw new Rfc2136Error(
          `${prefix}: ${what}: the answer is not TSIG-signed, so it cannot be trusted (does the server know key ${key.name}?)${maybeApplied}`,
          { rcode },
        );
      }
      return decoded;
    });
  }

  /** The RRs of `type` at each name (not those at a CNAME's target), by a signed query per name. */
  async function queryNames(zone: string, names: readonly string[], type: number): Promise<WireRecord[]> {
    const records: WireRecord[] = [];
    const typeName = type === RR_TYPE.TXT ? 'TXT' : 'CNAME';
    // IDs are unique per connection; very long lists go in several connections.
    for (let start = 0; start < names.length; start += 4096) {
      const batch = names.slice(start, start + 4096);
      const ids = uniqueIds(batch.length);
      const queries = batch.map((name, index) =>
        encodeMessage({ id: ids[index] ?? 0, opcode: OPCODE.QUERY, questions: [{ name, type, class: RR_CLASS.IN }] }),
      );
      const answers = await exchangeSigned(queries, `reading ${typeName} records in zone ${zone}`);
      answers.forEach((answer, index) => {
        const name = batch[index] ?? '';
        checkQueryAnswer(answer, zone, name, type);
        for (const record of answer.answers) {
          if (record.type === type && record.class === RR_CLASS.IN && record.name === name) records.push(record);
        }
      });
    }
    return records;
  }

  function checkQueryAnswer(answer: DecodedMessage, zone: string, name: string, type: number): void {
    const question = answer.questions[0];
    if (answer.opcode !== OPCODE.QUERY || (question !== undefined && (question.name !== name || question.type !== type))) {
      throw new Rfc2136Error(`${prefix}: the answer about ${name} does not match the question`);
    }
    if (answer.truncated) throw new Rfc2136Error(`${prefix}: the answer about ${name} is truncated, even over TCP`);
    const rcode = rcodeName(answer.rcode);
    if (answer.rcode === 0 || answer.rcode === 3) {
      if (!answer.authoritative) {
        throw new Rfc2136Error(
          `${prefix}: the answer about ${name} is not authoritative: the server does not hold zone ${zone} ` +
            `(${ENV.server} must be the zone's primary, not a resolver), or ${name} is in a zone delegated from it`,
          { rcode },
        );
      }
      return;
    }
    const typeName = type === RR_TYPE.TXT ? 'TXT' : 'CNAME';
    throw new Rfc2136Error(`${prefix}: reading ${typeName} at ${name}: ${rcodeProblem(answer.rcode, 'query', zone, key)}`, { rcode });
  }

  async function sendUpdate(zone: string, pieces: readonly UpdatePiece[], part: string): Promise<void> {
    const message = encodeMessage({
      id: randomInt(0, 0x10000),
      opcode: OPCODE.UPDATE,
      questions: [{ name: zone, type: RR_TYPE.SOA, class: RR_CLASS.IN }],
      answers: pieces.flatMap((piece) => piece.prerequisites),
      authorities: pieces.flatMap((piece) => piece.updates),
    });
    const names = pieces.map((piece) => piece.name);
    const what = `updating zone ${zone}${part} (${describeNames(names)})`;
    const [answer] = await exchangeSigned([message], what);
    if (answer === undefined) throw new Rfc2136Error(`${prefix}: ${what}: no answer`);
    if (answer.opcode !== OPCODE.UPDATE) throw new Rfc2136Error(`${prefix}: ${what}: the answer is not an UPDATE response`);
    if (answer.rcode === 7) await explainCname(zone, pieces, what);
    if (answer.rcode !== 0) {
      throw new Rfc2136Error(`${prefix}: ${what}: ${rcodeProblem(answer.rcode, 'update', zone, key)}`, { rcode: rcodeName(answer.rcode) });
    }
  }

  /**
   * After YXRRSET: if a name that was to get its first TXT is a CNAME, say so. Planning again would not
   * help there: no other data may sit beside a CNAME (RFC 1034 §3.6.2, RFC 2181 §10.1).
   */
  async function explainCname(zone: string, pieces: readonly UpdatePiece[], what: string): Promise<void> {
    const candidates = pieces
      .filter((piece) => piece.prerequisites.some((record) => record.type === RR_TYPE.CNAME))
      .map((piece) => piece.name);
    if (candidates.length === 0) return;
    const cnames = await queryNames(zone, candidates, RR_TYPE.CNAME).catch(() => []);
    if (cnames.length === 0) return;
    const described = cnames.map((record) => `${record.name} is a CNAME to ${record.target || '.'}`).join('; ');
    throw new Rfc2136Error(
      `${prefix}: ${what}: nothing was written: ${described}, and DNS allows no TXT record beside a CNAME (RFC 2181 §10.1); ` +
        "remove the CNAME, or the domain file if the DMARC record is meant to come from the CNAME's target",
      { rcode: 'YXRRSET' },
    );
  }

  return {
    name: 'rfc2136',

    async listTxt(zoneName, names) {
      const zone = checkZoneName(zoneName);
      const wanted = [...new Set(names.map(normaliseName))];
      if (wanted.length === 0) return [];
      for (const name of wanted) if (!inZone(name, zone)) throw new Rfc2136Error(`rfc2136 provider: ${name} is not in zone ${zone}`);
      const served = await queryNames(zone, wanted, RR_TYPE.TXT);
      return served.map((record) => toTxtRecord(record));
    },

    async applyZone(zoneName, changes, current) {
      const zone = checkZoneName(zoneName);
      checkChanges(zone, changes);
      const pieces = changes.map((change) => updatePiece(change, current)).filter((piece): piece is UpdatePiece => piece !== undefined);
      if (pieces.length === 0) return;
      const messages = packPieces(zone, pieces, maxMessageOctets);
      for (const [index, group] of messages.entries()) {
        const part = messages.length === 1 ? '' : `, message ${index + 1} of ${messages.length}`;
        try {
          await sendUpdate(zone, group, part);
        } catch (error) {
          if (index === 0) throw error;
          throw new Rfc2136Error(`${(error as Error).message} (messages 1–${index} of ${messages.length} for this zone were applied)`, {
            cause: error,
          });
        }
      }
    },
  };
}

// ------------------------------------------------------------------------------------------------
// Building the update

/** One name's share of an UPDATE message: its prerequisites and its updates. */
export interface UpdatePiece {
  name: string;
  prerequisites: WireRecord[];
  updates: WireRecord[];
}

/**
 * The prerequisites and updates for one change, from `current` (the TXT records listed at the name,
 * ours and not ours); undefined when nothing needs writing. The owned RRs are the ones in `current`
 * whose values make up `change.before`, one RR per value; every other RR at the name is only named
 * in the prerequisite, never deleted.
 */
export function updatePiece(change: RecordChange, current: readonly TxtRecord[]): UpdatePiece | undefined {
  const name = normaliseName(change.name);
  const atName = current.filter((record) => normaliseName(record.name) === name);
  const served = atName.map((record) => ({ record, data: rdataOf(record) }));

  const owned: typeof served = [];
  for (const value of change.before ?? []) {
    const match = served.find((candidate) => candidate.record.value === value && !owned.includes(candidate));
    if (match === undefined) {
      throw new Rfc2136Error(
        `rfc2136 provider: cannot ${change.action} ${name}: ${JSON.stringify(value)} is not among the records listed there; plan again`,
        { code: 'dns-zone-changed' },
      );
    }
    owned.push(match);
  }

  const after = change.action === 'delete' ? [] : [...new Set(change.after ?? [])];
  const ttl = change.ttlAfter;
  if (after.length > 0 && (ttl === null || !Number.isInteger(ttl) || ttl < 0 || ttl > 0x7fffffff)) {
    throw new Rfc2136Error(`rfc2136 provider: no valid TTL for ${name} (ttlAfter is ${String(ttl)})`);
  }
  const wantedTtl = ttl ?? 0;
  // One TTL per RRset (RFC 2181 §5.2): if it must change, the kept records are re-added with the new one.
  const ttlChanges = after.length > 0 && served.some(({ record }) => record.ttl !== wantedTtl);

  const deletes: Uint8Array[] = [];
  const adds: Uint8Array[] = [];
  let spare = [...owned];
  for (const value of after) {
    const same = spare.find((candidate) => candidate.record.value === value);
    if (same === undefined) {
      adds.push(encodeTxtData(splitCharacterStrings(value)));
      continue;
    }
    spare = spare.filter((candidate) => candidate !== same);
    if (ttlChanges) {
      deletes.push(same.data);
      adds.push(same.data);
    }
  }
  for (const left of spare) deletes.push(left.data);
  if (deletes.length === 0 && adds.length === 0) return undefined;

  const prerequisites: WireRecord[] =
    served.length > 0
      ? served.map(({ data }) => ({ name, type: RR_TYPE.TXT, class: RR_CLASS.IN, ttl: 0, data }))
      : [{ name, type: RR_TYPE.TXT, class: RR_CLASS.NONE, ttl: 0, data: new Uint8Array() }];
  // A server silently ignores TXT added at a CNAME (RFC 2136 §3.4.2.2): make that a failed prerequisite instead.
  if (served.length === 0 && adds.length > 0)
    prerequisites.push({ name, type: RR_TYPE.CNAME, class: RR_CLASS.NONE, ttl: 0, data: new Uint8Array() });
  const updates: WireRecord[] = [
    ...deletes.map((data) => ({ name, type: RR_TYPE.TXT, class: RR_CLASS.NONE, ttl: 0, data })),
    ...adds.map((data) => ({ name, type: RR_TYPE.TXT, class: RR_CLASS.IN, ttl: wantedTtl, data })),
  ];
  return { name, prerequisites, updates };
}

/** Groups pieces into as few UPDATE messages as fit in 64 KiB with their TSIG; one name never spans two. */
export function packPieces(zone: string, pieces: readonly UpdatePiece[], limit = MAX_TCP_MESSAGE - TSIG_RESERVE): UpdatePiece[][] {
  const base = 12 + encodeName(zone).length + 4;
  const groups: UpdatePiece[][] = [];
  let group: UpdatePiece[] = [];
  let size = base;
  for (const piece of pieces) {
    const pieceSize = [...piece.prerequisites, ...piece.updates].reduce((sum, record) => sum + encodeRecord(record).length, 0);
    if (base + pieceSize > limit)
      throw new Rfc2136Error(`rfc2136 provider: the update for ${piece.name} alone does not fit in one DNS message`);
    if (size + pieceSize > limit && group.length > 0) {
      groups.push(group);
      group = [];
      size = base;
    }
    group.push(piece);
    size += pieceSize;
  }
  if (group.length > 0) groups.push(group);
  return groups;
}

function checkChanges(zone: string, changes: readonly RecordChange[]): void {
  const seen = new Set<string>();
  for (const change of changes) {
    const name = normaliseName(change.name);
    if (change.provider !== 'rfc2136')
      throw new Rfc2136Error(`rfc2136 provider: the change for ${name} is for provider ${change.provider}`);
    if (change.type !== 'TXT')
      throw new Rfc2136Error(`rfc2136 provider: only TXT changes are supported, not ${String(change.type)} at ${name}`);
    if (normaliseName(change.zone) !== zone)
      throw new Rfc2136Error(`rfc2136 provider: the change for ${name} is in zone ${change.zone}, not ${zone}`);
    if (!inZone(name, zone)) throw new Rfc2136Error(`rfc2136 provider: ${name} is not in zone ${zone}`);
    if (seen.has(name)) throw new Rfc2136Error(`rfc2136 provider: two changes for ${name} in one apply`);
    seen.add(name);
  }
}

function checkZoneName(zoneName: string): string {
  const zone = normaliseName(zoneName);
  if (zone === '') throw new Rfc2136Error('rfc2136 provider: empty zone name');
  return zone;
}

// ------------------------------------------------------------------------------------------------
// TXT records

const utf8 = new TextDecoder('utf-8');

function toTxtRecord(record: WireRecord): TxtRecord {
  const strings = decodeTxtData(record.data);
  // The value from all octets together, so a character split across two strings stays whole.
  return {
    name: record.name,
    ttl: record.ttl,
    value: utf8.decode(Buffer.concat(strings)),
    strings: strings.map((octets) => utf8.decode(octets)),
    id: Buffer.from(record.data).toString('hex'),
  };
}

/** The RR's RDATA: from its `id` when this provider listed it, else rebuilt from its strings (or value). */
function rdataOf(record: TxtRecord): Uint8Array {
  if (record.id !== undefined && /^(?:[0-9a-f]{2})*$/.test(record.id)) return Buffer.from(record.id, 'hex');
  return encodeTxtData(record.strings ?? splitCharacterStrings(record.value));
}

// ------------------------------------------------------------------------------------------------
// Errors

function tsigProblem(error: number, serverTime?: number): string {
  const name = tsigErrorName(error);
  if (name === 'BADSIG') {
    return `the server rejected the request's TSIG signature (BADSIG): ${ENV.keySecret} or ${ENV.keyAlgorithm} does not match the key on the server`;
  }
  if (name === 'BADKEY') {
    return `the server does not know the TSIG key (BADKEY): check ${ENV.keyName} and ${ENV.keyAlgorithm} against the key clause on the server`;
  }
  if (name === 'BADTIME') {
    const skew = serverTime === undefined ? '' : ` (the server's clock says ${new Date(serverTime * 1000).toISOString()})`;
    return `the server's clock and this machine's differ by more than ${TSIG_FUDGE} s (BADTIME)${skew}: fix the clock`;
  }
  return `the server rejected the request's TSIG (${name})`;
}

function rcodeProblem(rcode: number, kind: 'query' | 'update', zone: string, key: TsigKey): string {
  const name = rcodeName(rcode);
  switch (name) {
    case 'NXRRSET':
      return 'nothing was written: the TXT records at a changed name are no longer the ones the plan read (prerequisite failed: NXRRSET); plan again';
    case 'YXRRSET':
      return 'nothing was written: TXT records or a CNAME now exist at a name where the plan read none (prerequisite failed: YXRRSET); plan again';
    case 'NXDOMAIN':
    case 'YXDOMAIN':
      return `nothing was written: a prerequisite failed (${name}); plan again`;
    case 'NOTAUTH':
      return kind === 'update'
        ? `the server is not authoritative for zone ${zone} (NOTAUTH): point ${ENV.server} at the zone's primary and check dns.zone in the domain files`
        : `the server is not authoritative for zone ${zone} (NOTAUTH)`;
    case 'NOTZONE':
      return `a name is not inside zone ${zone} (NOTZONE): check dns.zone in the domain files`;
    case 'REFUSED':
      return kind === 'update'
        ? `the server refused the update (REFUSED): its update-policy (or allow-update) must let key ${key.name} change TXT records at these names, ` +
            `and it must be the zone's primary (a secondary refuses or forwards updates)`
        : `the server refused the query (REFUSED): it does not serve zone ${zone}, or its allow-query does not admit this machine`;
    case 'NOTIMP':
      return kind === 'update'
        ? 'the server does not implement dynamic updates (NOTIMP)'
        : 'the server does not implement this query (NOTIMP)';
    case 'SERVFAIL':
      return `the server failed (SERVFAIL): is zone ${zone} loaded? see the server's log`;
    case 'FORMERR':
      return 'the server could not parse the request (FORMERR)';
    default:
      return `the server answered ${name}`;
  }
}

function describeNames(names: readonly string[]): string {
  return names.length <= 3 ? names.join(', ') : `${names.slice(0, 3).join(', ')} and ${names.length - 3} more`;
}

// ------------------------------------------------------------------------------------------------
// Transport

/** `count` distinct random message IDs. */
function uniqueIds(count: number): number[] {
  const ids = new Set<number>();
  while (ids.size < count) ids.add(randomInt(0, 0x10000));
  return [...ids];
}

/**
 * Sends the requests over one TCP connection, each with its two-octet length (RFC 1035 §4.2.2),
 * at most `PIPELINE_WINDOW` unanswered at a time, and returns the answers in request order (the
 * server may answer out of order: they are matched by ID, which must be unique among the requests).
 */
export function exchangeTcp(server: ServerAddress, requests: readonly Buffer[], timeoutMs: number): Promise<Buffer[]> {
  return new Promise((resolve, reject) => {
    const indexById = new Map<number, number>();
    for (const [index, request] of requests.entries()) indexById.set(request.readUInt16BE(0), index);
    if (indexById.size !== requests.length) {
      reject(new Error('two requests with the same ID'));
      return;
    }
    const answers: (Buffer | undefined)[] = new Array(requests.length);
    let sent = 0;
    let received = 0;
    let pending: Buffer = Buffer.alloc(0);
    let settled = false;

    const socket = connect({ host: server.host, port: server.port });
    const timer = setTimeout(() => fail(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    const finish = (): void => {
      settled = true;
      clearTimeout(timer);
      socket.destroy();
    };
    const fail = (error: Error): void => {
      if (settled) return;
      finish();
      reject(error);
    };
    const sendMore = (): void => {
      while (sent < requests.length && sent - received < PIPELINE_WINDOW) {
        const request = requests[sent++] ?? Buffer.alloc(0);
        const length = Buffer.alloc(2);
        length.writeUInt16BE(request.length);
        socket.write(Buffer.concat([length, request]));
      }
    };

    socket.on('connect', sendMore);
    socket.on('data', (chunk: Buffer) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      while (pending.length >= 2 && pending.length >= 2 + pending.readUInt16BE(0)) {
        const length = pending.readUInt16BE(0);
        const answer = Buffer.from(pending.subarray(2, 2 + length));
        pending = pending.subarray(2 + length);
        const index = answer.length >= 2 ? indexById.get(answer.readUInt16BE(0)) : undefined;
        if (index === undefined || answers[index] !== undefined) {
          fail(new Error('the server sent an answer to no request of this connection'));
          return;
        }
        answers[index] = answer;
        received++;
      }
      if (received === requests.length) {
        finish();
        resolve(answers as Buffer[]);
        return;
      }
      sendMore();
    });
    socket.on('error', (error: NodeJS.ErrnoException) => fail(new Error(connectionProblem(error))));
    socket.on('close', () => fail(new Error('the server closed the connection before answering')));
  });
}

function connectionProblem(error: NodeJS.ErrnoException): string {
  switch (error.code) {
    case 'ECONNREFUSED':
      return 'connection refused (is the server listening on TCP at that address and port?)';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `cannot resolve the server's host name (${error.code})`;
    case 'ECONNRESET':
      return 'the server reset the connection';
    default:
      return error.code ?? error.message;
  }
}
