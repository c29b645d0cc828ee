/**
 * A deterministic RFC 7489 aggregate report of N records, for benchmarks and streaming tests.
 * The same seed and size always give the same bytes (~730 bytes per record, like real Outlook
 * and Google reports: IPv4 and IPv6 sources, 0–3 DKIM results, SPF, occasional override reasons).
 *
 *   node bench/ingest/generate.ts [--records 100000] [--seed 1] [--gzip] [--out FILE]
 *
 * Without --out the XML goes to stdout.
 */
import { createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { createGzip } from 'node:zlib';
import { parseArgs } from 'node:util';
import { prng } from '../../scripts/lib/random.ts';

export interface GenerateOptions {
  records?: number;
  seed?: number;
  /** Records per yielded string; bigger is faster, smaller streams more finely. */
  recordsPerChunk?: number;
}

export const SENDERS = ['mail.example.com', 'bounce.mailer.example.net', 'smtp.partner.example.org', 'news.example.com'];
export const SELECTORS = ['selector1', 'google', 's2048', 'k1', 'mx'];
export const DISPOSITIONS = ['none', 'none', 'none', 'quarantine', 'reject'];
export const DKIM_RESULTS = ['pass', 'pass', 'pass', 'fail', 'neutral', 'temperror'];
export const SPF_RESULTS = ['pass', 'pass', 'softfail', 'fail', 'neutral', 'none'];

/** The report as a sequence of XML strings (header, record chunks, footer). */
export function* generateReport(options: GenerateOptions = {}): Generator<string> {
  const records = options.records ?? 100_000;
  const perChunk = options.recordsPerChunk ?? 256;
  const rand = prng(options.seed ?? 1);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(rand() * list.length)] as T;
  const begin = 1_767_225_600; // 2026-01-01T00:00:00Z

  yield `<?xml version="1.0" encoding="UTF-8"?>
<feedback>
  <report_metadata>
    <org_name>bench.example</org_name>
    <email>noreply-dmarc@bench.example</email>
    <extra_contact_info>https://bench.example/dmarc</extra_contact_info>
    <report_id>bench-${options.seed ?? 1}-${records}</report_id>
    <date_range>
      <begin>${begin}</begin>
      <end>${begin + 86_399}</end>
    </date_range>
  </report_metadata>
  <policy_published>
    <domain>example.com</domain>
    <adkim>r</adkim>
    <aspf>r</aspf>
    <p>quarantine</p>
    <sp>none</sp>
    <pct>100</pct>
    <fo>1</fo>
  </policy_published>
`;
  let chunk = '';
  for (let i = 0; i < records; i++) {
    const ip =
      rand() < 0.3
        ? `2001:db8:${Math.floor(rand() * 65536).toString(16)}::${Math.floor(rand() * 65536).toString(16)}`
        : `198.51.${Math.floor(rand() * 256)}.${Math.floor(rand() * 256)}`;
    const sender = pick(SENDERS);
    const dkimCount = Math.floor(rand() * 3) + (rand() < 0.15 ? 1 : 0);
    let dkim = '';
    for (let d = 0; d < dkimCount; d++) {
      dkim += `
      <dkim>
        <domain>${d === 0 ? 'example.com' : sender}</domain>
        <selector>${pick(SELECTORS)}</selector>
        <result>${pick(DKIM_RESULTS)}</result>
      </dkim>`;
    }
    const reason =
      rand() < 0.05 ? '\n        <reason>\n          <type>forwarded</type>\n          <comment>arc=pass</comment>\n        </reason>' : '';
    chunk += `  <record>
    <row>
      <source_ip>${ip}</source_ip>
      <count>${1 + Math.floor(rand() * 50)}</count>
      <policy_evaluated>
        <disposition>${pick(DISPOSITIONS)}</disposition>
        <dkim>${rand() < 0.7 ? 'pass' : 'fail'}</dkim>
        <spf>${rand() < 0.6 ? 'pass' : 'fail'}</spf>${reason}
      </policy_evaluated>
    </row>
    <identifiers>${rand() < 0.5 ? '\n      <envelope_to>example.com</envelope_to>' : ''}
      <envelope_from>${sender}</envelope_from>
      <header_from>example.com</header_from>
    </identifiers>
    <auth_results>${dkim}
      <spf>
        <domain>${sender}</domain>
        <scope>mfrom</scope>
        <result>${pick(SPF_RESULTS)}</result>
      </spf>
    </auth_results>
  </record>
`;
    if ((i + 1) % perChunk === 0) {
      yield chunk;
      chunk = '';
    }
  }
  yield `${chunk}</feedback>\n`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      records: { type: 'string', default: '100000' },
      seed: { type: 'string', default: '1' },
      gzip: { type: 'boolean', default: false },
      out: { type: 'string' },
    },
  });
  const source = Readable.from(generateReport({ records: Number(values.records), seed: Number(values.seed) }));
  const sink = values.out ? createWriteStream(values.out) : process.stdout;
  if (values.gzip) await pipeline(source, createGzip(), sink);
  else await pipeline(source, sink);
}

if (import.meta.main) await main();
