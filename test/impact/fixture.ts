/**
 * A reports dataset whose impact is known by construction, for the impact suites: small RFC 7489
 * aggregate reports rendered from specs below, ingested by the real pipeline (offline enrichment
 * from a PTR cache and a stub ASN table), plus helpers that write the domain-file versions each
 * scenario compares. Counts are chosen so that every figure a test expects can be added up by hand
 * from this file.
 *
 * Reports cover 2026-03-01 … 2026-03-03 (UTC days); the newest report ends 2026-03-03T23:59:59Z.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadDomainDir } from '../../scripts/policy/load.ts';
import type { LoadedDomain } from '../../scripts/policy/load.ts';
import { createEnricher } from '../../scripts/reports/enrich/index.ts';
import { ingestRun } from '../../scripts/reports/pipeline.ts';
import { fileItems } from '../../scripts/reports/sources/files.ts';
import { openDataset } from '../../scripts/reports/store/index.ts';

export const DAY = 86_400;
export const D0 = Date.UTC(2026, 2, 1) / 1000;
export const NOW = new Date(Date.UTC(2026, 2, 5, 12));

export const IP = {
  google: '209.85.220.41',
  googleForwarder: '209.85.220.69',
  newsletters: '198.51.100.50',
  printer: '192.0.2.10',
  spoofer: '185.220.101.1',
  relay: '192.0.2.20',
  relayOrg: '192.0.2.30',
  shop: '203.0.113.5',
  spoofers: ['185.220.101.11', '185.220.101.12', '185.220.101.13', '185.220.101.14'],
} as const;

const PTR: Record<string, string> = {
  [IP.google]: 'mail-sor-f41.google.com',
  [IP.googleForwarder]: 'mail-yw1-f69.google.com',
};

export interface Rec {
  ip: string;
  count: number;
  from: string;
  envelope?: string;
  dkim?: { domain: string; selector?: string; result: string }[];
  spf: { domain: string; scope?: string; result: string }[];
}

export interface ReportSpec {
  org: string;
  id: string;
  domain: string;
  p: string;
  /** Day 0, 1 or 2 after D0. */
  day: number;
  records: Rec[];
}

const escapeXml = (text: string): string => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** An RFC 7489 aggregate report. */
export function renderReport(spec: ReportSpec): string {
  const begin = D0 + spec.day * DAY;
  const record = (r: Rec): string => {
    const dkim = (r.dkim ?? [])
      .map(
        (d) =>
          `<dkim><domain>${d.domain}</domain>${d.selector ? `<selector>${d.selector}</selector>` : ''}<result>${d.result}</result></dkim>`,
      )
      .join('');
    const spf = r.spf
      .map((s) => `<spf><domain>${s.domain}</domain><scope>${s.scope ?? 'mfrom'}</scope><result>${s.result}</result></spf>`)
      .join('');
    return (
      `<record><row><source_ip>${r.ip}</source_ip><count>${r.count}</count>` +
      '<policy_evaluated><disposition>none</disposition><dkim>fail</dkim><spf>fail</spf></policy_evaluated></row>' +
      `<identifiers><header_from>${r.from}</header_from>${r.envelope ? `<envelope_from>${r.envelope}</envelope_from>` : ''}</identifiers>` +
      `<auth_results>${dkim}${spf}</auth_results></record>\n`
    );
  };
  return (
    '<?xml version="1.0" encoding="UTF-8"?>\n<feedback>\n' +
    `<report_metadata><org_name>${escapeXml(spec.org)}</org_name><email>noreply-dmarc@${spec.org.toLowerCase()}</email>` +
    `<report_id>${spec.id}</report_id><date_range><begin>${begin}</begin><end>${begin + DAY - 1}</end></date_range></report_metadata>\n` +
    `<policy_published><domain>${spec.domain}</domain><adkim>r</adkim><aspf>r</aspf><p>${spec.p}</p><pct>100</pct></policy_published>\n` +
    spec.records.map(record).join('') +
    '</feedback>\n'
  );
}

// ---------------------------------------------------------------------------------------------
// The mail of each scenario

