/**
 * The DNS wire codec and TSIG of the rfc2136 provider, without a server: names (compression, escaping,
 * limits), TXT RDATA, malformed messages, and the TSIG MAC recomputed here from RFC 8945 §4.3 so the
 * signer and the verifier are checked against the RFC's definition, not against each other only.
 * (test/dns/rfc2136.test.ts checks both against BIND.)
 */
import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  decodeMessage,
  decodeTxtData,
  encodeMessage,
  encodeName,
  encodeTxtData,
  OPCODE,
  readName,
  RR_CLASS,
  RR_TYPE,
  signMessage,
  verifyResponse,
  type TsigKey,
} from '../../scripts/dns/providers/dns-wire.ts';

const KEY: TsigKey = { name: 'dmarcops-key', algorithm: 'hmac-sha256', secret: Buffer.alloc(32, 0x5a) };
const NOW = 1_790_000_000;

function u16(value: number): Buffer {
  const buffer = Buffer.alloc(2);
  buffer.writeUInt16BE(value);
  return buffer;
}

/** The TSIG variables of RFC 8945 §4.3.3, written out here on their own. */
function variables(time: number, fudge: number, error = 0, other: Buffer = Buffer.alloc(0)): Buffer {
  const time48 = Buffer.alloc(6);
  time48.writeUIntBE(time, 0, 6);
  return Buffer.concat([
    Buffer.from([12, ...Buffer.from('dmarcops-key'), 0]),
    u16(255),
    Buffer.alloc(4),
    Buffer.from([11, ...Buffer.from('hmac-sha256'), 0]),
    time48,
    u16(fudge),
    u16(error),
    u16(other.length),
    other,
  ]);
}

/** A response to `request` as a server signs it (RFC 8945 §4.3.1): MAC over request MAC, response, variables. */
function serverResponse(
  requestMac: Buffer,
  options: { id: number; time?: number; secret?: Buffer; error?: number; macLength?: number },
): Buffer {
  const body = encodeMessage({
    id: options.id,
    opcode: OPCODE.QUERY,
    questions: [{ name: '_dmarc.example.test', type: RR_TYPE.TXT, class: RR_CLASS.IN }],
  });
  body.writeUInt16BE(body.readUInt16BE(2) | 0x8000 | 0x0400, 2); // QR, AA
  const time = options.time ?? NOW;
  const mac = createHmac('sha256', options.secret ?? KEY.secret)
    .update(u16(requestMac.length))
    .update(requestMac)
    .update(body)
    .update(variables(time, 300, options.error ?? 0))
    .digest()
    .subarray(0, options.macLength ?? 32);
  const time48 = Buffer.alloc(6);
  time48.writeUIntBE(time, 0, 6);
  const data = Buffer.concat([
    Buffer.from([11, ...Buffer.from('hmac-sha256'), 0]),
    time48,
    u16(300),
    u16(mac.length),
    mac,
    u16(options.id),
    u16(options.error ?? 0),
    u16(0),
  ]);
  const tsig = Buffer.concat([
    Buffer.from([12, ...Buffer.from('dmarcops-key'), 0]),
    u16(RR_TYPE.TSIG),
    u16(RR_CLASS.ANY),
    Buffer.alloc(4),
    u16(data.length),
    data,
  ]);
  const wire = Buffer.concat([body, tsig]);
  wire.writeUInt16BE(1, 10);
  return wire;
}

