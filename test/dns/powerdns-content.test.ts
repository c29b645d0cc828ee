/**
 * The PowerDNS provider's pure parts (no server): TXT content in and out, zone ids, configuration from
 * the environment, and what it sends for a given state (through a fake fetch).
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { splitCharacterStrings } from '../../scripts/lib/dns-txt.ts';
import {
  createPowerDnsProvider,
  formatTxtContent,
  readTxtContent,
  powerDnsConfigFromEnv,
  powerDnsZoneId,
  providerFromEnv,
} from '../../scripts/dns/providers/powerdns.ts';
import type { RecordChange } from '../../scripts/dns/types.ts';

describe('TXT content', () => {
  it('reads quoted strings and bare words; content PowerDNS could not have written is one literal string', () => {
    expect(readTxtContent('"v=DMARC1; " "p=none" rest')).toEqual({
      strings: ['v=DMARC1; ', 'p=none', 'rest'],
      value: 'v=DMARC1; p=nonerest',
    });
    expect(readTxtContent('"unclosed')).toEqual({ strings: ['"unclosed'], value: '"unclosed' });
  });

  it('formats quoted, escaped, in strings of at most 255 octets', () => {
    expect(formatTxtContent('v=DMARC1; p=none')).toBe('"v=DMARC1; p=none"');
    expect(formatTxtContent('a"b\\c é')).toBe('"a\\"b\\\\c \\195\\169"');
    expect(formatTxtContent('')).toBe('""');
    const long = `v=DMARC1; p=reject; rua=${Array.from({ length: 12 }, (_, index) => `mailto:r${index}@reports.example.test`).join(',')}; ri=3600`;
    expect(formatTxtContent(long)).toBe(
      splitCharacterStrings(long)
        .map((piece) => JSON.stringify(piece))
        .join(' '),
    );
  });

  it('round-trips any value', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 700 }), (value) => {
        const wellFormed = value.toWellFormed();
        const parsed = readTxtContent(formatTxtContent(wellFormed));
        expect(parsed.value).toBe(wellFormed);
        expect(parsed.strings).toEqual(splitCharacterStrings(wellFormed));
      }),
    );
  });
});

describe('zone ids', () => {
  it('are the name with a trailing dot, other characters as =XX', () => {
    expect(powerDnsZoneId('example.test')).toBe('example.test.');
    expect(powerDnsZoneId('Example.TEST.')).toBe('example.test.');
    expect(powerDnsZoneId('under_score.test')).toBe('under=5Fscore.test.');
    expect(powerDnsZoneId('0/24.2.0.192.in-addr.arpa')).toBe('0=2F24.2.0.192.in-addr.arpa.');
  });
});

describe('configuration from the environment', () => {
  it('reads PDNS_API_URL, PDNS_API_KEY and PDNS_SERVER_ID (default localhost)', () => {
    expect(powerDnsConfigFromEnv({ PDNS_API_URL: 'http://127.0.0.1:8081', PDNS_API_KEY: 'k' })).toEqual({
      apiUrl: 'http://127.0.0.1:8081',
      apiKey: 'k',
      serverId: 'localhost',
    });
    expect(powerDnsConfigFromEnv({ PDNS_API_URL: 'https://dns.example/api/v1/', PDNS_API_KEY: 'k', PDNS_SERVER_ID: 'ns1' }).serverId).toBe(
      'ns1',
    );
  });

  it('names the missing variables and never prints the key', () => {
    expect(() => powerDnsConfigFromEnv({})).toThrow(/missing environment variables PDNS_API_URL and PDNS_API_KEY/);
    expect(() => powerDnsConfigFromEnv({ PDNS_API_URL: 'http://127.0.0.1:8081', PDNS_API_KEY: '  ' })).toThrow(
      /missing environment variable PDNS_API_KEY \(/,
    );
    const secret = 'very-secret-key-123';
    for (const url of ['not a url', 'ftp://dns.example', 'http://user:pw@dns.example']) {
      let message = '';
      try {
        powerDnsConfigFromEnv({ PDNS_API_URL: url, PDNS_API_KEY: secret });
      } catch (error) {
        message = (error as Error).message;
      }
      expect(message).toMatch(/PDNS_API_URL/);
      expect(message).not.toContain(secret);
    }
  });

  it('gives providers/index.ts a provider', () => {
    expect(providerFromEnv({ PDNS_API_URL: 'http://127.0.0.1:8081', PDNS_API_KEY: 'k' }).name).toBe('powerdns');
  });
});

describe('requests (fake fetch)', () => {
  const zoneJson = {
    name: 'example.test.',
    rrsets: [{ name: '_dmarc.example.test.', type: 'TXT', ttl: 300, records: [{ content: '"v=DMARC1; p=none"', disabled: false }] }],
  };

  function fake(status = 200, body: unknown = zoneJson) {
    const calls: { method: string; url: string; headers: Record<string, string>; body?: unknown }[] = [];
    const dns = createPowerDnsProvider({
      apiUrl: 'http://pdns.test:8081/api/v1/',
      apiKey: 'sekrit',
      serverId: 'localhost',
      fetch: async (input, init) => {
        const method = init?.method ?? 'GET';
        calls.push({
          method,
          url: String(input),
          headers: init?.headers as Record<string, string>,
          body: typeof init?.body === 'string' ? JSON.parse(init.body) : undefined,
        });
        if (method === 'PATCH') return new Response(null, { status: 204 });
        return new Response(typeof body === 'string' ? body : JSON.stringify(body), { status });
      },
    });
    return { dns, calls };
  }

  const base: Omit<RecordChange, 'action' | 'name' | 'before' | 'after'> = {
    provider: 'powerdns',
    zone: 'example.test',
    type: 'TXT',
    ttlBefore: 300,
    ttlAfter: 300,
    reason: 'test',
    risky: false,
  };

  it('sends the key in X-API-Key to the zone URL, and a DELETE when nothing is left', async () => {
    const { dns, calls } = fake();
    await dns.applyZone(
      'example.test',
      [{ ...base, action: 'delete', name: '_dmarc.example.test', before: ['v=DMARC1; p=none'], after: null, ttlAfter: null }],
      [],
    );
    expect(calls.map((call) => [call.method, call.url])).toEqual([
      ['GET', 'http://pdns.test:8081/api/v1/servers/localhost/zones/example.test.'],
      ['PATCH', 'http://pdns.test:8081/api/v1/servers/localhost/zones/example.test.'],
    ]);
    expect(calls[0]?.headers['X-API-Key']).toBe('sekrit');
    expect(calls[1]?.body).toEqual({ rrsets: [{ name: '_dmarc.example.test.', type: 'TXT', changetype: 'DELETE' }] });
  });

  it('sends nothing at all for zero changes', async () => {
    const { dns, calls } = fake();
    await dns.applyZone('example.test', [], []);
    expect(calls).toEqual([]);
  });

  it('refuses changes outside the zone, of another type, or twice for one name, before any request', async () => {
    const { dns, calls } = fake();
    const create = { ...base, action: 'create' as const, before: null, after: ['v=DMARC1; p=none'] };
    await expect(dns.applyZone('example.test', [{ ...create, name: '_dmarc.other.test', zone: 'other.test' }], [])).rejects.toThrow(
      /in zone other\.test, not example\.test/,
    );
    await expect(dns.applyZone('example.test', [{ ...create, name: '_dmarc.other.test' }], [])).rejects.toThrow(
      /not in zone example\.test/,
    );
    await expect(
      dns.applyZone(
        'example.test',
        [
          { ...create, name: '_dmarc.a.example.test' },
          { ...create, name: '_dmarc.A.example.test.' },
        ],
        [],
      ),
    ).rejects.toThrow(/two changes/);
    expect(calls).toEqual([]);
  });

  it("puts PowerDNS's error text in the message, without the key even when the server echoes it", async () => {
    const { dns } = fake(422, { error: 'bad thing near sekrit' });
    await expect(dns.listTxt('example.test', ['_dmarc.example.test'])).rejects.toThrow(
      'PowerDNS API at http://pdns.test:8081: reading zone example.test failed: HTTP 422: bad thing near ***',
    );
  });
});
