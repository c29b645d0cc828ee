import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { inZone, normaliseName, organizationalDomain, parseDomainName } from '../../scripts/lib/dns-name.ts';

describe('normaliseName', () => {
  test('trims, lower-cases and drops the root dot', () => {
    expect(normaliseName(' Mail.Example.COM. ')).toBe('mail.example.com');
    expect(normaliseName('_dmarc.Example.com')).toBe('_dmarc.example.com');
  });

  test('turns IDN labels into A-labels; a name that cannot be mapped, or none, is empty', () => {
    expect(normaliseName('Bücher.example')).toBe('xn--bcher-kva.example');
    expect(normaliseName('mail.bücher.de.')).toBe('mail.xn--bcher-kva.de');
    expect(normaliseName('bü cher.example')).toBe('');
    expect(normaliseName(undefined)).toBe('');
    expect(normaliseName(null)).toBe('');
  });

  test('does not validate: ASCII names from providers and reports compare as they come', () => {
    expect(normaliseName('Not A Host.example')).toBe('not a host.example');
    expect(normaliseName('*.example.com')).toBe('*.example.com');
  });

  test('property: idempotent, and it agrees with parseDomainName on every name that parses', () => {
    const label = fc.stringMatching(/^[A-Za-z0-9_][A-Za-z0-9_-]{0,20}$/);
    const name = fc
      .array(fc.oneof(label, fc.constantFrom('Bücher', 'MÜNCHEN', 'xn--mnchen-3ya')), { minLength: 1, maxLength: 5 })
      .map((labels) => labels.join('.'));
    fc.assert(
      fc.property(name, fc.boolean(), (text, rootDot) => {
        const written = rootDot ? `${text}.` : text;
        expect(normaliseName(normaliseName(written))).toBe(normaliseName(written));
        let parsed: string;
        try {
          parsed = parseDomainName(written);
        } catch {
          return; // not a domain name (`0` is an IPv4 address to the URL standard), so nothing to agree on
        }
        expect(normaliseName(written)).toBe(parsed);
      }),
    );
  });
});

describe('parseDomainName', () => {
  test('lower-cases and strips the trailing dot', () => {
    expect(parseDomainName('Mail.Example.COM.')).toBe('mail.example.com');
  });

  test('turns IDN labels into A-labels', () => {
    expect(parseDomainName('Bücher.example')).toBe('xn--bcher-kva.example');
    expect(parseDomainName('shop.MÜNCHEN.de')).toBe('shop.xn--mnchen-3ya.de');
  });

  test('keeps underscores, as in _dmarc names', () => {
    expect(parseDomainName('_dmarc.Example.com')).toBe('_dmarc.example.com');
  });

  test('accepts the DNS limits exactly: 63-octet labels, 253-octet names', () => {
    const label63 = 'a'.repeat(63);
    expect(parseDomainName(`${label63}.com`)).toBe(`${label63}.com`);
    const name253 = [label63, label63, label63, 'b'.repeat(61)].join('.');
    expect(name253).toHaveLength(253);
    expect(parseDomainName(`${name253}.`)).toBe(name253);
  });

  test.each([
    ['', /empty/],
    ['.', /empty/],
    ['a..example.com', /empty label/],
    ['.example.com', /empty label/],
    ['example.com..', /empty label/],
    [`${'a'.repeat(64)}.com`, /label "a{64}" is 64 octets, more than 63/],
    [[`${'a'.repeat(63)}`, 'a'.repeat(63), 'a'.repeat(63), 'a'.repeat(62)].join('.'), /254 octets, more than 253/],
    ['exa mple.com', /characters a domain name cannot hold/],
    ['192.0.2.1', /IP address/],
    ['*.example.com', /only letters, digits/],
  ])('rejects %j', (name, message) => {
    expect(() => parseDomainName(name)).toThrow(message);
  });
});

describe('organizationalDomain (RFC 7489 PSL)', () => {
  test.each([
    ['a.b.c.d.example.com', 'example.com'],
    ['example.com', 'example.com'],
    ['foo.bar.co.uk', 'bar.co.uk'],
    ['bar.co.uk', 'bar.co.uk'],
    ['Shop.München.de.', 'xn--mnchen-3ya.de'],
  ])('%s → %s', (name, expected) => {
    expect(organizationalDomain(name)).toBe(expected);
  });

  test.each(['co.uk', 'uk', 'com'])('a public suffix (%s) has none', (name) => {
    expect(organizationalDomain(name)).toBeNull();
  });

  test('uses the ICANN section unless private suffixes are asked for', () => {
    expect(organizationalDomain('project.github.io')).toBe('github.io');
    expect(organizationalDomain('project.github.io', { includePrivateSuffixes: true })).toBe('project.github.io');
    expect(organizationalDomain('github.io', { includePrivateSuffixes: true })).toBeNull();
  });
});

describe('organizationalDomain: names that are not host names', () => {
  test('normalises first, so case, a root dot and IDN do not matter', () => {
    expect(organizationalDomain('MAIL.Example.COM.')).toBe('example.com');
    expect(organizationalDomain('mail.bücher.de')).toBe('xn--bcher-kva.de');
  });

  test('an empty name, an IP address or junk has none (it does not throw: report data is full of it)', () => {
    expect(organizationalDomain('')).toBeNull();
    expect(organizationalDomain('192.0.2.1')).toBeNull();
    expect(organizationalDomain('exa mple.com')).toBeNull();
  });

  test('a public suffix stands for itself only where a caller says so', () => {
    const zoneOf = (name: string) => organizationalDomain(name) ?? name;
    expect(zoneOf('co.uk')).toBe('co.uk');
    expect(zoneOf('shop.example.co.uk')).toBe('example.co.uk');
  });
});

describe('inZone', () => {
  test('the zone itself and names below it, on label boundaries', () => {
    expect(inZone('example.com', 'example.com')).toBe(true);
    expect(inZone('_dmarc.mail.example.com', 'example.com')).toBe(true);
    expect(inZone('badexample.com', 'example.com')).toBe(false);
    expect(inZone('example.com', 'mail.example.com')).toBe(false);
  });

  test('an empty zone holds nothing', () => {
    expect(inZone('example.com', '')).toBe(false);
  });
});
