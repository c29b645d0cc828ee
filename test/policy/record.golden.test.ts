/**
 * Golden files: what dmarcops publishes for a table of domain policies, as zone-file lines and as the
 * ManagedRecord[] the DNS stage receives. Update with `npx vitest run test/policy/record.golden.test.ts -u`
 * and read the diff: these files are what users see.
 */
import { describe, expect, test } from 'vitest';
import type { DnsTarget, DomainPolicy, ManagedRecord, ReportUri } from '../../scripts/policy/model.ts';
import { makePolicy } from '../helpers/policy.ts';
import { externalReportDestinations, managedRecords } from '../../scripts/policy/record.ts';
import { formatZoneFileTxt, splitCharacterStrings } from '../../scripts/lib/dns-txt.ts';

function policy(domain: string, fields: Partial<DomainPolicy> = {}): DomainPolicy {
  return makePolicy(domain, { file: 'domains/x.yaml', ...fields });
}

function rua(address: string, size?: string): ReportUri {
  if (size === undefined) return { uri: `mailto:${address}` };
  const [, digits = '', unit = ''] = /^(\d+)([kmgt]?)$/.exec(size) ?? [];
  const bytes = BigInt(digits) * 1024n ** BigInt(['', 'k', 'm', 'g', 't'].indexOf(unit));
  return { uri: `mailto:${address}`, size: { raw: size, bytes } };
}

const powerdns = (zone: string): DnsTarget => ({ provider: 'powerdns', zone, ttl: 300 });

interface GoldenCase {
  name: string;
  about: string;
  policies: DomainPolicy[];
}

const cases: GoldenCase[] = [
  {
    name: 'p-none-monitoring',
    about: 'Monitoring only: p=none with one aggregate report address in the same domain.',
    policies: [policy('example.com', { p: 'none', rua: [rua('dmarc@example.com')] })],
  },
  {
    name: 'p-quarantine-sp-none',
    about: 'Quarantine the domain, leave subdomains at none: sp differs from p, so it is written.',
    policies: [policy('example.com', { p: 'quarantine', sp: 'none', rua: [rua('dmarc@example.com')] })],
  },
  {
    name: 'p-reject-defaults-omitted',
    about: 'Every tag set to its default (sp=np=p, relaxed alignment, pct=100, psd=u, ri=86400): only p is written.',
    policies: [policy('example.com', { p: 'reject', sp: 'reject', np: 'reject', pct: 100, psd: 'u', ri: 86400 })],
  },
  {
    name: 'np-stricter-than-sp',
    about: 'Non-existent subdomains rejected while existing ones are quarantined: np differs from sp.',
    policies: [policy('example.com', { p: 'reject', sp: 'quarantine', np: 'reject', rua: [rua('dmarc@example.com')] })],
  },
  {
    name: 'strict-alignment',
    about: 'Strict DKIM and SPF alignment.',
    policies: [policy('example.org', { adkim: 's', aspf: 's', rua: [rua('dmarc@example.org')] })],
  },
  {
    name: 'pct-sampling',
    about: 'RFC 7489 sampling: quarantine a quarter of the failing mail.',
    policies: [policy('example.com', { p: 'quarantine', pct: 25, rua: [rua('dmarc@example.com')] })],
  },
  {
    name: 'testing-mode',
    about: 'RFC 9989 testing mode: t=y asks receivers to apply one step less than p.',
    policies: [policy('example.com', { p: 'reject', testing: true, rua: [rua('dmarc@example.com')] })],
  },
  {
    name: 'psd-public-suffix',
    about: 'A public suffix operator: psd=y, nothing for existing names below, reject for non-existent ones.',
    policies: [policy('gov.example', { p: 'none', np: 'reject', psd: 'y', rua: [rua('dmarc@gov.example')], dns: powerdns('gov.example') })],
  },
  {
    name: 'psd-n-hourly-reports',
    about: 'An organizational domain that says so (psd=n) and asks for hourly reports (ri=3600).',
    policies: [policy('example.com', { psd: 'n', ri: 3600, rua: [rua('dmarc@example.com')] })],
  },
  {
    name: 'rua-size-limits',
    about: 'Several report addresses, some with a size limit (obsolete in RFC 9989, still read by RFC 7489 receivers).',
    policies: [
      policy('example.com', {
        rua: [rua('dmarc@example.com', '10m'), rua('dmarc-archive@example.com'), rua('big@reports.example.com', '1g')],
      }),
    ],
  },
  {
    name: 'external-rua-managed',
    about:
      'Reports go to a host of another organizational domain that dmarcops also manages: ' +
      'the authorisation record is published in that zone, with its provider and TTL.',
    policies: [
      policy('example.com', { rua: [rua('dmarc@example.com'), rua('dmarc@reports.example.net', '50m')] }),
      policy('example.net', { p: 'quarantine', rua: [rua('dmarc@reports.example.net')], dns: powerdns('example.net') }),
    ],
  },
  {
    name: 'external-rua-unmanaged',
    about:
      'Reports go to a vendor outside the managed zones (no record: the vendor must publish it) ' +
      'and to a subdomain of the same organizational domain (no record needed).',
    policies: [policy('example.com', { rua: [rua('example-com@rua.vendor.example'), rua('dmarc@reports.example.com')] })],
  },
  {
    name: 'long-rua-split',
    about: 'A rua list longer than 255 octets: the TXT is split into several character-strings.',
    policies: [
      policy('example.com', {
        sp: 'quarantine',
        rua: Array.from({ length: 8 }, (_, index) => rua(`dmarc-aggregate-reports-${index + 1}@example.com`)),
        ri: 3600,
      }),
    ],
  },
  {
    name: 'every-tag',
    about: 'Every tag dmarcops publishes, each at a value that has to be written.',
    policies: [
      policy('example.com', {
        p: 'quarantine',
        sp: 'reject',
        np: 'none',
        adkim: 's',
        aspf: 's',
        pct: 50,
        testing: true,
        psd: 'n',
        rua: [rua('dmarc@example.com', '10m'), rua('dmarc@reports.example.net')],
        ri: 7200,
        dns: { provider: 'rfc2136', zone: 'example.com', ttl: 600 },
      }),
      policy('example.net', { dns: powerdns('example.net') }),
    ],
  },
  {
    name: 'mta-sts-and-tls-reporting',
    about:
      'MTA-STS in enforce mode and TLS reports to a mailbox and an HTTPS endpoint: _mta-sts (id derived from the ' +
      "policy file) and _smtp._tls TXT in the domain's own zone, beside its _dmarc record.",
    policies: [
      policy('example.com', {
        rua: [rua('dmarc@example.com')],
        mtaSts: { mode: 'enforce', mx: ['mx1.example.com', '*.mail.example.com'], maxAge: 1209600 },
        tlsRpt: ['mailto:tls-reports@example.com', 'https://tlsrpt.example.net/report'],
        dns: powerdns('example.com'),
      }),
    ],
  },
  {
    name: 'mta-sts-withdrawn-explicit-id',
    about: 'MTA-STS being withdrawn (mode none, RFC 8461 §8.3) with an id chosen by hand; no TLS reports.',
    policies: [policy('example.org', { p: 'none', mtaSts: { mode: 'none', mx: [], maxAge: 86400, id: 'withdrawn2026' } })],
  },
];

