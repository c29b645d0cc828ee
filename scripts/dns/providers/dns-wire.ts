/**
 * DNS messages on the wire for the rfc2136 provider: queries, RFC 2136 UPDATE messages and their
 * answers, and RFC 8945 TSIG (HMAC-SHA-1/224/256/384/512) to sign requests and verify responses.
 * Pure functions over bytes (node:crypto for the HMAC); the transport lives in rfc2136.ts.
 *
 * Written here rather than taken from npm: dns-packet (the usual codec) knows TSIG only as a type
 * number, with no RDATA codec and no signing; it has no class NONE (254), which RFC 2136 needs to
 * delete one RR (§2.5.4) and to state "RRset does not exist" (§2.4.3); and it reads a class's top bit
 * as mDNS's cache-flush flag. Its forks are the same, dns2 has no UPDATE, and no npm package signs
 * TSIG. A TSIG MAC covers the exact octets sent, so the encoder and the signer must agree byte for
 * byte anyway; the whole codec is small.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { normaliseName } from '../../lib/dns-name.ts';
import { DmarcopsError } from '../../lib/errors.ts';

export const RR_TYPE = { A: 1, NS: 2, CNAME: 5, SOA: 6, TXT: 16, TSIG: 250, ANY: 255 } as const;
export const RR_CLASS = { IN: 1, NONE: 254, ANY: 255 } as const;
export const OPCODE = { QUERY: 0, UPDATE: 5 } as const;

/** RCODE names (RFC 1035 §4.1.1, RFC 2136 §2.2). */
export const RCODE_NAMES: Readonly<Record<number, string>> = {
  0: 'NOERROR',
  1: 'FORMERR',
  2: 'SERVFAIL',
  3: 'NXDOMAIN',
  4: 'NOTIMP',
  5: 'REFUSED',
  6: 'YXDOMAIN',
  7: 'YXRRSET',
  8: 'NXRRSET',
  9: 'NOTAUTH',
  10: 'NOTZONE',
};

/** TSIG error field values (RFC 8945 §3, §5.2). */
export const TSIG_ERROR_NAMES: Readonly<Record<number, string>> = {
  0: 'NOERROR',
  16: 'BADSIG',
  17: 'BADKEY',
  18: 'BADTIME',
  22: 'BADTRUNC',
};

export function rcodeName(rcode: number): string {
  return RCODE_NAMES[rcode] ?? `RCODE ${rcode}`;
}

export function tsigErrorName(error: number): string {
  return TSIG_ERROR_NAMES[error] ?? `TSIG error ${error}`;
}

/** A resource record: `data` is the RDATA as octets. */
export interface WireRecord {
  /** Presentation form, lower case, no trailing dot; "" is the root. */
  name: string;
  type: number;
  class: number;
  ttl: number;
  data: Uint8Array;
  /** For a decoded CNAME: the name it points to (its RDATA may be compressed, so it is read in the message). */
  target?: string;
}

export interface Question {
  name: string;
  type: number;
  class: number;
}

/** A request to encode. For UPDATE (RFC 2136 §2): questions = the zone, answers = prerequisites, authorities = updates. */
export interface OutgoingMessage {
  id: number;
  opcode: number;
  questions: readonly Question[];
  answers?: readonly WireRecord[];
  authorities?: readonly WireRecord[];
  additionals?: readonly WireRecord[];
}

export interface TsigRecord {
  /** Where the TSIG RR starts in the message: what precedes it is what the MAC covers. */
  offset: number;
  keyName: string;
  algorithm: string;
  timeSigned: number;
  fudge: number;
  mac: Uint8Array;
  originalId: number;
  error: number;
  otherData: Uint8Array;
}

export interface DecodedMessage {
  id: number;
  response: boolean;
  opcode: number;
  authoritative: boolean;
  truncated: boolean;
  /** The header's 4-bit RCODE. */
  rcode: number;
  questions: Question[];
  answers: WireRecord[];
  authorities: WireRecord[];
  /** Without the TSIG RR, which is in `tsig`. */
  additionals: WireRecord[];
  tsig?: TsigRecord;
}

/** The DNS limit for a message over TCP (RFC 1035 §4.2.2: a 16-bit length). */
export const MAX_TCP_MESSAGE = 65_535;

