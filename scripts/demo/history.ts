/**
 * A believable 90-day history of DMARC aggregate reports for the demo dashboard: one report file per
 * (reporter, policy domain, day), written as receivers send them (Google zipped, most others
 * gzipped, one plain XML, one reporter on the RFC 9990 schema). They go through the real
 * `dmarcops ingest --offline`, so they are valid reports for the shipped domains/ and their source
 * IPs come from the providers' real ranges (the offline ASN data names them).
 *
 * The story, as the dashboard should tell it:
 * - Google Workspace mail for example.com passes, with a weekday/weekend rhythm;
 * - Amazon SES mostly passes (now and then a DKIM temperror: authorised but failing);
 *   it also sends the news.example.com newsletter (a subdomain under example.com's sp);
 * - the office printers relay is misconfigured (broken or no signature, SPF fails): authorised but failing;
 * - SendGrid on mail.example.com passes, except 3 days where its DKIM key broke (rejected: p=reject);
 * - forwarded mail: our signature broken by mailing lists (ARC evidence) and by forwarding at
 *   mailbox providers known by their AS number;
 * - spoofing bursts from a few dozen IPs, and a daily trickle; example.org (parked) only gets spoofed;
 * - marketing started sending through Mailchimp without declaring it: unauthorised from a named service;
 * - example.com moved from p=none to p=quarantine (t=y) a third of the way in, so dispositions change.
 *
 * Deterministic: the same options give the same bytes.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { zipSync } from 'fflate';
import { prng } from '../lib/random.ts';
import { domainsAligned } from '../reports/derive.ts';

export interface DemoHistoryOptions {
  /** Last day of the history (ISO date, UTC). */
  endDay: string;
  /** Number of days, ending on `endDay`; default 90. */
  days?: number;
  seed?: number;
}

export interface DemoHistoryResult {
  files: number;
  reports: number;
  records: number;
  messages: number;
}

// ---------------------------------------------------------------------------------------------
// Vocabulary

interface DkimResult {
  domain: string;
  selector: string;
  result: string;
  human?: string;
}

interface SpfResult {
  domain: string;
  result: string;
}

interface Reason {
  type: string;
  comment?: string;
}

/** One report row before it is split among reporters: who sent what, with which results. */
interface Traffic {
  headerFrom: string;
  envelopeFrom: string;
  dkim: DkimResult[];
  spf: SpfResult[];
  /** Evidence of forwarding that reporters who see ARC put in `policy_evaluated/reason`. */
  arcReason?: Reason;
}

interface Row extends Traffic {
  ip: string;
  count: number;
  envelopeTo?: string;
}

type Container = 'zip' | 'gzip' | 'xml';

interface Reporter {
  id: string;
  org: string;
  email: string;
  extraContact?: string;
  /** Domain used in the file name, as the receiver writes it. */
  fileOrg: string;
  /** Fraction of our recipients who read mail there (the rest are at receivers that do not report). */
  share: number;
  container: Container;
  rfc9990: boolean;
  /** Whether it reports SPF `<scope>` (required by RFC 7489; one reporter leaving it out shows the parser's warnings on the site). */
  spfScope: boolean;
  /** Whether it reports forwarding (ARC, a `forwarded` reason) as an override reason. */
  reportsForwarding: boolean;
  /** The recipient domain it reports as `envelope_to`, if any. */
  envelopeTo?: readonly string[];
  reportId: (rand: () => number, begin: number) => string;
}

const digits = (rand: () => number, n: number): string => {
  let text = String(1 + Math.floor(rand() * 9));
  while (text.length < n) text += String(Math.floor(rand() * 10));
  return text;
};
const hex = (rand: () => number, n: number): string => {
  let text = '';
  while (text.length < n) text += Math.floor(rand() * 16).toString(16);
  return text;
};