describe('names', () => {
  it('encodes plain labels in lower case and refuses what is not a plain name', () => {
    expect([...encodeName('_DMARC.Example.Test.')]).toEqual([
      6,
      ...Buffer.from('_dmarc'),
      7,
      ...Buffer.from('example'),
      4,
      ...Buffer.from('test'),
      0,
    ]);
    expect([...encodeName('')]).toEqual([0]);
    expect(() => encodeName('a..b')).toThrow(/empty label/);
    expect(() => encodeName(`${'a'.repeat(64)}.test`)).toThrow(/longer than 63/);
    expect(() => encodeName(Array.from({ length: 5 }, () => 'a'.repeat(63)).join('.'))).toThrow(/longer than 255/);
    expect(() => encodeName('café.test')).toThrow(/A-label/);
    expect(() => encodeName('a\\.b.test')).toThrow(/backslashes/);
  });

  it('reads compressed names, escapes dots and odd octets inside labels, and refuses loops', () => {
    // "example.test" at 0, then "_dmarc" + pointer to 0.
    const message = Buffer.from([7, ...Buffer.from('EXAMPLE'), 4, ...Buffer.from('test'), 0, 6, ...Buffer.from('_dmarc'), 0xc0, 0]);
    expect(readName(message, 14)).toEqual({ name: '_dmarc.example.test', next: 23 });
    expect(readName(Buffer.from([3, 0x61, 0x2e, 0x07, 1, 0x5c, 0]), 0).name).toBe('a\\.\\007.\\\\');
    expect(() => readName(Buffer.from([0xc0, 0]), 0)).toThrow(/does not point backwards/);
    expect(() => readName(Buffer.from([3, 0x61]), 0)).toThrow(/runs past the end/);
    expect(() => readName(Buffer.from([0x80, 0]), 0)).toThrow(/unknown label type/);
  });
});

describe('TXT RDATA', () => {
  it('round-trips character-strings as UTF-8 octets and refuses a string over 255 octets', () => {
    const strings = ['v=DMARC1; p=none; ', 'note=café', ''];
    const data = encodeTxtData(strings);
    expect([...data.subarray(0, 1)]).toEqual([18]);
    expect(decodeTxtData(data).map((octets) => Buffer.from(octets).toString('utf8'))).toEqual(strings);
    expect(() => encodeTxtData(['x'.repeat(256)])).toThrow(/256 octets long; the limit is 255/);
    expect(() => decodeTxtData(Uint8Array.from([5, 0x61]))).toThrow(/runs past its RDATA/);
  });
});

describe('messages', () => {
  it('encodes an UPDATE with the zone, prerequisite and update sections in their counts', () => {
    const wire = encodeMessage({
      id: 0x1234,
      opcode: OPCODE.UPDATE,
      questions: [{ name: 'example.test', type: RR_TYPE.SOA, class: RR_CLASS.IN }],
      answers: [{ name: '_dmarc.example.test', type: RR_TYPE.TXT, class: RR_CLASS.NONE, ttl: 0, data: new Uint8Array() }],
      authorities: [{ name: '_dmarc.example.test', type: RR_TYPE.TXT, class: RR_CLASS.IN, ttl: 300, data: encodeTxtData(['v=DMARC1']) }],
    });
    const decoded = decodeMessage(wire);
    expect(decoded).toMatchObject({
      id: 0x1234,
      response: false,
      opcode: OPCODE.UPDATE,
      questions: [{ name: 'example.test', type: RR_TYPE.SOA, class: 1 }],
    });
    expect(decoded.answers.map(({ name, type, class: klass, ttl, data }) => ({ name, type, klass, ttl, length: data.length }))).toEqual([
      { name: '_dmarc.example.test', type: RR_TYPE.TXT, klass: 254, ttl: 0, length: 0 },
    ]);
    expect(
      decoded.authorities.map(({ ttl, data }) => ({ ttl, strings: decodeTxtData(data).map((octets) => Buffer.from(octets).toString()) })),
    ).toEqual([{ ttl: 300, strings: ['v=DMARC1'] }]);
  });

  it('refuses truncated messages, octets after the last record, and a TSIG that is not last', () => {
    const wire = encodeMessage({
      id: 1,
      opcode: OPCODE.QUERY,
      questions: [{ name: 'example.test', type: RR_TYPE.TXT, class: RR_CLASS.IN }],
    });
    expect(() => decodeMessage(wire.subarray(0, 10))).toThrow(/shorter than a header/);
    expect(() => decodeMessage(wire.subarray(0, wire.length - 1))).toThrow(/runs past the end/);
    expect(() => decodeMessage(Buffer.concat([wire, Buffer.from([0])]))).toThrow(/1 octets after the last record/);
    const { wire: signed } = signMessage(wire, KEY, NOW);
    const record = encodeMessage({
      id: 0,
      opcode: 0,
      questions: [],
      additionals: [{ name: 'x', type: RR_TYPE.A, class: 1, ttl: 0, data: new Uint8Array(4) }],
    });
    const extra = Buffer.concat([signed, record.subarray(12)]);
    extra.writeUInt16BE(2, 10);
    expect(() => decodeMessage(extra)).toThrow(/TSIG record that is not the last/);
  });
});