// ------------------------------------------------------------------------------------------------
// Names

/**
 * A domain name in wire form, uncompressed and lower case (the canonical form TSIG wants for its key
 * and algorithm names, RFC 8945 §4.3.3). Names come from domain files and settings, so only plain
 * labels are accepted: printable ASCII without dots or backslashes, 1–63 octets, 255 in all.
 */
export function encodeName(name: string): Uint8Array {
  const trimmed = name.trim().replace(/\.$/, '').toLowerCase();
  const labels = trimmed === '' ? [] : trimmed.split('.');
  const octets: number[] = [];
  for (const label of labels) {
    if (label.length === 0) throw new Error(`invalid DNS name ${JSON.stringify(name)}: empty label`);
    if (label.length > 63) throw new Error(`invalid DNS name ${JSON.stringify(name)}: label longer than 63 octets`);
    if (!/^[\x21-\x7e]+$/.test(label) || label.includes('\\')) {
      throw new Error(
        `invalid DNS name ${JSON.stringify(name)}: only ASCII labels without spaces or backslashes (use the A-label form of an internationalised name)`,
      );
    }
    octets.push(label.length, ...Buffer.from(label, 'ascii'));
  }
  octets.push(0);
  if (octets.length > 255) throw new Error(`invalid DNS name ${JSON.stringify(name)}: longer than 255 octets`);
  return Uint8Array.from(octets);
}

/**
 * Reads a (possibly compressed) name at `offset`. Returns it in presentation form, lower case,
 * octets outside printable ASCII and `.`/`\` inside a label escaped (`\DDD`, `\.`), so a crafted
 * label can never read as another name. Compression pointers must point backwards (no loops).
 */
export function readName(message: Uint8Array, offset: number): { name: string; next: number } {
  const labels: string[] = [];
  let position = offset;
  let next = -1;
  let octets = 1;
  for (;;) {
    const length = byteAt(message, position, 'a name');
    if (length === 0) {
      if (next < 0) next = position + 1;
      break;
    }
    if ((length & 0xc0) === 0xc0) {
      const target = ((length & 0x3f) << 8) | byteAt(message, position + 1, 'a name');
      if (target >= position) throw new MalformedMessageError('a name compression pointer does not point backwards');
      if (next < 0) next = position + 2;
      position = target;
      continue;
    }
    if ((length & 0xc0) !== 0) throw new MalformedMessageError('a name has an unknown label type');
    if (position + 1 + length > message.length) throw new MalformedMessageError('a name runs past the end of the message');
    octets += length + 1;
    if (octets > 255) throw new MalformedMessageError('a name is longer than 255 octets');
    labels.push(presentLabel(message.subarray(position + 1, position + 1 + length)));
    position += 1 + length;
  }
  return { name: labels.join('.'), next };
}

function presentLabel(octets: Uint8Array): string {
  let label = '';
  for (const octet of octets) {
    const lower = octet >= 0x41 && octet <= 0x5a ? octet + 0x20 : octet;
    if (lower === 0x2e || lower === 0x5c) label += `\\${String.fromCharCode(lower)}`;
    else if (lower > 0x20 && lower < 0x7f) label += String.fromCharCode(lower);
    else label += `\\${String(lower).padStart(3, '0')}`;
  }
  return label;
}

// ------------------------------------------------------------------------------------------------
// TXT RDATA

/** TXT RDATA from character-strings (each at most 255 octets of UTF-8, RFC 1035 §3.3.14). */
export function encodeTxtData(strings: readonly string[]): Uint8Array {
  const parts: number[] = [];
  for (const text of strings) {
    const octets = Buffer.from(text, 'utf8');
    if (octets.length > 255) throw new Error(`a TXT character-string is ${octets.length} octets long; the limit is 255`);
    parts.push(octets.length, ...octets);
  }
  return Uint8Array.from(parts);
}

/** TXT RDATA → its character-strings as octets. Throws when the lengths do not add up. */
export function decodeTxtData(data: Uint8Array): Uint8Array[] {
  const strings: Uint8Array[] = [];
  let position = 0;
  while (position < data.length) {
    const length = data[position] ?? 0;
    if (position + 1 + length > data.length) throw new MalformedMessageError('a TXT character-string runs past its RDATA');
    strings.push(data.subarray(position + 1, position + 1 + length));
    position += 1 + length;
  }
  return strings;
}

