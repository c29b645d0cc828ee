/**
 * The site stage's contract: what the build-time rollups (./rollups.ts) hand to the Astro pages
 * (site/). Plain JSON-serialisable data, small enough to embed in a page: no page ever ships the
 * dataset's rows, only these sums.
 *
 * Time series are sparse: a `SeriesRow` per day with volume, the day given as an index into
 * `SiteData.days` (UTC days, oldest first). Summing the rows whose index falls in a window gives every
 * figure a page shows for that window, so the browser can switch windows without new data.
 */
import type { Category } from '../reports/classify.ts';

/** A window a page can show: a preset (days ending on the last day of data) or everything. */
export type WindowPreset = '7d' | '30d' | '90d' | '365d' | 'all';
export const WINDOW_PRESETS: readonly WindowPreset[] = ['7d', '30d', '90d', '365d', 'all'];
export const DEFAULT_WINDOW: WindowPreset = '30d';

/**
 * One day's sums (messages) for one thing (a domain, a source, an IP, a reporter…):
 * `[dayIndex, compliant, forwarded, authorisedFailing, unauthorised, spfAligned, dkimAligned, quarantined, rejected]`.
 * Messages = compliant + forwarded + authorisedFailing + unauthorised (the categories partition the volume);
 * DMARC pass = compliant. `quarantined`/`rejected` are the dispositions receivers applied.
 */
export type SeriesRow = [
  day: number,
  compliant: number,
  forwarded: number,
  authorisedFailing: number,
  unauthorised: number,
  spfAligned: number,
  dkimAligned: number,
  quarantined: number,
  rejected: number,
];

/** Positions in a `SeriesRow`, for code that sums them. */
export const SERIES = {
  day: 0,
  compliant: 1,
  forwarded: 2,
  authorisedFailing: 3,
  unauthorised: 4,
  spfAligned: 5,
  dkimAligned: 6,
  quarantined: 7,
  rejected: 8,
} as const;

/** Several sparse series summed by day (e.g. a capped list's row for the rest, all domains' days). */
export function sumSeriesByDay(all: readonly (readonly SeriesRow[])[]): SeriesRow[] {
  const byDay = new Map<number, SeriesRow>();
  for (const series of all) {
    for (const row of series) {
      const into = byDay.get(row[0]);
      if (into === undefined) byDay.set(row[0], [...row]);
      else for (let i = 1; i < row.length; i++) into[i] = (into[i] as number) + (row[i] as number);
    }
  }
  return [...byDay.values()].sort((a, b) => a[0] - b[0]);
}

/** Which category each series position holds, in `CATEGORIES` order. */
export const CATEGORY_POSITIONS: Record<Category, number> = {
  compliant: SERIES.compliant,
  forwarded: SERIES.forwarded,
  'authorised-failing': SERIES.authorisedFailing,
  unauthorised: SERIES.unauthorised,
};

/** The policy a domain file defines (after defaults), as the record it publishes. */
export interface DefinedPolicy {
  p: string;
  sp: string | null;
  np: string | null;
  adkim: string;
  aspf: string;
  testing: boolean;
  pct: number | null;
  /** The `_dmarc` TXT value the repository publishes (scripts/policy/record.ts). */
  record: string;
  /** Repository path of the domain file, e.g. `domains/example.com.yaml`. */
  file: string;
  parked: boolean;
}

/** A policy as receivers reported it (`policy_published`), most recent first. */
export interface ReportedPolicy {
  p: string | null;
  sp: string | null;
  np: string | null;
  adkim: string | null;
  aspf: string | null;
  pct: number | null;
  testing: string | null;
  /** The last UTC day a report carried exactly this policy (ISO date). */
  lastSeen: string;
  reports: number;
}

/** The record found in DNS at build time, when the build was allowed to look (`liveDns`). */
export interface PublishedRecord {
  /** The TXT value(s) at `_dmarc.<domain>`; empty when none. */
  values: string[];
  /** `ok`, or why the lookup gave no answer (`nxdomain`, `timeout`, `error: …`). */
  status: string;
  checkedAt: string;
}