const REPORTERS: readonly Reporter[] = [
  {
    id: 'google',
    org: 'google.com',
    email: 'noreply-dmarc-support@google.com',
    extraContact: 'https://support.google.com/a/answer/2466580',
    fileOrg: 'google.com',
    share: 0.46,
    container: 'zip',
    rfc9990: false,
    spfScope: true,
    reportsForwarding: true,
    reportId: (rand) => digits(rand, 20),
  },
  {
    id: 'outlook',
    org: 'Enterprise Outlook',
    email: 'dmarcreport@microsoft.com',
    fileOrg: 'enterprise.protection.outlook.com',
    share: 0.27,
    container: 'gzip',
    rfc9990: false,
    spfScope: true,
    reportsForwarding: false,
    envelopeTo: ['outlook.com', 'hotmail.com'],
    reportId: (rand) => hex(rand, 32),
  },
  {
    id: 'yahoo',
    org: 'Yahoo',
    email: 'dmarchelp@yahooinc.com',
    fileOrg: 'yahoo.com',
    share: 0.12,
    container: 'gzip',
    rfc9990: false,
    spfScope: true,
    reportsForwarding: false,
    reportId: (rand, begin) => `${begin}.${digits(rand, 6)}`,
  },
  {
    id: 'mailru',
    org: 'Mail.Ru',
    email: 'dmarc_support@corp.mail.ru',
    extraContact: 'http://help.mail.ru/mail-help',
    fileOrg: 'mail.ru',
    share: 0.04,
    container: 'xml',
    rfc9990: false,
    spfScope: false,
    reportsForwarding: true,
    envelopeTo: ['mail.ru'],
    reportId: (rand) => digits(rand, 19),
  },
  {
    // The modern one: RFC 9990 schema (namespace, np, testing, discovery_method, disposition "pass").
    id: 'fastmail',
    org: 'Fastmail Pty Ltd',
    email: 'dmarc-reports@fastmail.com',
    extraContact: 'https://www.fastmail.com/',
    fileOrg: 'fastmail.com',
    share: 0.03,
    container: 'gzip',
    rfc9990: true,
    spfScope: true,
    reportsForwarding: true,
    reportId: (rand) => `${hex(rand, 8)}-${hex(rand, 4)}-4${hex(rand, 3)}-a${hex(rand, 3)}-${hex(rand, 12)}`,
  },
];

const reporter = (id: string): Reporter => REPORTERS.find((r) => r.id === id) as Reporter;

/** The policy as published on a given day (what receivers put in `policy_published`). */
interface Published {
  domain: string;
  p: string;
  sp: string;
  /** Effective np, which RFC 9990 reporters show (no np tag published: it follows sp). */
  np: string;
  adkim: 'r' | 's';
  aspf: 'r' | 's';
  testing: boolean;
}

// ---------------------------------------------------------------------------------------------
// Source IPs: real provider ranges, so offline enrichment names their AS (and the sender map the service).

const GOOGLE_IPS = [
  ...Array.from({ length: 12 }, (_, i) => `209.85.220.${41 + i * 3}`),
  ...Array.from({ length: 6 }, (_, i) => `209.85.128.${170 + i * 7}`),
  '2607:f8b0:4864:20::b2f',
  '2607:f8b0:4864:20::e31',
  '2607:f8b0:4864:20::c42',
];
const SES_IPS = [
  ...Array.from({ length: 6 }, (_, i) => `54.240.8.${20 + i * 11}`),
  ...Array.from({ length: 4 }, (_, i) => `54.240.27.${40 + i * 9}`),
  '23.251.226.5',
  '23.251.226.61',
];
const SENDGRID_IPS = [
  '167.89.12.34',
  '167.89.12.35',
  '167.89.101.78',
  '167.89.55.3',
  '149.72.100.5',
  '149.72.100.6',
  '149.72.154.232',
  '149.72.31.10',
];
const MAILCHIMP_IPS = ['198.2.128.10', '198.2.131.45', '198.2.180.3', '198.2.177.21', '205.201.128.5', '205.201.131.99'];
const GOOGLE_GROUPS_IPS = ['209.85.218.50', '209.85.218.51', '74.125.82.50'];
const MICROSOFT_IPS = ['40.107.22.55', '40.107.93.76', '2a01:111:f400:7e1a::1'];
/**
 * Mailbox providers whose AS numbers the sender map knows as forwarders (Yahoo, Apple, Proton,
 * Fastmail). Fastmail rewrites the envelope sender (SRS), so SPF passes for its own domain.
 */