// ------------------------------------------------------------------------------------------------
// Messages

/** A server's answer that is not a DNS message dmarcops can read. */
export class MalformedMessageError extends DmarcopsError {
  constructor(message: string) {
    super('dns-provider-failed', `malformed DNS message: ${message}`);
    this.name = 'MalformedMessageError';
  }
}

/** Encodes a request (QR = 0, no RD: an authoritative server is asked). Names are not compressed. */
export function encodeMessage(message: OutgoingMessage): Buffer {
  const answers = message.answers ?? [];
  const authorities = message.authorities ?? [];
  const additionals = message.additionals ?? [];
  const header = Buffer.alloc(12);
  header.writeUInt16BE(message.id & 0xffff, 0);
  header.writeUInt16BE((message.opcode & 0xf) << 11, 2);
  header.writeUInt16BE(message.questions.length, 4);
  header.writeUInt16BE(answers.length, 6);
  header.writeUInt16BE(authorities.length, 8);
  header.writeUInt16BE(additionals.length, 10);
  const parts: Uint8Array[] = [header];
  for (const question of message.questions) parts.push(encodeName(question.name), u16(question.type), u16(question.class));
  for (const record of [...answers, ...authorities, ...additionals]) parts.push(encodeRecord(record));
  return Buffer.concat(parts);
}

export function encodeRecord(record: WireRecord): Buffer {
  if (record.data.length > 0xffff) throw new Error(`RDATA of ${record.name} is longer than 65535 octets`);
  if (!Number.isInteger(record.ttl) || record.ttl < 0 || record.ttl > 0x7fffffff)
    throw new Error(`invalid TTL ${record.ttl} for ${record.name}`);
  return Buffer.concat([
    encodeName(record.name),
    u16(record.type),
    u16(record.class),
    u32(record.ttl),
    u16(record.data.length),
    record.data,
  ]);
}

/** Decodes a message; a TSIG RR, which must be the last additional record (RFC 8945 §5.1), goes to `tsig`. */
export function decodeMessage(message: Uint8Array): DecodedMessage {
  if (message.length < 12) throw new MalformedMessageError(`${message.length} octets is shorter than a header`);
  const view = Buffer.from(message.buffer, message.byteOffset, message.byteLength);
  const flags = view.readUInt16BE(2);
  const counts = [view.readUInt16BE(4), view.readUInt16BE(6), view.readUInt16BE(8), view.readUInt16BE(10)] as const;
  let position = 12;

  const questions: Question[] = [];
  for (let index = 0; index < counts[0]; index++) {
    const { name, next } = readName(view, position);
    if (next + 4 > view.length) throw new MalformedMessageError('the question runs past the end');
    questions.push({ name, type: view.readUInt16BE(next), class: view.readUInt16BE(next + 2) });
    position = next + 4;
  }

  const sections: WireRecord[][] = [[], [], []];
  let tsig: TsigRecord | undefined;
  const total = counts[1] + counts[2] + counts[3];
  for (let index = 0; index < total; index++) {
    const start = position;
    const { name, next } = readName(view, position);
    if (next + 10 > view.length) throw new MalformedMessageError('a resource record runs past the end');
    const type = view.readUInt16BE(next);
    const klass = view.readUInt16BE(next + 2);
    const ttl = view.readUInt32BE(next + 4);
    const length = view.readUInt16BE(next + 8);
    const dataStart = next + 10;
    if (dataStart + length > view.length) throw new MalformedMessageError('RDATA runs past the end');
    position = dataStart + length;
    if (type === RR_TYPE.TSIG) {
      if (index !== total - 1 || index < counts[1] + counts[2])
        throw new MalformedMessageError('a TSIG record that is not the last additional record');
      tsig = decodeTsigData(view, start, name, dataStart, length);
      continue;
    }
    const section = index < counts[1] ? 0 : index < counts[1] + counts[2] ? 1 : 2;
    const record: WireRecord = { name, type, class: klass, ttl, data: view.subarray(dataStart, position) };
    if (type === RR_TYPE.CNAME) record.target = readName(view, dataStart).name;
    sections[section]?.push(record);
  }
  if (position !== view.length) throw new MalformedMessageError(`${view.length - position} octets after the last record`);

  return {
    id: view.readUInt16BE(0),
    response: (flags & 0x8000) !== 0,
    opcode: (flags >> 11) & 0xf,
    authoritative: (flags & 0x0400) !== 0,
    truncated: (flags & 0x0200) !== 0,
    rcode: flags & 0xf,
    questions,
    answers: sections[0] ?? [],
    authorities: sections[1] ?? [],
    additionals: sections[2] ?? [],
    ...(tsig === undefined ? {} : { tsig }),
  };
}