/** A group of sending IPs shown as one row: a declared sender, a named service, a PTR base domain, or a bare IP. */
export interface SourceGroup {
  /** Stable identifier, safe in a URL fragment: `sender:<name>`, `service:<name>`, `base:<domain>`, `ip:<ip>`, or `other`. */
  key: string;
  /** What the table shows, e.g. "Google Workspace", "mail.example.net", "192.0.2.7" (redacted builds: "redacted (AS64500 EXAMPLE, DE)"). */
  label: string;
  /** Service type from the sender map (e.g. "email provider", "ESP"), null when unknown. */
  type: string | null;
  /** The domain file's `senders:` entry this group was matched to, null when undeclared. */
  declaredSender: string | null;
  /** How to fix the group's failing mail (authorised-but-failing traffic), from classify's hints; null when nothing to fix. */
  hint: string | null;
  /** First and last UTC day with volume, over the whole dataset (ISO). */
  firstSeen: string;
  lastSeen: string;
  series: SeriesRow[];
  /**
   * The drill-down rows (at most `SiteOptions.ipsPerSource`), with their own series: the top IP
   * addresses, or in redacted builds the top networks (AS and country) with how many addresses each.
   */
  ips: SourceIp[];
  /** Drill-down rows beyond the top ones, counted. */
  moreIps: number;
  /** Distinct IP addresses of the group (all of them, listed or not). */
  addresses: number;
}

/** A drill-down row: one IP address, or (redacted builds) one network of `addresses` addresses. */
export interface SourceIp {
  /** The address; null in redacted builds. */
  ip: string | null;
  /** Its PTR name; null when there is none and in redacted builds. */
  ptr: string | null;
  /** 1 for an address; the addresses of the network in redacted builds. */
  addresses: number;
  asn: number | null;
  asName: string | null;
  country: string | null;
  series: SeriesRow[];
}

/**
 * A receiver that sends reports, as its reports name it (`org_name`: anyone can mail a report, so
 * this is a claim, not an identity).
 */
export interface Reporter {
  org: string;
  /** `org_email`; null in redacted builds. */
  email: string | null;
  /** Its reports for this domain (all data). */
  reports: number;
  /** UTC day (ISO) its first report for any of our domains was received (ingested), not the day the report claims. */
  firstSeen: string;
  /** First received within the last `NEW_REPORTER_DAYS` (and not with the dataset's first reports): see ./readiness.ts. */
  new: boolean;
  series: SeriesRow[];
  /** Its reports per day (`[dayIndex, reports]`, by the day the report begins), for any window's count. */
  reportDays: [day: number, reports: number][];
  /**
   * Only on the row that sums the reporters beyond the listed ones (`org` "Other reporters (N)"): how
   * many it sums, and how many of them are new (all data).
   */
  others?: { reporters: number; new: number };
}

/** A RFC5322.From domain seen in reports for one of our domains, and the policy that applies to it. */
export interface HeaderFromRow {
  domain: string;
  /** `own` (its own domain file), `sp`/`np` (inherited from the organisational domain's file), or `none`. */
  applies: 'own' | 'sp' | 'np' | 'p' | 'none';
  /** The disposition that applies (none/quarantine/reject), null when no policy applies. */
  disposition: string | null;
  explanation: string;
  series: SeriesRow[];
  /** Only on the row that sums the From domains beyond the listed ones: how many it sums. */
  others?: number;
}

/** An authentication result seen on failing traffic (not DMARC pass), per signature / SPF check. */
export interface AuthDetail {
  kind: 'dkim' | 'spf';
  domain: string;
  /** DKIM selector or SPF scope. */
  qualifier: string | null;
  result: string;
  /** Whether the domain is aligned with the From domain (under the reported adkim/aspf). */
  aligned: boolean;
  /** Messages on failing rows that carried this result (a message with two signatures counts in both). */
  series: SeriesRow[];
}

export type ReadinessVerdict = 'enforced' | 'ready-reject' | 'ready-quarantine' | 'not-ready' | 'no-data';

/** A reporter whose reports the readiness window holds, with how much. */
export interface ReadinessReporter {
  org: string;
  reports: number;
  messages: number;
  firstSeen: string;
  new: boolean;
  /** Only on the row that sums the reporters beyond the listed ones: how many it sums, and how many of them are new. */
  others?: { reporters: number; new: number };
}

export interface Readiness {
  verdict: ReadinessVerdict;
  /** One-line summary, e.g. "Ready for p=reject: 99.8% of your own mail passes". */
  summary: string;
  /** The facts behind it, each a sentence. */
  reasons: string[];
  /** The next step to take in the domain file, when there is one. */
  nextStep: string | null;
  /** The window the verdict looked at (the last `days` days of data). */
  days: number;
  /** Where the window's figures come from: every reporter with reports in it, by messages. */
  reporters: ReadinessReporter[];
  /**
   * When counting the new reporters' data gives another verdict than leaving it out: the verdict not
   * shown (the one shown is the more cautious of the two), and the new reporters that move it.
   */
  moved: MovedVerdict | null;
}