/**
 * example.com, the constructed case. Per day:
 *   (a) Newsletters, DKIM d=news.example.com pass, SPF for the ESP's bounce domain: google 300 + outlook 50
 *   (b) Office printers (192.0.2.10), no DKIM, SPF example.com softfail: google 10 + outlook 5 (days 0 and 1 only)
 *   (c) a spoofer, SPF example.com fail: google 100
 *   (d) Google Workspace, DKIM d=example.com pass, SPF example.com pass: google 1,000 + outlook 500
 * Three days: (a) 1,050, (b) 40, (c) 300, (d) 4,500.
 */
export const CONSTRUCTED = { a: 1050, b: 40, c: 300, d: 4500 } as const;

function exampleCom(org: 'google' | 'outlook', day: number): Rec[] {
  const google = org === 'google';
  const records: Rec[] = [
    {
      ip: IP.newsletters,
      count: google ? 300 : 50,
      from: 'example.com',
      envelope: 'bounces.esp-mail.net',
      dkim: [{ domain: 'news.example.com', selector: 'nl', result: 'pass' }],
      spf: [{ domain: 'bounces.esp-mail.net', result: 'pass' }],
    },
    { ip: IP.spoofer, count: 100, from: 'example.com', spf: [{ domain: 'example.com', result: 'fail' }] },
    {
      ip: IP.google,
      count: google ? 1000 : 500,
      from: 'example.com',
      dkim: [{ domain: 'example.com', selector: 'google', result: 'pass' }],
      spf: [{ domain: 'example.com', result: 'pass' }],
    },
  ];
  if (!google) records.splice(1, 1); // the spoofer shows only in Google's reports
  if (google || day < 2)
    records.push({ ip: IP.printer, count: google ? 10 : 5, from: 'example.com', spf: [{ domain: 'example.com', result: 'softfail' }] });
  return records;
}

/** example.net (t=y): per day 200 passing (Google Workspace), 10 from the declared relay failing, 25 spoofed; three days. */
function exampleNet(): Rec[] {
  return [
    {
      ip: IP.google,
      count: 200,
      from: 'example.net',
      dkim: [{ domain: 'example.net', selector: 'google', result: 'pass' }],
      spf: [{ domain: 'example.net', result: 'pass' }],
    },
    { ip: IP.relay, count: 10, from: 'example.net', spf: [{ domain: 'example.net', result: 'fail' }] },
    { ip: IP.spoofer, count: 25, from: 'example.net', spf: [{ domain: 'example.net', result: 'fail' }] },
  ];
}

/** example.org (percent), day 0 only: 100 passing, 10 from the declared relay failing, four spoofers of 5 each. */
function exampleOrg(): Rec[] {
  return [
    {
      ip: IP.google,
      count: 100,
      from: 'example.org',
      dkim: [{ domain: 'example.org', selector: 'google', result: 'pass' }],
      spf: [{ domain: 'example.org', result: 'pass' }],
    },
    { ip: IP.relayOrg, count: 10, from: 'example.org', spf: [{ domain: 'example.org', result: 'fail' }] },
    ...IP.spoofers.map((ip): Rec => ({ ip, count: 5, from: 'example.org', spf: [{ domain: 'example.org', result: 'fail' }] })),
  ];
}

/**
 * parent.example (sp/np, day 1): in parent.example's report, 100 passing messages from
 * news.parent.example (signed d=parent.example), 25 spoofed from news.parent.example, 10 spoofed
 * from parent.example. shop.parent.example has its own report: 50 passing (d=parent.example), 5 from
 * the shop platform (203.0.113.5) failing, 15 spoofed.
 */
function parentExample(): Rec[] {
  return [
    {
      ip: IP.google,
      count: 100,
      from: 'news.parent.example',
      dkim: [{ domain: 'parent.example', selector: 'google', result: 'pass' }],
      spf: [{ domain: 'parent.example', result: 'pass' }],
    },
    { ip: IP.spoofer, count: 25, from: 'news.parent.example', spf: [{ domain: 'news.parent.example', result: 'fail' }] },
    { ip: IP.spoofer, count: 10, from: 'parent.example', spf: [{ domain: 'parent.example', result: 'fail' }] },
  ];
}

