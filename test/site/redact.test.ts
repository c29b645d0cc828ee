/** What a redacted build writes instead of addresses inside free text (scripts/site/redact.ts). */
import { describe, expect, test } from 'vitest';
import { networkLabel, scrubText, scrubWarning } from '../../scripts/site/redact.ts';

describe('scrubText', () => {
  test.each([
    ['sent from 192.0.2.1.', 'sent from redacted.'],
    ['peer [198.51.100.7]:25 refused', 'peer [redacted]:25 refused'],
    ['v6 2001:db8::25 and 2001:0db8:0000:0000:0000:0000:0000:0025, upper 2001:DB8::26', 'v6 redacted and redacted, upper redacted'],
    ['mapped ::ffff:192.0.2.9 and zoned fe80::1%eth0', 'mapped redacted and zoned redacted'],
    ['leading zeros 010.001.002.003', 'leading zeros redacted'],
    [
      'write to dmarc@receiver.example or <Abuse.Desk@mx.receiver.example>',
      'write to (address at receiver.example) or <(address at mx.receiver.example)>',
    ],
  ])('%s', (text, scrubbed) => {
    expect(scrubText(text)).toBe(scrubbed);
  });

  test('leaves domains, times, dates and plain numbers alone', () => {
    const text = 'example.com at 12:30:05 on 2026-06-30, report 1.2 of mail.example.net (v2.0), 3 records';
    expect(scrubText(text)).toBe(text);
  });
});

test('a warning that quotes a source IP (valid or not) loses the value; others are scrubbed', () => {
  expect(
    scrubWarning({ code: 'invalid-source-ip', message: '<row/source_ip> "192.0.2.999" is not an IP address; kept as written' }).message,
  ).not.toContain('192.0.2.999');
  expect(scrubWarning({ code: 'value-case', message: '<row/disposition> "None" read as "none"' }).message).toBe(
    '<row/disposition> "None" read as "none"',
  );
  expect(scrubWarning({ code: 'junk-before-root', message: 'text "from 192.0.2.1" before the root element ignored' }).message).toBe(
    'text "from redacted" before the root element ignored',
  );
});

test('networkLabel names a host by what is left: AS and country', () => {
  expect(networkLabel(15169, 'GOOGLE', 'US')).toBe('redacted (AS15169 GOOGLE, US)');
  expect(networkLabel(64500, null, null)).toBe('redacted (AS64500)');
  expect(networkLabel(null, null, 'DE')).toBe('redacted (DE)');
  expect(networkLabel(null, null, null)).toBe('redacted (unknown network)');
});