export interface MovedVerdict<V extends string = ReadinessVerdict> {
  /** `with`: the verdict counting the new reporters (not shown, it is the bolder one); `without`: the verdict leaving them out. */
  counting: 'with' | 'without';
  verdict: V;
  summary: string;
  /** The new reporters that move it (each alone, else all of them together), by messages. */
  by: { org: string; firstSeen: string }[];
}

export interface DomainData {
  domain: string;
  defined: DefinedPolicy;
  reported: ReportedPolicy[];
  published: PublishedRecord | null;
  /** Daily sums for the domain (its reports' rows), dense enough to chart. */
  daily: SeriesRow[];
  sources: SourceGroup[];
  /** Sources beyond the top ones, summed into one `other` group (null when none). */
  otherSources: SourceGroup | null;
  /** The top reporters (of all data and of the last 30 days), then one row that sums the rest, if any. */
  reporters: Reporter[];
  /** The top From domains (of all data and of the last 30 days), then one row that sums the rest, if any. */
  headerFrom: HeaderFromRow[];
  /** The failing authentication results with the most messages (all data). */
  authDetails: AuthDetail[];
  /** Failing authentication results beyond the listed ones (all data). */
  moreAuthDetails: number;
  readiness: Readiness;
  /**
   * SMTP TLS reporting (RFC 8460) and MTA-STS (RFC 8461) for mail *to* the domain; null when the domain
   * file has neither `mta_sts` nor `tls_reports` and no TLS report names it.
   */
  tls: TlsData | null;
}

// ---------------------------------------------------------------------------------------------
// TLS (SMTP TLS reports, RFC 8460; MTA-STS, RFC 8461)

/**
 * One day of TLS sessions (the reports' summaries): `[dayIndex, successful, failed]`. Sparse like
 * `SeriesRow`: summing the rows of a window gives its figures.
 */
export type TlsDayRow = [day: number, successful: number, failed: number];
/** One day of failed sessions (failure details): `[dayIndex, failed]`. */
export type TlsFailRow = [day: number, failed: number];

/** The MTA-STS policy a domain file defines (`mta_sts`), as it is published. */
export interface TlsDefinedPolicy {
  mode: string;
  /** MX patterns, as the policy file lists them (sorted, lower case). */
  mx: string[];
  maxAge: number;
  /** The id published in `_mta-sts` (derived from the file, or `mta_sts.id`). */
  id: string;
  /** The policy file as served (lines end in CRLF). */
  policyFile: string;
}

/** A failure type (`result-type`) with its failed sessions per day. */
export interface TlsFailureType {
  /** As reported, lower case (RFC 8460 §4.3 defines eleven; others are kept). */
  type: string;
  series: TlsFailRow[];
}

/**
 * A sending organisation: in a TLS report the reporter *is* the sender (RFC 8460 §4.4
 * `organization-name`): the mail system that tried to deliver to our MX hosts.
 */
export interface TlsOrganisation {
  org: string;
  /** 1, or for the row that sums the organisations beyond the listed ones, how many it sums. */
  organisations: number;
  /** `contact-info`; null in redacted builds. */
  email: string | null;
  /** Its TLS reports for this domain (all data). */
  reports: number;
  /** UTC day (ISO) its first TLS report was received (ingested). */
  firstSeen: string;
  /** New by the site's rule (./readiness.ts isNewReporter), counted over TLS reports. */
  new: boolean;
  /** Sessions per day (its summaries). */
  series: TlsDayRow[];
  /** Reports per day (`[dayIndex, reports]`). */
  reportDays: [day: number, reports: number][];
}

/** One of our MX hosts as the failure details name it, with its failed sessions. */
export interface TlsMxHost {
  host: string;
  /** Whether the repository's `mta_sts.mx` patterns cover it; null when the repository has no policy. */
  inPolicy: boolean | null;
  series: TlsFailRow[];
}

/** A failure detail as reported, grouped: who, what, where. Free text is the sender's word (untrusted). */
export interface TlsFailureDetail {
  org: string;
  type: string;
  /** `receiving-mx-hostname`. */
  mx: string | null;
  /** `sending-mta-ip`: the sender's MTA; null in redacted builds (and when not reported). */
  sendingIp: string | null;
  /** `failure-reason-code`. */
  reasonCode: string | null;
  /** `additional-information` (clipped; addresses scrubbed in redacted builds). */
  info: string | null;
  series: TlsFailRow[];
}