function shopParentExample(): Rec[] {
  return [
    {
      ip: IP.google,
      count: 50,
      from: 'shop.parent.example',
      dkim: [{ domain: 'parent.example', selector: 'google', result: 'pass' }],
      spf: [{ domain: 'parent.example', result: 'pass' }],
    },
    { ip: IP.shop, count: 5, from: 'shop.parent.example', spf: [{ domain: 'shop.parent.example', result: 'fail' }] },
    { ip: IP.spoofer, count: 15, from: 'shop.parent.example', spf: [{ domain: 'shop.parent.example', result: 'fail' }] },
  ];
}

/** d1.example (defaults), day 2: 40 passing, 12 spoofed. d2.example the same. */
function defaultsDomain(domain: string): Rec[] {
  return [
    { ip: IP.google, count: 40, from: domain, dkim: [{ domain, selector: 'google', result: 'pass' }], spf: [{ domain, result: 'pass' }] },
    { ip: IP.spoofer, count: 12, from: domain, spf: [{ domain, result: 'fail' }] },
  ];
}

/** fwd.example, day 2: 100 passing, 20 forwarded by Gmail users (our signature broken, SPF softfail at the forwarder). */
function fwdExample(): Rec[] {
  return [
    {
      ip: IP.google,
      count: 100,
      from: 'fwd.example',
      dkim: [{ domain: 'fwd.example', selector: 'google', result: 'pass' }],
      spf: [{ domain: 'fwd.example', result: 'pass' }],
    },
    {
      ip: IP.googleForwarder,
      count: 20,
      from: 'fwd.example',
      dkim: [{ domain: 'fwd.example', selector: 'google', result: 'fail' }],
      spf: [{ domain: 'fwd.example', result: 'softfail' }],
    },
  ];
}

export const OUR_DOMAINS = [
  'example.com',
  'example.net',
  'example.org',
  'parent.example',
  'd1.example',
  'd2.example',
  'quiet.example',
  'fwd.example',
];

export function fixtureReports(): Record<string, string> {
  const files: Record<string, string> = {};
  for (let day = 0; day < 3; day++) {
    files[`google-com-${day}.xml`] = renderReport({
      org: 'google.com',
      id: `g-com-${day}`,
      domain: 'example.com',
      p: 'none',
      day,
      records: exampleCom('google', day),
    });
    files[`outlook-com-${day}.xml`] = renderReport({
      org: 'Outlook.com',
      id: `o-com-${day}`,
      domain: 'example.com',
      p: 'none',
      day,
      records: exampleCom('outlook', day),
    });
    files[`google-net-${day}.xml`] = renderReport({
      org: 'google.com',
      id: `g-net-${day}`,
      domain: 'example.net',
      p: 'none',
      day,
      records: exampleNet(),
    });
  }
  files['google-org-0.xml'] = renderReport({
    org: 'google.com',
    id: 'g-org-0',
    domain: 'example.org',
    p: 'quarantine',
    day: 0,
    records: exampleOrg(),
  });
  files['google-parent-1.xml'] = renderReport({
    org: 'google.com',
    id: 'g-parent-1',
    domain: 'parent.example',
    p: 'reject',
    day: 1,
    records: parentExample(),
  });
  files['google-shop-1.xml'] = renderReport({
    org: 'google.com',
    id: 'g-shop-1',
    domain: 'shop.parent.example',
    p: 'none',
    day: 1,
    records: shopParentExample(),
  });
  files['yahoo-d1-2.xml'] = renderReport({
    org: 'Yahoo',
    id: 'y-d1-2',
    domain: 'd1.example',
    p: 'none',
    day: 2,
    records: defaultsDomain('d1.example'),
  });
  files['google-fwd-2.xml'] = renderReport({
    org: 'google.com',
    id: 'g-fwd-2',
    domain: 'fwd.example',
    p: 'none',
    day: 2,
    records: fwdExample(),
  });
  files['yahoo-d2-2.xml'] = renderReport({
    org: 'Yahoo',
    id: 'y-d2-2',
    domain: 'd2.example',
    p: 'none',
    day: 2,
    records: defaultsDomain('d2.example'),
  });
  return files;
}