function decodeTsigData(view: Buffer, offset: number, keyName: string, start: number, length: number): TsigRecord {
  const end = start + length;
  const { name: algorithm, next } = readName(view, start);
  if (next + 10 > end) throw new MalformedMessageError('a TSIG record is too short');
  const timeSigned = view.readUIntBE(next, 6);
  const fudge = view.readUInt16BE(next + 6);
  const macLength = view.readUInt16BE(next + 8);
  const macStart = next + 10;
  if (macStart + macLength + 6 > end) throw new MalformedMessageError('a TSIG MAC runs past its record');
  const mac = view.subarray(macStart, macStart + macLength);
  const after = macStart + macLength;
  const originalId = view.readUInt16BE(after);
  const error = view.readUInt16BE(after + 2);
  const otherLength = view.readUInt16BE(after + 4);
  if (after + 6 + otherLength !== end) throw new MalformedMessageError('the TSIG other data does not end its record');
  return { offset, keyName, algorithm, timeSigned, fudge, mac, originalId, error, otherData: view.subarray(after + 6, end) };
}

// ------------------------------------------------------------------------------------------------
// TSIG (RFC 8945)

/** The HMAC algorithms of RFC 8945 §6 that dmarcops signs with (hmac-md5 is deprecated there). */
export const TSIG_ALGORITHMS = {
  'hmac-sha1': 'sha1',
  'hmac-sha224': 'sha224',
  'hmac-sha256': 'sha256',
  'hmac-sha384': 'sha384',
  'hmac-sha512': 'sha512',
} as const;

export type TsigAlgorithm = keyof typeof TSIG_ALGORITHMS;

export interface TsigKey {
  /** The key's name as the server knows it (`key "<name>" { … }` in BIND). */
  name: string;
  algorithm: TsigAlgorithm;
  secret: Uint8Array;
}

/** The fudge dmarcops signs with: the seconds of clock difference the server may accept (RFC 8945 §10 recommends 300). */
export const TSIG_FUDGE = 300;

/**
 * Appends a TSIG RR to `message` (its ARCOUNT incremented) with a MAC over the message and the TSIG
 * variables (RFC 8945 §4.3.3). Returns the signed message and the MAC, which the response's MAC covers.
 */
export function signMessage(message: Uint8Array, key: TsigKey, timeSigned: number, fudge = TSIG_FUDGE): { wire: Buffer; mac: Buffer } {
  if (message.length < 12) throw new Error('cannot sign a message shorter than a header');
  const mac = createHmac(TSIG_ALGORITHMS[key.algorithm], key.secret)
    .update(message)
    .update(tsigVariables(key.name, key.algorithm, timeSigned, fudge, 0, new Uint8Array()))
    .digest();
  const unsigned = Buffer.from(message.buffer, message.byteOffset, message.byteLength);
  const data = Buffer.concat([
    encodeName(key.algorithm),
    u48(timeSigned),
    u16(fudge),
    u16(mac.length),
    mac,
    unsigned.subarray(0, 2),
    u16(0),
    u16(0),
  ]);
  const wire = Buffer.concat([unsigned, encodeRecord({ name: key.name, type: RR_TYPE.TSIG, class: RR_CLASS.ANY, ttl: 0, data })]);
  wire.writeUInt16BE(unsigned.readUInt16BE(10) + 1, 10);
  return { wire, mac };
}