/** The DMARC-relevant input of a policy on one line, with sizes as written. */
function describePolicy(input: DomainPolicy): string {
  const { domain, p, sp, np, adkim, aspf, pct, testing, psd, ri, dns } = input;
  const fields = { p, sp, np, adkim, aspf, pct, testing, psd, rua: input.rua.map(formatRua), ri };
  const transport =
    input.mtaSts === undefined && input.tlsRpt === undefined ? '' : ` ${JSON.stringify({ mtaSts: input.mtaSts, tlsRpt: input.tlsRpt })}`;
  return `${domain} ${JSON.stringify(fields)}${transport} → ${dns.provider} zone ${dns.zone}, ttl ${dns.ttl}`;
}

function formatRua({ uri, size }: ReportUri): string {
  return size === undefined ? uri : `${uri}!${size.raw}`;
}

function zoneFileLines(records: ManagedRecord[]): string[] {
  const lines: string[] = [];
  let zone: string | undefined;
  for (const record of records) {
    if (record.zone !== zone) {
      zone = record.zone;
      lines.push(`; zone ${record.zone} (${record.provider})`);
    }
    for (const value of record.values) {
      lines.push(`${record.name}. ${record.ttl} IN TXT ${formatZoneFileTxt(splitCharacterStrings(value))}`);
    }
  }
  return lines;
}

function render({ about, policies }: GoldenCase): string {
  const records = managedRecords(policies);
  const zones = policies.map((each) => each.dns.zone);
  const destinations = policies.flatMap((each) =>
    externalReportDestinations(each).map(({ host, recordName }) => {
      const managed = records.some((record) => record.name === recordName);
      return `;   ${host}: ${recordName} (${managed ? 'managed' : 'not managed, the destination must publish it'})`;
    }),
  );
  return [
    `; ${about}`,
    ';',
    '; Policies:',
    ...policies.map((each) => `;   ${describePolicy(each)}`),
    `; Managed zones: ${zones.join(', ')}`,
    '; External report destinations (RFC 7489 §7.1):',
    ...(destinations.length > 0 ? destinations : [';   none']),
    '',
    ...zoneFileLines(records),
    '',
    '; ManagedRecord[]',
    JSON.stringify(records, null, 2),
    '',
  ].join('\n');
}

describe('golden records', () => {
  test('case names are unique', () => {
    expect(new Set(cases.map((each) => each.name)).size).toBe(cases.length);
  });

  test.each(cases.map((each) => [each.name, each] as const))('%s', async (name, goldenCase) => {
    await expect(render(goldenCase)).toMatchFileSnapshot(`../golden/records/${name}.txt`);
  });

  test('no character-string in the goldens is longer than 255 octets', () => {
    for (const goldenCase of cases) {
      for (const record of managedRecords(goldenCase.policies)) {
        for (const text of record.values.flatMap((value) => splitCharacterStrings(value))) {
          expect(new TextEncoder().encode(text).length).toBeLessThanOrEqual(255);
        }
      }
    }
  });
});