const FORWARDERS: readonly { ip: string; srsDomain?: string }[] = [
  { ip: '74.6.128.10' },
  { ip: '66.163.185.5' },
  { ip: '17.58.63.10' },
  { ip: '17.57.155.1' },
  { ip: '185.70.40.101' },
  { ip: '103.168.172.150', srsDomain: 'messagingengine.com' },
];
const PRINTER_IPS = ['192.0.2.10', '2001:db8:10::25'];
/** Networks that spoofing often comes from (hosting and bulletproof ranges). */
const SPOOF_PREFIXES = ['185.220.101', '45.146.165', '5.188.206', '91.92.240', '193.32.162', '194.26.29', '141.98.10', '80.94.95'];
const SPOOF_DOMAINS = ['mailer-daemon.info', 'secure-notice.top', 'invoice-center.xyz', 'account-verify.click'];
const SES_SELECTOR = '6gbrjpgwjskckoa6a5zn6fwqkn67xbtw';

// ---------------------------------------------------------------------------------------------
// The generator

const DAY = 86_400;

export async function writeDemoHistory(dir: string, options: DemoHistoryOptions): Promise<DemoHistoryResult> {
  const days = options.days ?? 90;
  const end = Date.parse(`${options.endDay}T00:00:00Z`);
  if (!/^\d{4}-\d{2}-\d{2}$/.test(options.endDay) || Number.isNaN(end))
    throw new Error(`endDay must be an ISO date (YYYY-MM-DD), not ${JSON.stringify(options.endDay)}`);
  if (!Number.isInteger(days) || days < 1) throw new Error(`days must be a positive integer, not ${days}`);
  const rand = prng(options.seed ?? 1);
  const firstDay = end / 1000 - (days - 1) * DAY;
  const plan = planStory(days, rand);

  await mkdir(dir, { recursive: true });
  const result: DemoHistoryResult = { files: 0, reports: 0, records: 0, messages: 0 };
  for (let d = 0; d < days; d++) {
    const begin = firstDay + d * DAY;
    const reports = new Map<string, { reporter: Reporter; policy: Published; rows: Map<string, Row> }>();
    const emit = (rep: Reporter, policyDomain: string, row: Row): void => {
      if (row.count <= 0) return;
      const key = `${rep.id} ${policyDomain}`;
      let report = reports.get(key);
      if (report === undefined) {
        report = { reporter: rep, policy: publishedPolicy(policyDomain, d, plan), rows: new Map() };
        reports.set(key, report);
      }
      // A receiver aggregates identical rows: same IP, identifiers and results.
      const rowKey = JSON.stringify([row.ip, row.headerFrom, row.envelopeFrom, row.envelopeTo, row.dkim, row.spf, row.arcReason]);
      const same = report.rows.get(rowKey);
      if (same) same.count += row.count;
      else report.rows.set(rowKey, row);
    };
    dayTraffic(d, begin, plan, rand, emit);

    // Reporters and domains in a fixed order, so the output does not depend on Map insertion.
    for (const rep of REPORTERS) {
      for (const domain of ['example.com', 'mail.example.com', 'example.org']) {
        const report = reports.get(`${rep.id} ${domain}`);
        if (report === undefined) continue;
        const rows = [...report.rows.values()];
        const reportId = rep.reportId(rand, begin);
        const xml = reportXml(rep, report.policy, reportId, begin, begin + DAY - 1, rows);
        const base = `${rep.fileOrg}!${domain}!${begin}!${begin + DAY - 1}`;
        const bytes = new TextEncoder().encode(xml);
        if (rep.container === 'zip') {
          // A fixed mtime: zip entries carry one, and the output must not depend on the clock.
          await writeFile(join(dir, `${base}.zip`), zipSync({ [`${base}.xml`]: [bytes, { mtime: new Date((begin + DAY) * 1000) }] }));
        } else if (rep.container === 'gzip') {
          await writeFile(join(dir, `${base}.xml.gz`), gzipSync(bytes));
        } else {
          await writeFile(join(dir, `${base}.xml`), bytes);
        }
        result.files += 1;
        result.reports += 1;
        result.records += rows.length;
        for (const row of rows) result.messages += row.count;
      }
    }
  }
  return result;
}

// ---------------------------------------------------------------------------------------------
// The story's schedule

interface Burst {
  start: number;
  length: number;
  ips: string[];
  /** Messages per IP per day, roughly. */
  intensity: number;
  domains: string[];
}

