import { describe, expect, test } from 'vitest';
import {
  createSenderMatcher,
  isKnownForwarder,
  parseSenderMap,
  senderForAsn,
  senderForPtr,
  senderMap,
} from '../../scripts/reports/enrich/senders.ts';

describe('matching (a small map of our own)', () => {
  const matcher = createSenderMatcher(
    parseSenderMap({
      types: ['email provider', 'ESP', 'hosting'],
      domains: {
        'example.com': { name: 'Example Hosting', type: 'hosting' },
        'mail.example.com': { name: 'Example Mail', type: 'email provider', forwarder: true },
        'out.mail.example.com': { name: 'Example Outbound', type: 'ESP' },
      },
      asns: { '64500': { name: 'Example Mail', type: 'email provider', forwarder: true }, '64501': { name: 'Example ESP', type: 'ESP' } },
    }),
  );

  test('the longest label suffix wins', () => {
    expect(matcher.senderForPtr('a1.out.mail.example.com')?.name).toBe('Example Outbound');
    expect(matcher.senderForPtr('mx3.mail.example.com')?.name).toBe('Example Mail');
    expect(matcher.senderForPtr('www.example.com')?.name).toBe('Example Hosting');
    expect(matcher.senderForPtr('out.mail.example.com')?.name).toBe('Example Outbound');
  });

  test('labels, not characters: a look-alike domain does not match', () => {
    expect(matcher.senderForPtr('badexample.com')).toBeNull();
    expect(matcher.senderForPtr('x.mail.example.com.evil.net')).toBeNull();
  });

  test('case and the root dot do not matter; unknown is null', () => {
    expect(matcher.senderForPtr('MX3.Mail.Example.COM.')).toEqual({ name: 'Example Mail', type: 'email provider' });
    expect(matcher.senderForPtr('unknown.test')).toBeNull();
    expect(matcher.senderForPtr('')).toBeNull();
    expect(matcher.senderForPtr('com')).toBeNull();
  });

  test('forwarder flag, by name first and by AS number only when no name matches', () => {
    expect(matcher.isKnownForwarder('mx.mail.example.com')).toBe(true);
    expect(matcher.isKnownForwarder('a.out.mail.example.com')).toBe(false);
    expect(matcher.isKnownForwarder('example.com')).toBe(false);
    expect(matcher.isKnownForwarder(null, 64500)).toBe(true);
    expect(matcher.isKnownForwarder('unmapped.test', 64500)).toBe(true);
    expect(matcher.isKnownForwarder('example.com', 64500)).toBe(false);
    expect(matcher.isKnownForwarder(null, 64501)).toBe(false);
    expect(matcher.isKnownForwarder(null)).toBe(false);
  });

  test('ASN fallback', () => {
    expect(matcher.senderForAsn(64501)).toEqual({ name: 'Example ESP', type: 'ESP' });
    expect(matcher.senderForAsn(1)).toBeNull();
  });

  test('the loader rejects types outside the vocabulary and badly written keys', () => {
    const bad =
      (domains: unknown, asns: unknown = {}) =>
      () =>
        parseSenderMap({ types: ['ESP'], domains, asns });
    expect(bad({ 'a.com': { name: 'A', type: 'esp' } })).toThrow(/type "esp", not one of/);
    expect(bad({ 'A.com': { name: 'A', type: 'ESP' } })).toThrow(/lower case/);
    expect(bad({ 'a.com.': { name: 'A', type: 'ESP' } })).toThrow(/trailing dot/);
    expect(bad({ 'a.com': { type: 'ESP' } })).toThrow(/no name/);
    expect(bad({ 'a.com': { name: 'A', type: 'ESP', forwarder: 'yes' } })).toThrow(/forwarder/);
    expect(bad({}, { AS15169: { name: 'A', type: 'ESP' } })).toThrow(/not an AS number/);
  });
});