/** What a response's TSIG says. `error` is the TSIG error field (BADSIG, BADKEY, BADTIME…), when it is not 0. */
export type TsigCheck =
  | { status: 'verified' }
  | { status: 'unsigned' }
  | { status: 'error'; error: number; serverTime?: number }
  | { status: 'invalid'; reason: string };

/**
 * Verifies the TSIG of a response to a request signed with `key` whose MAC was `requestMac` (RFC 8945
 * §5.3.2 and §5.4): same key and algorithm, a MAC over the request MAC, the response as it was before
 * signing (original ID, ARCOUNT without the TSIG) and the TSIG variables, at full length, signed within
 * the fudge of `now`. A response whose TSIG error is set (BADSIG, BADKEY) carries no MAC to check.
 */
export function verifyResponse(wire: Uint8Array, decoded: DecodedMessage, key: TsigKey, requestMac: Uint8Array, now: number): TsigCheck {
  const tsig = decoded.tsig;
  if (tsig === undefined) return { status: 'unsigned' };
  if (tsig.keyName !== normaliseName(key.name))
    return { status: 'invalid', reason: `signed with key ${tsig.keyName}, not ${normaliseName(key.name)}` };
  if (tsig.algorithm !== key.algorithm) return { status: 'invalid', reason: `signed with ${tsig.algorithm}, not ${key.algorithm}` };
  if (tsig.error !== 0 && tsig.mac.length === 0) return { status: 'error', error: tsig.error };

  const algorithm = TSIG_ALGORITHMS[key.algorithm];
  const body = Buffer.from(wire.subarray(0, tsig.offset));
  body.writeUInt16BE(tsig.originalId, 0);
  body.writeUInt16BE(body.readUInt16BE(10) - 1, 10);
  const expected = createHmac(algorithm, key.secret)
    .update(u16(requestMac.length))
    .update(requestMac)
    .update(body)
    .update(tsigVariables(tsig.keyName, tsig.algorithm, tsig.timeSigned, tsig.fudge, tsig.error, tsig.otherData))
    .digest();
  // Truncated MACs (RFC 8945 §5.2.2.1) are a local option; BIND and PowerDNS send full ones, so only those are accepted.
  if (tsig.mac.length !== expected.length)
    return { status: 'invalid', reason: `its MAC is ${tsig.mac.length} octets, not ${expected.length}` };
  if (!timingSafeEqual(tsig.mac, expected)) return { status: 'invalid', reason: 'its MAC does not match (not signed with this key)' };
  if (tsig.error !== 0) {
    const serverTime = tsig.error === 18 && tsig.otherData.length === 6 ? Buffer.from(tsig.otherData).readUIntBE(0, 6) : undefined;
    return { status: 'error', error: tsig.error, ...(serverTime === undefined ? {} : { serverTime }) };
  }
  if (Math.abs(now - tsig.timeSigned) > tsig.fudge) {
    return {
      status: 'invalid',
      reason: `it was signed at ${tsig.timeSigned}, ${now - tsig.timeSigned} s from this machine's clock (fudge ${tsig.fudge} s)`,
    };
  }
  return { status: 'verified' };
}

function tsigVariables(
  keyName: string,
  algorithm: string,
  timeSigned: number,
  fudge: number,
  error: number,
  otherData: Uint8Array,
): Buffer {
  const keyPart = [encodeName(keyName), u16(RR_CLASS.ANY), u32(0)];
  return Buffer.concat([...keyPart, encodeName(algorithm), u48(timeSigned), u16(fudge), u16(error), u16(otherData.length), otherData]);
}

// ------------------------------------------------------------------------------------------------
// Helpers

function byteAt(message: Uint8Array, position: number, what: string): number {
  const value = message[position];
  if (value === undefined) throw new MalformedMessageError(`${what} runs past the end of the message`);
  return value;
}

function u16(value: number): Buffer {
  const buffer = Buffer.alloc(2);
  buffer.writeUInt16BE(value);
  return buffer;
}

function u32(value: number): Buffer {
  const buffer = Buffer.alloc(4);
  buffer.writeUInt32BE(value);
  return buffer;
}

function u48(value: number): Buffer {
  const buffer = Buffer.alloc(6);
  buffer.writeUIntBE(value, 0, 6);
  return buffer;
}
