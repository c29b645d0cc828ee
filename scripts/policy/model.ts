/**
 * The policy stage's vocabulary: what a domain file means once it is loaded, defaults merged and
 * validated (`DomainPolicy`), and what a DMARC TXT record says tag by tag (`DmarcRecord`).
 * Later stages (dns, reports, site) import these types and nothing else from the YAML layer.
 */

export type Disposition = 'none' | 'quarantine' | 'reject';
export type AlignmentMode = 'r' | 's';
/** RFC 9989 `psd`: y = this is a public suffix domain, n = this is an organizational domain, u = unknown. */
export type PsdFlag = 'y' | 'n' | 'u';

/** Size limit suffix on a report URI (`!10m`): obsolete in RFC 9989, still read by RFC 7489 receivers. */
export interface SizeLimit {
  /** As written after the `!`, e.g. `10m`. */
  raw: string;
  /** The limit in bytes (units are powers of two); `null` when the suffix does not parse. */
  bytes: bigint | null;
}

export interface ReportUri {
  /** The URI as published, e.g. `mailto:dmarc@example.com` (commas and `!` percent-encoded). */
  uri: string;
  size?: SizeLimit;
}

/** One DMARC record, tag by tag, as published or as dmarcops will publish it. */
export interface DmarcRecord {
  p?: Disposition;
  sp?: Disposition;
  np?: Disposition;
  adkim?: AlignmentMode;
  aspf?: AlignmentMode;
  pct?: number;
  t?: 'y' | 'n';
  psd?: PsdFlag;
  rua?: ReportUri[];
  ruf?: ReportUri[];
  fo?: string;
  rf?: string;
  ri?: number;
}

export type DnsProviderName = 'cloudflare' | 'powerdns' | 'rfc2136' | 'manual';

export interface DnsTarget {
  provider: DnsProviderName;
  /** The zone (as the provider knows it) that holds `_dmarc.<domain>`. */
  zone: string;
  ttl: number;
}

export interface DkimSigner {
  domain: string;
  selector?: string;
}

/** A legitimate sending service of the organisation, declared in `senders:`. */
export interface Sender {
  name: string;
  /** Free text such as "ESP" or "email provider". */
  type?: string;
  /** IPv4/IPv6 addresses or CIDR ranges. */
  ips: string[];
  /** Domains the service's SPF record is included from (`include:_spf.google.com`). */
  spfIncludes: string[];
  dkim: DkimSigner[];
}

/** Where something came from in a domain file, for findings that point at a line. */
export interface SourcePosition {
  line: number;
  col: number;
}

/** A domain file after defaults are merged and the schema passed: what every later stage sees. */
export interface DomainPolicy {
  /** Lower-case A-label form, no trailing dot. */
  domain: string;
  p: Disposition;
  sp?: Disposition;
  np?: Disposition;
  adkim: AlignmentMode;
  aspf: AlignmentMode;
  /** RFC 7489 sampling percentage; deprecated by RFC 9989 in favour of `t`. */
  pct?: number;
  /** RFC 9989 testing mode (`t=y`). */
  testing: boolean;
  psd?: PsdFlag;
  rua: ReportUri[];
  /** RFC 7489 requested aggregate interval in seconds; removed by RFC 9989. */
  ri?: number;
  dns: DnsTarget;
  owners: string[];
  senders: Sender[];
  /** MTA-STS (RFC 8461), when the domain file has `mta_sts`. */
  mtaSts?: MtaStsPolicy;
  /** TLS report destinations (RFC 8460 `rua`), as URIs (`mailto:…`, `https://…`); absent without `tls_reports`. */
  tlsRpt?: string[];
  /** The file it was loaded from, relative to the working directory. */
  file: string;
}

export type MtaStsMode = 'enforce' | 'testing' | 'none';

/** What `mta_sts:` asks for: the policy file served at https://mta-sts.<domain>/.well-known/mta-sts.txt (RFC 8461 §3.2). */
export interface MtaStsPolicy {
  mode: MtaStsMode;
  /** MX patterns, lower case, as written otherwise: host names or `*.` wildcards of one left-most label (§4.1). */
  mx: string[];
  /** Seconds senders may cache the policy: 0 to 31557600 (§3.2). */
  maxAge: number;
  /** `mta_sts.id`: an id chosen by hand instead of the one derived from the policy file. */
  id?: string;
}

/** One DNS record dmarcops manages. `values` are logical strings; providers split them for the wire. */
export interface ManagedRecord {
  zone: string;
  /** Fully qualified owner name, lower case, no trailing dot. */
  name: string;
  type: 'TXT';
  ttl: number;
  values: string[];
  provider: DnsProviderName;
  /**
   * Why dmarcops manages it: the DMARC policy record, an external reporting authorisation, the MTA-STS
   * policy id (`_mta-sts.<domain>`, RFC 8461 §3.1) or the TLS reporting record (`_smtp._tls.<domain>`, RFC 8460 §3).
   */
  purpose: 'policy' | 'report-authorization' | 'mta-sts' | 'tls-rpt';
  /** The domain file that asked for it. */
  domain: string;
}

export type Severity = 'error' | 'warning' | 'info';

/** A problem found in a domain file, reported like a compiler diagnostic. */
export interface Finding {
  rule: string;
  severity: Severity;
  message: string;
  file: string;
  line: number;
  col: number;
  /** What to do about it, when there is something to say. */
  hint?: string;
}