describe('the maintained map (data/senders.json)', () => {
  test('loads, and is large enough to be useful', () => {
    const map = senderMap();
    const names = new Set([...map.domains.values()].map((e) => e.name));
    expect(map.domains.size).toBeGreaterThanOrEqual(100);
    expect(names.size).toBeGreaterThanOrEqual(60);
    expect(map.asns.size).toBeGreaterThan(20);
  });

  test.each([
    ['mail-sor-f41.google.com', 'Google Workspace', 'email provider'],
    ['mail-db5eur03on2101.outbound.protection.outlook.com', 'Microsoft 365', 'email provider'],
    ['a8-30.smtp-out.amazonses.com.', 'Amazon SES', 'ESP'],
    ['o1.ptr6371.sendgrid.net', 'SendGrid', 'ESP'],
    ['m228-4.mailgun.net', 'Mailgun', 'ESP'],
    ['mail134.atl121.mcsv.net', 'Mailchimp', 'marketing'],
    ['mail1.mandrillapp.com', 'Mailchimp Transactional (Mandrill)', 'transactional'],
    ['mta50a-ord.mtasv.net', 'Postmark', 'transactional'],
    ['mta-1.sparkpostmail.com', 'SparkPost', 'ESP'],
    ['mx0b-00123.pphosted.com', 'Proofpoint', 'security gateway'],
    ['esa1.example.iphmx.com', 'Cisco Secure Email', 'security gateway'],
    ['out1.smtp.messagingengine.com', 'Fastmail', 'email provider'],
    ['mail-4321.protonmail.ch', 'Proton Mail', 'email provider'],
    ['sonic305-2.consmr.mail.gq1.yahoo.com', 'Yahoo Mail', 'email provider'],
    ['mout.gmx.net', 'GMX', 'email provider'],
    ['p3plsmtp01.prod.phx3.secureserver.net', 'GoDaddy', 'hosting'],
    ['mail193-12.mktomail.com', 'Marketo', 'marketing'],
    ['outbyoip2.pod17.use1.zdsys.com', 'Zendesk', 'support'],
    ['out-21.smtp.github.com', 'GitHub', 'SaaS'],
    ['ec2-54-1-2-3.compute-1.amazonaws.com', 'Amazon Web Services', 'hosting'],
  ])('%s → %s / %s', (ptr, name, type) => {
    expect(senderForPtr(ptr)).toEqual({ name, type });
  });

  test('base domains work as well as full PTR names', () => {
    expect(senderForPtr('outlook.com')?.name).toBe('Microsoft 365');
    expect(senderForPtr('amazonses.com')?.name).toBe('Amazon SES');
  });

  test('mailbox providers are forwarders; ESPs and gateways are not', () => {
    for (const domain of [
      'google.com',
      'outlook.com',
      'yahoo.com',
      'icloud.com',
      'messagingengine.com',
      'protonmail.ch',
      'gmx.net',
      'web.de',
      'mail.ru',
      'yandex.net',
      'comcast.net',
    ]) {
      expect(isKnownForwarder(domain), domain).toBe(true);
    }
    for (const domain of ['amazonses.com', 'sendgrid.net', 'mcsv.net', 'pphosted.com', 'amazonaws.com', 'unknown.example']) {
      expect(isKnownForwarder(domain), domain).toBe(false);
    }
  });

  test('ASN fallback covers single-service networks, not shared clouds', () => {
    expect(senderForAsn(11377)).toEqual({ name: 'SendGrid', type: 'ESP' });
    expect(senderForAsn(30031)?.name).toBe('Mimecast');
    expect(senderForAsn(15169)).toBeNull(); // Google: Gmail, but also every Google Cloud customer
    expect(senderForAsn(16509)).toBeNull(); // Amazon: SES, but also every EC2 instance
    expect(senderForAsn(8075)).toBeNull(); // Microsoft: EOP, but also Azure
  });

  test('declares its licence', () => {
    expect(senderMap()).toBeTruthy();
    // The header key is part of the file so a copy carries it.
    return import('../../scripts/reports/enrich/data/senders.json', { with: { type: 'json' } }).then((json) => {
      expect(String((json.default as { _licence?: string })._licence)).toMatch(/^MIT/);
    });
  });
});