interface StoryPlan {
  days: number;
  /** First day of example.com at p=quarantine; before it, p=none. */
  quarantineFrom: number;
  /** The three days SendGrid's DKIM key was broken. */
  sendgridBroken: Set<number>;
  /** First day marketing sent through Mailchimp. */
  mailchimpFrom: number;
  bursts: Burst[];
}

function planStory(days: number, rand: () => number): StoryPlan {
  const at = (fraction: number): number => Math.min(days - 1, Math.max(0, Math.floor(days * fraction)));
  const brokenStart = at(0.68);
  const bursts: Burst[] = [];
  const starts = [0.12, 0.37, 0.58, 0.86];
  starts.forEach((fraction, i) => {
    const ips = Array.from({ length: 5 + Math.floor(rand() * 12) }, () => spoofIp(rand));
    bursts.push({
      start: at(fraction + rand() * 0.05),
      length: 2 + Math.floor(rand() * 3),
      ips,
      intensity: 40 + Math.floor(rand() * 120),
      // The parked domain is spoofed in two of the four waves, next to the main one.
      domains: i % 2 === 0 ? ['example.com', 'example.org'] : ['example.com'],
    });
  });
  return {
    days,
    quarantineFrom: at(1 / 3),
    sendgridBroken: new Set([brokenStart, brokenStart + 1, brokenStart + 2].filter((d) => d < days)),
    mailchimpFrom: at(0.62),
    bursts,
  };
}

function spoofIp(rand: () => number): string {
  if (rand() < 0.6) {
    const prefix = SPOOF_PREFIXES[Math.floor(rand() * SPOOF_PREFIXES.length)] as string;
    return `${prefix}.${1 + Math.floor(rand() * 254)}`;
  }
  // Anywhere in public unicast space (first octets chosen to avoid private and reserved ranges).
  const firsts = [
    2, 5, 31, 37, 41, 46, 62, 77, 78, 79, 81, 82, 85, 87, 89, 92, 95, 103, 109, 112, 113, 117, 119, 125, 176, 177, 178, 179, 186, 187, 189,
    190, 200, 201, 212, 213, 217,
  ];
  const first = firsts[Math.floor(rand() * firsts.length)] as number;
  return `${first}.${Math.floor(rand() * 256)}.${Math.floor(rand() * 256)}.${1 + Math.floor(rand() * 254)}`;
}

function publishedPolicy(domain: string, day: number, plan: StoryPlan): Published {
  if (domain === 'example.com') {
    return day < plan.quarantineFrom
      ? { domain, p: 'none', sp: 'none', np: 'none', adkim: 'r', aspf: 'r', testing: false }
      : { domain, p: 'quarantine', sp: 'reject', np: 'reject', adkim: 'r', aspf: 'r', testing: true };
  }
  if (domain === 'mail.example.com') return { domain, p: 'reject', sp: 'reject', np: 'reject', adkim: 's', aspf: 'r', testing: false };
  return { domain, p: 'reject', sp: 'reject', np: 'reject', adkim: 'r', aspf: 'r', testing: false };
}

// ---------------------------------------------------------------------------------------------
// One day's traffic

type Emit = (rep: Reporter, policyDomain: string, row: Row) => void;

/** Weekday volume, weekends quieter; 0 = Sunday. */
function rhythm(begin: number, weekend: number): number {
  const weekday = new Date(begin * 1000).getUTCDay();
  return weekday === 0 || weekday === 6 ? weekend : 1;
}

function pickSome<T>(list: readonly T[], n: number, rand: () => number): T[] {
  const pool = [...list];
  const chosen: T[] = [];
  while (chosen.length < n && pool.length > 0) chosen.push(pool.splice(Math.floor(rand() * pool.length), 1)[0] as T);
  return chosen;
}

/**
 * Splits a day's volume among the reporters (by their share, with noise) and, within each report,
 * among a few of the stream's IPs (bigger volumes come from more IPs).
 */