/** A policy the senders reported they saw (`policy-type`, `policy-string`), all data. */
export interface TlsPolicySeen {
  /** `sts`, `tlsa`, `no-policy-found` (others as reported). */
  type: string;
  /** The policy domain it was reported for (a subdomain without a domain file of its own is shown under its parent). */
  policyDomain: string;
  /** For `sts`: what its policy string says (null when it does not say). */
  mode: string | null;
  mx: string[];
  maxAge: number | null;
  /** The policy string as reported, line by line (clipped). */
  lines: string[];
  /** Whether it is the repository's current policy: `same`, `differs`, or `n/a` (not an MTA-STS policy of the domain itself, or no repository policy). */
  vsRepository: 'same' | 'differs' | 'n/a';
  reports: number;
  /** Sessions reported under it (successful + failed). */
  sessions: number;
  firstSeen: string;
  lastSeen: string;
}

/** The repository's policy against the one senders saw, in a sentence or two. */
export interface TlsPolicyComparison {
  /**
   * `match` (senders see the repository's policy), `changing` (some still hold the previous one,
   * within its max_age), `stale` (an older policy seen longer than its max_age allows), `differs`
   * (senders never saw the repository's policy), `not-seen` (senders found no policy), `not-defined`
   * (the repository has none), `no-data`.
   */
  status: 'match' | 'changing' | 'stale' | 'differs' | 'not-seen' | 'not-defined' | 'no-data';
  summary: string;
  details: string[];
}

export type TlsVerdict = 'enforced' | 'ready-enforce' | 'not-ready' | 'no-data' | 'no-policy' | 'withdrawn';

/** A reporter behind the TLS readiness window. */
export interface TlsReadinessReporter {
  org: string;
  reports: number;
  sessions: number;
  firstSeen: string;
  new: boolean;
}

/** Readiness to move MTA-STS from testing to enforce (./tls-readiness.ts). */
export interface TlsReadiness {
  verdict: TlsVerdict;
  summary: string;
  reasons: string[];
  nextStep: string | null;
  /** The window the verdict looked at (the last `days` days of data). */
  days: number;
  reporters: TlsReadinessReporter[];
  moved: MovedVerdict<TlsVerdict> | null;
}

export interface TlsData {
  /** The repository's MTA-STS policy; null without `mta_sts`. */
  defined: TlsDefinedPolicy | null;
  /** `tls_reports` as URIs (the `_smtp._tls` rua); empty without it. */
  reportTo: string[];
  /** The `_smtp._tls` TXT value the repository publishes; null without `tls_reports`. */
  tlsRptRecord: string | null;
  /** Sessions per day over every policy type (summaries). */
  daily: TlsDayRow[];
  failureTypes: TlsFailureType[];
  organisations: TlsOrganisation[];
  mxHosts: TlsMxHost[];
  /** The top failure details (of all data and of the last 30 days); the rest summed in `otherDetails`. */
  details: TlsFailureDetail[];
  otherDetails: TlsFailRow[];
  policies: TlsPolicySeen[];
  comparison: TlsPolicyComparison;
  readiness: TlsReadiness;
}

/** One ingested report (the Reports page). */
export interface ReportSummary {
  key: string;
  org: string;
  reportId: string;
  domain: string;
  begin: string;
  end: string;
  records: number;
  messages: number;
  /** DMARC-passing messages. */
  passing: number;
  /** The first warnings and errors (clipped); `moreWarnings` and `moreErrors` count the rest. */
  warnings: { code: string; message: string }[];
  moreWarnings: number;
  errors: string[];
  moreErrors: number;
  schema: string;
  /** Whether the site has a detail page for it (the newest `SiteOptions.reportPages` reports do). */
  hasPage: boolean;
}

/** The rows of one report, for its detail page. */
export interface ReportDetail extends ReportSummary {
  email: string | null;
  generator: string | null;
  policy: ReportedPolicy;
  /** The first rows of the report (`records` counts them all): see REPORT_ROWS in ./rollups/reports.ts. */
  rows: ReportRow[];
}

