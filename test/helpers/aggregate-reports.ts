/**
 * Small RFC 7489 aggregate reports written as XML and ingested by the real pipeline (offline
 * enrichment: PTR names from a cache file, AS numbers from a stub), for suites that need a dataset
 * whose every figure they can work out by hand.
 *
 *   const files = { 'g-1.xml': renderReport({ org: 'google.com', id: 'g-1', domain: 'example.com', p: 'none', day: '2026-03-01', records: [...] }) };
 *   await ingestReports({ dataDir, ourDomains: ['example.com'], files, ptr: { '167.89.1.3': 'o3.ptr1234.sendgrid.net' }, now, runId: 'run-1' });
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createEnricher } from '../../scripts/reports/enrich/index.ts';
import { ingestRun } from '../../scripts/reports/pipeline.ts';
import { fileItems } from '../../scripts/reports/sources/files.ts';
import { openDataset } from '../../scripts/reports/store/index.ts';

export interface Rec {
  ip: string;
  count: number;
  from: string;
  disposition?: string;
  envelope?: string;
  dkim?: { domain: string; selector?: string; result: string }[];
  spf: { domain: string; scope?: string; result: string }[];
  reasons?: { type: string; comment: string }[];
}

export interface ReportSpec {
  org: string;
  id: string;
  domain: string;
  p: string;
  sp?: string;
  adkim?: string;
  aspf?: string;
  pct?: number;
  /** UTC day the report covers (ISO); its range is that whole day. */
  day: string;
  records: Rec[];
}

const xml = (text: string): string => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** An RFC 7489 aggregate report (values XML-escaped, so hostile text stays text). */
export function renderReport(spec: ReportSpec): string {
  const begin = Date.parse(`${spec.day}T00:00:00Z`) / 1000;
  const record = (r: Rec): string => {
    const dkim = (r.dkim ?? [])
      .map(
        (d) =>
          `<dkim><domain>${xml(d.domain)}</domain>${d.selector ? `<selector>${xml(d.selector)}</selector>` : ''}<result>${d.result}</result></dkim>`,
      )
      .join('');
    const spf = r.spf
      .map((s) => `<spf><domain>${xml(s.domain)}</domain><scope>${s.scope ?? 'mfrom'}</scope><result>${s.result}</result></spf>`)
      .join('');
    const reasons = (r.reasons ?? []).map((x) => `<reason><type>${x.type}</type><comment>${xml(x.comment)}</comment></reason>`).join('');
    const pass = (r.dkim ?? []).some((d) => d.result === 'pass') ? 'pass' : 'fail';
    return (
      `<record><row><source_ip>${r.ip}</source_ip><count>${r.count}</count>` +
      `<policy_evaluated><disposition>${r.disposition ?? 'none'}</disposition><dkim>${pass}</dkim><spf>fail</spf>${reasons}</policy_evaluated></row>` +
      `<identifiers><header_from>${xml(r.from)}</header_from>${r.envelope ? `<envelope_from>${xml(r.envelope)}</envelope_from>` : ''}</identifiers>` +
      `<auth_results>${dkim}${spf}</auth_results></record>\n`
    );
  };
  const tags = [
    `<domain>${xml(spec.domain)}</domain>`,
    `<adkim>${spec.adkim ?? 'r'}</adkim>`,
    `<aspf>${spec.aspf ?? 'r'}</aspf>`,
    `<p>${spec.p}</p>`,
  ];
  if (spec.sp !== undefined) tags.push(`<sp>${spec.sp}</sp>`);
  tags.push(`<pct>${spec.pct ?? 100}</pct>`);
  return (
    `<?xml version="1.0" encoding="UTF-8"?>\n<feedback>\n<report_metadata><org_name>${xml(spec.org)}</org_name><email>noreply-dmarc@example.net</email>` +
    `<report_id>${xml(spec.id)}</report_id><date_range><begin>${begin}</begin><end>${begin + 86_399}</end></date_range></report_metadata>\n` +
    `<policy_published>${tags.join('')}</policy_published>\n` +
    spec.records.map(record).join('') +
    '</feedback>\n'
  );
}

export interface IngestOptions {
  dataDir: string;
  ourDomains: string[];
  /** File name → report text. */
  files: Record<string, string>;
  /** ip → PTR name (the offline enricher's cache). */
  ptr?: Record<string, string>;
  asn?: (ip: string) => { asn: number; asName: string; country: string } | null;
  now: Date;
  runId: string;
}

/** Writes the files to a temporary inbox and ingests them as one run. */
export async function ingestReports(options: IngestOptions): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'dmarcops-reports-'));
  try {
    const inbox = join(work, 'inbox');
    await mkdir(inbox);
    for (const [name, text] of Object.entries(options.files)) await writeFile(join(inbox, name), text);
    // Names as a forward-confirmed PTR lookup left them (the enricher uses only confirmed names).
    const cacheFile = join(work, 'ptr.json');
    const entries = Object.fromEntries(
      Object.entries(options.ptr ?? {}).map(([ip, ptr]) => [ip, { ptr, resolvedAt: options.now.toISOString(), confirmed: true }]),
    );
    await writeFile(cacheFile, JSON.stringify({ version: 1, entries }));
    const enricher = await createEnricher({
      offline: true,
      cacheFile,
      now: () => options.now,
      onWarning: () => {},
      asnLookup: options.asn ?? (() => null),
    });
    const dataset = await openDataset({ root: options.dataDir });
    try {
      await ingestRun(fileItems([inbox]), {
        dataset,
        ourDomains: new Set(options.ourDomains),
        enricher,
        now: () => options.now,
        runId: options.runId,
      });
    } finally {
      await dataset.close();
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