// ---------------------------------------------------------------------------------------------
// The dataset and domain-file versions

export interface ImpactFixture {
  dir: string;
  dataDir: string;
  /** Writes a domains folder (file name → YAML) under the fixture folder and returns its path. */
  domains(name: string, files: Record<string, string>): Promise<string>;
  /** Writes and loads a domains folder: the LoadedDomain list computeImpact takes (throws on errors). */
  load(name: string, files: Record<string, string>): Promise<LoadedDomain[]>;
  close(): Promise<void>;
}

export async function buildImpactFixture(): Promise<ImpactFixture> {
  const dir = await mkdtemp(join(tmpdir(), 'dmarcops-impact-'));
  const dataDir = join(dir, 'reports');
  const inbox = join(dir, 'inbox');
  await mkdir(inbox);
  for (const [name, text] of Object.entries(fixtureReports())) await writeFile(join(inbox, name), text);
  const cacheFile = join(dir, 'ptr.json');
  // Names as a forward-confirmed PTR lookup left them (the enricher uses only confirmed names).
  await writeFile(
    cacheFile,
    JSON.stringify({
      version: 1,
      entries: Object.fromEntries(Object.entries(PTR).map(([ip, ptr]) => [ip, { ptr, resolvedAt: NOW.toISOString(), confirmed: true }])),
    }),
  );
  const enricher = await createEnricher({
    offline: true,
    cacheFile,
    now: () => NOW,
    onWarning: () => {},
    asnLookup: (ip) => (ip.startsWith('209.85.') ? { asn: 15169, asName: 'GOOGLE', country: 'US' } : null),
  });
  const dataset = await openDataset({ root: dataDir });
  try {
    const { summary } = await ingestRun(fileItems([inbox]), {
      dataset,
      ourDomains: new Set(OUR_DOMAINS),
      enricher,
      now: () => NOW,
      runId: 'impact-fixture',
    });
    if (summary.reports.stored !== Object.keys(fixtureReports()).length)
      throw new Error(`fixture ingest stored ${summary.reports.stored} reports: ${JSON.stringify(summary)}`);
  } finally {
    await dataset.close();
  }
  const domains = async (name: string, files: Record<string, string>): Promise<string> => {
    const folder = join(dir, 'versions', name);
    await mkdir(folder, { recursive: true });
    for (const [file, text] of Object.entries(files)) await writeFile(join(folder, file), text);
    return folder;
  };
  return {
    dir,
    dataDir,
    domains,
    async load(name, files) {
      const loaded = await loadDomainDir(await domains(name, files));
      const errors = loaded.findings.filter((f) => f.severity === 'error');
      if (errors.length > 0) throw new Error(`fixture domain files ${name} have errors: ${JSON.stringify(errors)}`);
      return loaded.domains;
    },
    close: () => rm(dir, { recursive: true, force: true }),
  };
}

// ---------------------------------------------------------------------------------------------
// Domain files

export const SENDERS_COM = {
  google: `  - name: Google Workspace
    dkim: [{ domain: example.com, selector: google }]
`,
  newsletters: `  - name: Newsletters
    type: ESP
    dkim: [{ domain: news.example.com }]
`,
  printers: `  - name: Office printers
    ips: [192.0.2.10]
`,
};

export function exampleComFile(options: {
  policy: string;
  dkim?: 'relaxed' | 'strict';
  senders?: (keyof typeof SENDERS_COM)[];
  extra?: string;
}): string {
  const senders = (options.senders ?? ['google', 'newsletters', 'printers']).map((s) => SENDERS_COM[s]).join('');
  return `policy: ${options.policy}
alignment:
  dkim: ${options.dkim ?? 'relaxed'}
${options.extra ?? ''}senders:
${senders}`;
}