export interface ReportRow {
  /** The source IP; "redacted" in redacted builds. */
  sourceIp: string;
  /** The PTR name; null when none and in redacted builds. */
  ptr: string | null;
  /** The network of the source IP (what redacted builds show instead of it). */
  asn: number | null;
  asName: string | null;
  country: string | null;
  count: number;
  disposition: string | null;
  headerFrom: string | null;
  envelopeFrom: string | null;
  dkim: string;
  spf: string;
  dkimAligned: boolean;
  spfAligned: boolean;
  category: Category;
}

/** The ledger's story (Reports page): what came in and what happened to it. */
export interface LedgerSummary {
  /** Inputs per outcome (stored, duplicate, foreign, invalid, unsupported). */
  outcomes: Record<string, number>;
  /** The most recent inputs that were not stored, newest first. */
  setAside: { at: string; outcome: string; source: string; reason: string | null }[];
}

/** A summary period (the seed product's weekly / daily tallies). */
export interface PeriodRow {
  /** First and last UTC day (ISO). */
  start: string;
  end: string;
  messages: number;
  compliant: number;
  forwarded: number;
  authorisedFailing: number;
  unauthorised: number;
  /** Change in messages vs the previous period (fraction, e.g. 0.12 = +12%), null when there is none. */
  change: number | null;
  /** Sources first seen in this period (label, domain, messages), largest first. */
  newSources: { label: string; domain: string; messages: number }[];
  /** Sources with failing mail (authorised-failing or unauthorised) in this period, largest first. */
  failingSources: { label: string; domain: string; messages: number; category: Category }[];
}

export interface SiteData {
  /** When the rollups were computed (ISO timestamp). */
  builtAt: string;
  /** Last UTC day with data (ISO), null for an empty dataset. */
  dataThrough: string | null;
  /** Every UTC day from the first to the last day of data (ISO), what `SeriesRow[0]` indexes. */
  days: string[];
  /** IP addresses, host names and e-mail addresses left out (the default; see ./redact.ts). */
  redacted: boolean;
  domains: DomainData[];
  reports: ReportSummary[];
  ledger: LedgerSummary;
  summary: { daily: PeriodRow[]; weekly: PeriodRow[]; monthly: PeriodRow[] };
  /** Reports set aside as foreign (not ours), counted (never charted). */
  foreignReports: number;
}

export interface SiteOptions {
  /** Dataset root (`reports/`). */
  dataDir: string;
  /** Domain files (`domains/`). */
  domainsDir: string;
  /**
   * Show IP addresses, PTR names and reporters' e-mail addresses. Default false: a build redacts them
   * (./redact.ts), because a GitHub Pages site on a free plan is public.
   */
  showAddresses?: boolean;
  /** Look up each domain's `_dmarc` TXT at build (network). Default false. */
  liveDns?: boolean;
  /** Source groups listed per domain: the top N of all data and of each preset window (so at most 5N); the rest are summed into "other". Default 40. */
  sourcesPerDomain?: number;
  /** IPs listed under each source group. Default 10. */
  ipsPerSource?: number;
  /** Newest reports that get a detail page. Default 1,000 (a big report's page is ~100 KB: GitHub Pages caps a site at 1 GB). */
  reportPages?: number;
  /** Clock, for tests. */
  now?: () => Date;
}

/** What `openSiteData` (./rollups.ts) returns: the rollups, and the rows of single reports on demand. */
export interface SiteDataSource {
  data: SiteData;
  /** The rows of the given reports (detail pages), in the order of `keys`; unknown keys are skipped. */
  reportDetails(keys: readonly string[]): Promise<ReportDetail[]>;
  close(): void;
}

/**
 * How the Astro build is told what to build (environment variables, set by scripts/site/build.ts;
 * read by site/src/lib/data.ts and site/astro.config.mjs).
 */
export const SITE_ENV = {
  dataDir: 'DMARCOPS_DATA',
  domainsDir: 'DMARCOPS_DOMAINS',
  base: 'DMARCOPS_SITE_BASE',
  siteUrl: 'DMARCOPS_SITE_URL',
  outDir: 'DMARCOPS_SITE_OUT',
  /** "1" to show addresses (`--show-addresses`, `--private`); anything else redacts them. */
  showAddresses: 'DMARCOPS_SHOW_ADDRESSES',
  liveDns: 'DMARCOPS_LIVE_DNS',
  /** "public" or "private": whether to show the public-site banner (default public: free Pages sites are). */
  visibility: 'DMARCOPS_SITE_VISIBILITY',
  /** The repository (owner/name) for "propose a change" links; GITHUB_REPOSITORY in Actions. */
  repository: 'DMARCOPS_REPOSITORY',
} as const;
