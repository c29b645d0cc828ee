import fc from 'fast-check';
import { isIP } from 'node:net';
import { describe, expect, test } from 'vitest';
import { canonicalIp, isPublicIp, parseIp, parseIpv4 } from '../../scripts/lib/ip.ts';

describe('IP addresses', () => {
  test.each([
    ['8.8.8.8', '8.8.8.8'],
    [' 8.8.8.8 ', '8.8.8.8'],
    ['2001:4860:4860:0:0:0:0:8888', '2001:4860:4860::8888'],
    ['2001:DB8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['2001:db8:0:0:1:0:0:0', '2001:db8:0:0:1::'],
    ['::', '::'],
    ['::1', '::1'],
    ['1::', '1::'],
    ['2001:db8:1:2:3:4:5:6', '2001:db8:1:2:3:4:5:6'],
    ['2001:db8::0:1', '2001:db8::1'],
    ['::ffff:192.0.2.1', '192.0.2.1'],
    ['::ffff:c000:201', '192.0.2.1'],
    ['64:ff9b::192.0.2.1', '64:ff9b::c000:201'],
    ['fe80::1%eth0', 'fe80::1'],
    ['1.2.3', null],
    ['01.2.3.4', null],
    ['2001:db8::g', null],
    ['example.com', null],
  ])('canonicalIp(%j) = %j', (input, expected) => {
    expect(canonicalIp(input)).toBe(expected);
  });

  test('the dotted-quad fast path accepts exactly what net.isIP accepts', () => {
    const part = fc.oneof(
      fc.integer({ min: 0, max: 300 }).map(String),
      fc.constantFrom('', '00', '01', '007', '1a', ' 1', '255', '256', '1000'),
    );
    fc.assert(
      fc.property(fc.array(part, { minLength: 1, maxLength: 6 }), (parts) => {
        const text = parts.join('.');
        const parsed = parseIp(text);
        expect(parsed === null ? 0 : parsed.family, text).toBe(isIP(text.trim()));
        if (parsed?.family === 4) expect(canonicalIp(text)).toBe(text.trim());
      }),
      { numRuns: 2000 },
    );
  });

  test('public means globally routed unicast', () => {
    const isPublic = (ip: string) => isPublicIp(parseIp(ip)!);
    expect(['8.8.8.8', '1.1.1.1', '223.255.255.254', '11.0.0.1', '2a00:1450::1', '2001:4860::8888'].every(isPublic)).toBe(true);
    expect(
      [
        '0.1.2.3',
        '10.0.0.1',
        '100.127.255.255',
        '127.0.0.1',
        '169.254.0.1',
        '172.31.255.255',
        '192.0.0.8',
        '192.0.2.1',
        '192.168.0.1',
        '198.19.0.1',
        '198.51.100.1',
        '203.0.113.1',
        '224.0.0.1',
        '255.255.255.255',
      ].some(isPublic),
    ).toBe(false);
    expect(['::', '::1', 'fc00::1', 'fe80::1', 'ff02::1', '2001:db8::1', '64:ff9b::1.2.3.4'].some(isPublic)).toBe(false);
    expect(isPublic('100.63.255.255') && isPublic('172.32.0.1') && isPublic('198.20.0.1')).toBe(true);
  });
});

describe('parseIpv4', () => {
  test('a dotted quad as a number; anything else is -1', () => {
    expect(parseIpv4('192.0.2.1')).toBe(0xc0000201);
    expect(parseIpv4('0.0.0.0')).toBe(0);
    expect(parseIpv4('255.255.255.255')).toBe(0xffffffff);
    for (const text of ['', '1.2.3', '1.2.3.4.5', '01.2.3.4', '256.1.1.1', '1.2.3.4 ', '1..2.3', '::1', 'a.b.c.d'])
      expect(parseIpv4(text), text).toBe(-1);
  });

  test('property: a dotted quad exactly when net.isIP says IPv4, and its value round-trips', () => {
    const part = fc.oneof(fc.integer({ min: 0, max: 300 }).map(String), fc.constantFrom('', '00', '01', '1a', ' 1', '1000'));
    fc.assert(
      fc.property(fc.array(part, { minLength: 1, maxLength: 6 }), (parts) => {
        const text = parts.join('.');
        const value = parseIpv4(text);
        expect(value !== -1, text).toBe(isIP(text) === 4);
        if (value !== -1) expect(canonicalIp(text)).toBe(text);
      }),
      { numRuns: 2000 },
    );
  });
});