describe('TSIG (RFC 8945)', () => {
  it('signs with a MAC over the message and the TSIG variables, and appends the TSIG RR', () => {
    const message = encodeMessage({
      id: 0xbeef,
      opcode: OPCODE.QUERY,
      questions: [{ name: '_dmarc.example.test', type: RR_TYPE.TXT, class: RR_CLASS.IN }],
    });
    const { wire, mac } = signMessage(message, KEY, NOW);
    expect(mac).toEqual(createHmac('sha256', KEY.secret).update(message).update(variables(NOW, 300)).digest());
    const decoded = decodeMessage(wire);
    expect(wire.readUInt16BE(10)).toBe(1);
    expect(decoded.additionals).toEqual([]);
    expect(decoded.tsig).toMatchObject({
      keyName: 'dmarcops-key',
      algorithm: 'hmac-sha256',
      timeSigned: NOW,
      fudge: 300,
      originalId: 0xbeef,
      error: 0,
    });
    expect(Buffer.from(decoded.tsig?.mac ?? [])).toEqual(mac);
    expect(wire.subarray(0, message.length).subarray(12)).toEqual(message.subarray(12));
  });

  it("verifies a server's response and refuses a wrong key, an altered message, a truncated MAC or a time outside the fudge", () => {
    const requestMac = createHmac('sha256', 'request').digest();
    const check = (wire: Buffer, now = NOW) => verifyResponse(wire, decodeMessage(wire), KEY, requestMac, now);

    const good = serverResponse(requestMac, { id: 7 });
    expect(check(good)).toEqual({ status: 'verified' });
    // The response is matched to its request through the request MAC.
    expect(verifyResponse(good, decodeMessage(good), KEY, createHmac('sha256', 'other request').digest(), NOW).status).toBe('invalid');

    expect(check(serverResponse(requestMac, { id: 7, secret: Buffer.alloc(32, 1) }))).toEqual({
      status: 'invalid',
      reason: 'its MAC does not match (not signed with this key)',
    });
    const altered = Buffer.from(good);
    altered[3] = (altered[3] ?? 0) | 0x03; // RCODE NXDOMAIN
    expect(check(altered)).toMatchObject({ status: 'invalid' });
    expect(check(serverResponse(requestMac, { id: 7, macLength: 16 }))).toEqual({
      status: 'invalid',
      reason: 'its MAC is 16 octets, not 32',
    });
    expect(check(good, NOW + 301)).toMatchObject({
      status: 'invalid',
      reason: expect.stringMatching(/301 s from this machine's clock \(fudge 300 s\)/),
    });
    expect(check(good, NOW - 300)).toEqual({ status: 'verified' });
    expect(verifyResponse(good, decodeMessage(good), { ...KEY, name: 'other-key' }, requestMac, NOW)).toMatchObject({
      status: 'invalid',
      reason: 'signed with key dmarcops-key, not other-key',
    });

    // An unsigned answer, and an error answer without a MAC (BADSIG).
    const unsigned = Buffer.from(good.subarray(0, decodeMessage(good).tsig?.offset));
    unsigned.writeUInt16BE(0, 10);
    expect(check(unsigned)).toEqual({ status: 'unsigned' });
    expect(check(serverResponse(requestMac, { id: 7, error: 16, macLength: 0 }))).toEqual({ status: 'error', error: 16 });
  });
});