function spread(
  total: number,
  ips: readonly string[],
  policyDomain: string,
  traffic: (ip: string) => Traffic,
  rand: () => number,
  emit: Emit,
  perIp = 120,
  reporters: readonly Reporter[] = REPORTERS,
): void {
  for (const rep of reporters) {
    const count = Math.round(total * rep.share * (0.8 + rand() * 0.4));
    if (count <= 0) continue;
    const n = Math.max(1, Math.min(ips.length, Math.round(count / perIp), 5));
    const chosen = pickSome(ips, n, rand);
    const weights = chosen.map(() => 0.3 + rand());
    const sum = weights.reduce((a, b) => a + b, 0);
    let left = count;
    chosen.forEach((ip, i) => {
      const part = i === chosen.length - 1 ? left : Math.min(left, Math.round((count * (weights[i] as number)) / sum));
      left -= part;
      emitRow(rep, policyDomain, ip, part, traffic(ip), rand, emit);
    });
  }
}

function emitRow(rep: Reporter, policyDomain: string, ip: string, count: number, traffic: Traffic, rand: () => number, emit: Emit): void {
  if (count <= 0) return;
  const row: Row = { ...traffic, ip, count };
  if (!rep.reportsForwarding) delete row.arcReason;
  if (rep.envelopeTo) row.envelopeTo = rep.envelopeTo[Math.floor(rand() * rep.envelopeTo.length)] as string;
  emit(rep, policyDomain, row);
}

const pass = (domain: string, selector: string): DkimResult => ({ domain, selector, result: 'pass' });
const spf = (domain: string, result: string): SpfResult => ({ domain, result });

function dayTraffic(d: number, begin: number, plan: StoryPlan, rand: () => number, emit: Emit): void {
  const noise = (): number => 0.85 + rand() * 0.3;
  const growth = 1 + (0.15 * d) / plan.days; // the organisation grows a little over the quarter
  const weekday = new Date(begin * 1000).getUTCDay();

  // Google Workspace: people's mail. DKIM and SPF aligned.
  spread(
    1600 * rhythm(begin, 0.16) * growth * noise(),
    GOOGLE_IPS,
    'example.com',
    () => ({
      headerFrom: 'example.com',
      envelopeFrom: 'example.com',
      dkim: [pass('example.com', 'google')],
      spf: [spf('example.com', 'pass')],
    }),
    rand,
    emit,
  );

  // Amazon SES: transactional mail (receipts, password resets). Its own bounce domain for SPF;
  // now and then a DNS timeout fetching our key (temperror) fails the only aligned signature.
  spread(
    460 * rhythm(begin, 0.8) * noise(),
    SES_IPS,
    'example.com',
    () => {
      const temperror = rand() < 0.035;
      return {
        headerFrom: 'example.com',
        envelopeFrom: 'us-east-1.amazonses.com',
        dkim: [
          temperror ? { domain: 'example.com', selector: 'ses2024', result: 'temperror' } : pass('example.com', 'ses2024'),
          pass('amazonses.com', SES_SELECTOR),
        ],
        spf: [spf('us-east-1.amazonses.com', 'pass')],
      };
    },
    rand,
    emit,
    150,
  );

  // news.example.com: the Thursday newsletter through SES, under example.com's sp.
  if (weekday === 4) {
    spread(
      2600 * noise(),
      SES_IPS,
      'example.com',
      () => ({
        headerFrom: 'news.example.com',
        envelopeFrom: 'us-east-1.amazonses.com',
        dkim: [pass('example.com', 'ses2024'), pass('amazonses.com', SES_SELECTOR)],
        spf: [spf('us-east-1.amazonses.com', 'pass')],
      }),
      rand,
      emit,
      400,
    );
  }

  // Office printers (scan-to-mail through the relay): the relay's key was never published and the
  // IPv6 path does not sign at all; neither address is in the SPF record.
  if (rhythm(begin, 0) > 0) {
    spread(
      34 * noise(),
      [PRINTER_IPS[0] as string],
      'example.com',
      () => ({
        headerFrom: 'example.com',
        envelopeFrom: 'example.com',
        dkim: [{ domain: 'example.com', selector: 'relay', result: 'fail' }],
        spf: [spf('example.com', 'softfail')],
      }),
      rand,
      emit,
      1000,
      REPORTERS.slice(0, 3),
    );
    spread(
      14 * noise(),
      [PRINTER_IPS[1] as string],
      'example.com',
      () => ({
        headerFrom: 'example.com',
        envelopeFrom: 'example.com',
        dkim: [],
        spf: [spf('example.com', 'softfail')],
      }),
      rand,
      emit,
      1000,
      REPORTERS.slice(0, 2),
    );
  }

  // SendGrid for mail.example.com: transactional daily, the newsletter on Tuesdays. Envelope on
  // sendgrid.net (no custom return path), so DMARC rests on DKIM alone: when the key broke, it failed.
  const broken = plan.sendgridBroken.has(d);
  spread(
    (260 + (weekday === 2 ? 5200 : 0)) * rhythm(begin, 0.7) * noise(),
    SENDGRID_IPS,
    'mail.example.com',
    () => ({
      headerFrom: 'mail.example.com',
      envelopeFrom: 'sendgrid.net',
      dkim: [
        broken
          ? { domain: 'mail.example.com', selector: 's1', result: 'fail', human: 'no key for signature' }
          : pass('mail.example.com', 's1'),
        pass('sendgrid.info', 'smtpapi'),
      ],
      spf: [spf('sendgrid.net', 'pass')],
    }),
    rand,
    emit,
    600,
    REPORTERS.filter((r) => r.id !== 'mailru'),
  ); // the newsletter has no Mail.Ru readers

  // Mailing lists (Google Groups) rewrite the subject: our signature breaks, the list signs and
  // SPF passes for the list. Shown at the receivers that report ARC: elsewhere nothing would tell
  // it from a broken Google Workspace signature.
  spread(
    70 * rhythm(begin, 0.3) * noise(),
    GOOGLE_GROUPS_IPS,
    'example.com',
    () => ({
      headerFrom: 'example.com',
      envelopeFrom: 'googlegroups.com',
      dkim: [{ domain: 'example.com', selector: 'google', result: 'fail' }, pass('googlegroups.com', '20230601')],
      spf: [spf('googlegroups.com', 'pass')],
      arcReason: { type: 'local_policy', comment: 'arc=pass as[1].d=google.com as[1].s=arc-20240605' },
    }),
    rand,
    emit,
    60,
    [reporter('google'), reporter('fastmail')],
  );

  // Forwarding at Microsoft 365 tenants (a footer breaks the body hash); Google sees ARC.
  spread(
    30 * rhythm(begin, 0.4) * noise(),
    MICROSOFT_IPS,
    'example.com',
    () => ({
      headerFrom: 'example.com',
      envelopeFrom: 'example.com',
      dkim: [{ domain: 'example.com', selector: 'google', result: 'fail' }],
      spf: [spf('example.com', 'softfail')],
      arcReason: { type: 'local_policy', comment: 'arc=pass as[2].d=microsoft.com as[2].s=arcselector10001' },
    }),
    rand,
    emit,
    60,
    [reporter('google')],
  );

  // Personal forwarding at mailbox providers (Yahoo, iCloud, Proton, Fastmail) to Gmail and
  // Outlook users: usually our signature survives (compliant), sometimes not (forwarded).
  for (const forwarder of FORWARDERS) {
    if (rand() < 0.35) continue;
    for (const rep of [reporter('google'), reporter('outlook')]) {
      const envelopeFrom = forwarder.srsDomain ?? 'example.com';
      const spfResult = spf(envelopeFrom, forwarder.srsDomain ? 'pass' : 'softfail');
      emitRow(
        rep,
        'example.com',
        forwarder.ip,
        Math.round(rand() * 18 * rhythm(begin, 0.5)),
        {
          headerFrom: 'example.com',
          envelopeFrom,
          dkim: [pass('example.com', 'google')],
          spf: [spfResult],
        },
        rand,
        emit,
      );
      emitRow(
        rep,
        'example.com',
        forwarder.ip,
        Math.round(rand() * 9),
        {
          headerFrom: 'example.com',
          envelopeFrom,
          dkim: [{ domain: 'example.com', selector: 'google', result: 'fail' }],
          spf: [spfResult],
          ...(rep.id === 'google' && rand() < 0.5 ? { arcReason: { type: 'local_policy', comment: 'arc=pass' } } : {}),
        },
        rand,
        emit,
      );
    }
  }
  // Mail.Ru names forwarding as such (the RFC 7489 reason type).
  if (rand() < 0.5) {
    emitRow(
      reporter('mailru'),
      'example.com',
      '94.100.180.10',
      1 + Math.floor(rand() * 6),
      {
        headerFrom: 'example.com',
        envelopeFrom: 'example.com',
        dkim: [{ domain: 'example.com', selector: 'google', result: 'fail' }],
        spf: [spf('example.com', 'fail')],
        arcReason: { type: 'forwarded' },
      },
      rand,
      emit,
    );
  }

  // Mailchimp: marketing's campaigns (Wednesdays, from the day they signed up), signed by Mailchimp
  // only and bounced to its own domain. Not declared: unauthorised, from a named service.
  if (d >= plan.mailchimpFrom && (weekday === 3 || d === plan.mailchimpFrom)) {
    spread(
      1900 * noise(),
      MAILCHIMP_IPS,
      'example.com',
      (ip) => ({
        headerFrom: 'example.com',
        envelopeFrom: `mail${ip.split('.')[3]}.atl${ip.split('.')[2]}.mcsv.net`,
        dkim: [pass('mcsv.net', 'k2'), pass('mailchimpapp.net', 'k3')],
        spf: [spf(`mail${ip.split('.')[3]}.atl${ip.split('.')[2]}.mcsv.net`, 'pass')],
      }),
      rand,
      emit,
      500,
    );
  }

  // Spoofing: a daily trickle, and bursts from a set of hosts for a few days.
  const spoofTraffic = (headerFrom: string): Traffic => {
    const envelope = rand() < 0.5 ? headerFrom : (SPOOF_DOMAINS[Math.floor(rand() * SPOOF_DOMAINS.length)] as string);
    const dkim =
      rand() < 0.3
        ? [{ domain: SPOOF_DOMAINS[Math.floor(rand() * SPOOF_DOMAINS.length)] as string, selector: 'default', result: 'pass' }]
        : [];
    return {
      headerFrom,
      envelopeFrom: envelope,
      dkim,
      spf: [spf(envelope, envelope === headerFrom ? (rand() < 0.7 ? 'fail' : 'softfail') : rand() < 0.5 ? 'pass' : 'none')],
    };
  };
  for (let i = 0; i < 2 + Math.floor(rand() * 3); i++) {
    const rep = REPORTERS[Math.floor(rand() * 3)] as Reporter;
    emitRow(rep, 'example.com', spoofIp(rand), 1 + Math.floor(rand() * 4), spoofTraffic('example.com'), rand, emit);
  }
  if (rand() < 0.4)
    emitRow(
      REPORTERS[Math.floor(rand() * 2)] as Reporter,
      'example.org',
      spoofIp(rand),
      1 + Math.floor(rand() * 3),
      spoofTraffic('example.org'),
      rand,
      emit,
    );
  for (const burst of plan.bursts) {
    if (d < burst.start || d >= burst.start + burst.length) continue;
    for (const domain of burst.domains) {
      for (const ip of burst.ips) {
        // Phishing copies the newsletter's look too: some of it claims to be news.example.com (sp applies).
        const headerFrom = domain === 'example.com' && rand() < 0.25 ? 'news.example.com' : domain;
        const total = Math.round(burst.intensity * (domain === 'example.org' ? 0.4 : 1) * (0.3 + rand() * 1.4));
        for (const rep of REPORTERS)
          if (rand() < 0.75) emitRow(rep, domain, ip, Math.round(total * rep.share * 2), spoofTraffic(headerFrom), rand, emit);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// XML

const escapeXml = (text: string): string => text.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);

function aligned(row: Row, policy: Published): { dkim: boolean; spf: boolean } {
  return {
    dkim: row.dkim.some((sig) => sig.result === 'pass' && domainsAligned(sig.domain, row.headerFrom, policy.adkim)),
    spf: row.spf.some((r) => r.result === 'pass' && domainsAligned(r.domain, row.headerFrom, policy.aspf)),
  };
}

const STEP_DOWN: Record<string, string> = { reject: 'quarantine', quarantine: 'none', none: 'none' };

/** What the receiver did: the applicable policy, one step less in test mode (RFC 9990 receivers only), none when ARC vouched. */
function disposition(rep: Reporter, policy: Published, row: Row, passes: boolean): { disposition: string; reason?: Reason } {
  if (passes) return { disposition: rep.rfc9990 ? 'pass' : 'none' };
  const applied = row.headerFrom === policy.domain ? policy.p : policy.sp;
  if (row.arcReason) return { disposition: 'none', reason: row.arcReason };
  if (policy.testing && rep.rfc9990 && applied !== 'none')
    return { disposition: STEP_DOWN[applied] as string, reason: { type: 'policy_test_mode' } };
  return { disposition: applied };
}

function reportXml(rep: Reporter, policy: Published, reportId: string, begin: number, end: number, rows: readonly Row[]): string {
  const out: string[] = [];
  out.push('<?xml version="1.0" encoding="UTF-8"?>');
  if (rep.rfc9990) out.push('<feedback xmlns="urn:ietf:params:xml:ns:dmarc-2.0">', '  <version>1.0</version>');
  else out.push('<feedback>');
  out.push('  <report_metadata>', `    <org_name>${escapeXml(rep.org)}</org_name>`, `    <email>${escapeXml(rep.email)}</email>`);
  if (rep.extraContact) out.push(`    <extra_contact_info>${escapeXml(rep.extraContact)}</extra_contact_info>`);
  out.push(
    `    <report_id>${escapeXml(reportId)}</report_id>`,
    '    <date_range>',
    `      <begin>${begin}</begin>`,
    `      <end>${end}</end>`,
    '    </date_range>',
  );
  if (rep.rfc9990) out.push('    <generator>Fastmail DMARC reporter 2.3</generator>');
  out.push('  </report_metadata>', '  <policy_published>', `    <domain>${policy.domain}</domain>`);
  if (rep.rfc9990) {
    out.push(
      `    <p>${policy.p}</p>`,
      `    <sp>${policy.sp}</sp>`,
      `    <np>${policy.np}</np>`,
      `    <adkim>${policy.adkim}</adkim>`,
      `    <aspf>${policy.aspf}</aspf>`,
    );
    out.push('    <discovery_method>treewalk</discovery_method>', `    <testing>${policy.testing ? 'y' : 'n'}</testing>`);
  } else {
    out.push(
      `    <adkim>${policy.adkim}</adkim>`,
      `    <aspf>${policy.aspf}</aspf>`,
      `    <p>${policy.p}</p>`,
      `    <sp>${policy.sp}</sp>`,
      '    <pct>100</pct>',
    );
  }
  out.push('  </policy_published>');
  for (const row of rows) {
    const alignment = aligned(row, policy);
    const applied = disposition(rep, policy, row, alignment.dkim || alignment.spf);
    out.push(
      '  <record>',
      '    <row>',
      `      <source_ip>${row.ip}</source_ip>`,
      `      <count>${row.count}</count>`,
      '      <policy_evaluated>',
    );
    out.push(
      `        <disposition>${applied.disposition}</disposition>`,
      `        <dkim>${alignment.dkim ? 'pass' : 'fail'}</dkim>`,
      `        <spf>${alignment.spf ? 'pass' : 'fail'}</spf>`,
    );
    if (applied.reason) {
      out.push('        <reason>', `          <type>${applied.reason.type}</type>`);
      if (applied.reason.comment) out.push(`          <comment>${escapeXml(applied.reason.comment)}</comment>`);
      out.push('        </reason>');
    }
    out.push('      </policy_evaluated>', '    </row>', '    <identifiers>');
    if (row.envelopeTo) out.push(`      <envelope_to>${row.envelopeTo}</envelope_to>`);
    out.push(
      `      <envelope_from>${row.envelopeFrom}</envelope_from>`,
      `      <header_from>${row.headerFrom}</header_from>`,
      '    </identifiers>',
      '    <auth_results>',
    );
    for (const sig of row.dkim) {
      out.push(
        '      <dkim>',
        `        <domain>${sig.domain}</domain>`,
        `        <selector>${sig.selector}</selector>`,
        `        <result>${sig.result}</result>`,
      );
      if (sig.human && rep.rfc9990) out.push(`        <human_result>${escapeXml(sig.human)}</human_result>`);
      out.push('      </dkim>');
    }
    for (const r of row.spf) {
      out.push('      <spf>', `        <domain>${r.domain}</domain>`);
      if (rep.spfScope) out.push('        <scope>mfrom</scope>');
      out.push(`        <result>${r.result}</result>`, '      </spf>');
    }
    out.push('    </auth_results>', '  </record>');
  }
  out.push('</feedback>', '');
  return out.join('\n');
}
