/**
 * `dmarcops mta-sts check`: is what the world sees for a domain's MTA-STS what the repository says?
 * The DNS record (`_mta-sts` and `_smtp._tls` TXT) and the served policy file are fetched through
 * injected functions (`CheckDeps`); the comparisons are pure and give findings as plain data, each
 * naming what is wrong, what senders do about it and the RFC section.
 */
import type { DomainPolicy } from '../policy/model.ts';
import {
  formatMtaStsPolicy,
  formatTlsRptRecord,
  isStsRecord,
  isTlsRptRecord,
  mtaStsId,
  mtaStsPolicyUrl,
  parseMtaStsPolicy,
  parseStsRecord,
} from '../policy/mtasts.ts';
import type { TxtLookup, TxtResolver } from '../policy/orgdomain.ts';
import type { PolicyResponse } from './fetch.ts';
import { catalogueError } from '../lib/errors.ts';

export type CheckCode =
  | 'dns-error'
  | 'sts-record-missing'
  | 'sts-record-duplicate'
  | 'sts-record-invalid'
  | 'sts-id-mismatch'
  | 'sts-id-ahead'
  | 'tlsrpt-missing'
  | 'tlsrpt-mismatch'
  | 'https-error'
  | 'certificate-expired'
  | 'certificate-not-yet-valid'
  | 'certificate-name-mismatch'
  | 'certificate-untrusted'
  | 'http-redirect'
  | 'http-status'
  | 'content-type'
  | 'too-large'
  | 'policy-invalid'
  | 'content-mismatch'
  | 'content-format';

export interface CheckFinding {
  code: CheckCode;
  severity: 'error' | 'warning';
  message: string;
  /** The RFC section the expectation comes from. */
  reference: string;
}

export interface DomainCheck {
  domain: string;
  url: string;
  /** What the repository says: the policy file and the id `_mta-sts` should carry. */
  expected: { id: string; policy: string };
  /** The ids found in `_mta-sts` TXT records (`v=STSv1` ones only). */
  dnsIds: string[];
  /** What the policy host answered, when it answered over valid TLS. */
  served?: { status: number; contentType?: string; bytes: number };
  findings: CheckFinding[];
  /** No error findings. */
  ok: boolean;
}

export interface CheckDeps {
  txt: TxtResolver;
  fetch: (domain: string) => Promise<PolicyResponse>;
}

/** Check one domain that has `mta_sts` in the repository. */
export async function checkMtaSts(policy: DomainPolicy, deps: CheckDeps): Promise<DomainCheck> {
  if (policy.mtaSts === undefined) throw catalogueError('mta-sts-not-configured', { name: policy.domain, file: policy.file });
  const expected = { id: mtaStsId(policy.mtaSts), policy: formatMtaStsPolicy(policy.mtaSts) };
  const [sts, tlsrpt, response] = await Promise.all([
    deps.txt(`_mta-sts.${policy.domain}`),
    policy.tlsRpt === undefined ? Promise.resolve(undefined) : deps.txt(`_smtp._tls.${policy.domain}`),
    deps.fetch(policy.domain),
  ]);
  const dns = compareStsRecord(policy.domain, expected.id, sts);
  const findings = [...dns.findings];
  if (policy.tlsRpt !== undefined && tlsrpt !== undefined)
    findings.push(...compareTlsRptRecord(policy.domain, formatTlsRptRecord(policy.tlsRpt), tlsrpt));
  const served = compareServed(policy.domain, expected.policy, response);
  findings.push(...served.findings);
  // The order that matters (RFC 8461 §8.1): senders who see a new id fetch the file once and cache it.
  if (dns.ids.length === 1 && dns.ids[0] === expected.id && served.findings.some((finding) => finding.code === 'content-mismatch')) {
    findings.push({
      code: 'sts-id-ahead',
      severity: 'error',
      message:
        `DNS already announces the new id ${expected.id} but the host serves another policy: senders fetching now cache ` +
        'that policy under the new id and keep it until its max_age. Publish the policy file, then apply the DNS change',
      reference: 'RFC 8461 §8.1',
    });
  }
  const check: DomainCheck = {
    domain: policy.domain,
    url: mtaStsPolicyUrl(policy.domain),
    expected,
    dnsIds: dns.ids,
    findings,
    ok: !findings.some((finding) => finding.severity === 'error'),
  };
  if (served.summary !== undefined) check.served = served.summary;
  return check;
}

/** `_mta-sts` TXT against the expected id (RFC 8461 §3.1). */
export function compareStsRecord(domain: string, expectedId: string, lookup: TxtLookup): { ids: string[]; findings: CheckFinding[] } {
  const name = `_mta-sts.${domain}`;
  const reference = 'RFC 8461 §3.1';
  if (lookup.status === 'error')
    return {
      ids: [],
      findings: [{ code: 'dns-error', severity: 'error', message: `cannot look up ${name} TXT: ${lookup.code}`, reference }],
    };
  const values = lookup.status === 'found' ? lookup.records.map((strings) => strings.join('')).filter(isStsRecord) : [];
  if (values.length === 0) {
    return {
      ids: [],
      findings: [
        {
          code: 'sts-record-missing',
          severity: 'error',
          message:
            `${name} has no v=STSv1 TXT record (${lookup.status === 'found' ? 'other TXT only' : lookup.status}): ` +
            'senders do not look for the policy. Run dmarcops apply (or publish it by hand for provider manual)',
          reference,
        },
      ],
    };
  }
  if (values.length > 1) {
    const ids = values.map((value) => parseStsRecord(value).id ?? '?');
    return {
      ids,
      findings: [
        {
          code: 'sts-record-duplicate',
          severity: 'error',
          message: `${name} has ${values.length} v=STSv1 records (ids ${ids.join(', ')}): senders then apply no policy at all`,
          reference,
        },
      ],
    };
  }
  const parsed = parseStsRecord(values[0] ?? '');
  if (parsed.id === undefined) {
    return {
      ids: [],
      findings: [
        {
          code: 'sts-record-invalid',
          severity: 'error',
          message: `${name} ${JSON.stringify(values[0])} ${parsed.problems.join('; ')}: senders ignore it`,
          reference,
        },
      ],
    };
  }
  if (parsed.id !== expectedId) {
    return {
      ids: [parsed.id],
      findings: [
        {
          code: 'sts-id-mismatch',
          severity: 'error',
          message:
            `${name} announces id ${parsed.id}, the repository's policy has id ${expectedId}: senders that cached the ` +
            `policy under ${parsed.id} do not fetch the current one. Run dmarcops apply once the policy file is published`,
          reference,
        },
      ],
    };
  }
  return { ids: [parsed.id], findings: [] };
}

/** `_smtp._tls` TXT against the record the repository asks for (RFC 8460 §3). */
export function compareTlsRptRecord(domain: string, expected: string, lookup: TxtLookup): CheckFinding[] {
  const name = `_smtp._tls.${domain}`;
  const reference = 'RFC 8460 §3';
  if (lookup.status === 'error')
    return [{ code: 'dns-error', severity: 'error', message: `cannot look up ${name} TXT: ${lookup.code}`, reference }];
  const values = lookup.status === 'found' ? lookup.records.map((strings) => strings.join('')).filter(isTlsRptRecord) : [];
  if (values.length === 0)
    return [
      { code: 'tlsrpt-missing', severity: 'error', message: `${name} has no v=TLSRPTv1 record: senders send no TLS reports`, reference },
    ];
  if (values.length > 1 || values[0] !== expected) {
    return [
      {
        code: 'tlsrpt-mismatch',
        severity: 'error',
        message:
          `${name} holds ${values.map((value) => JSON.stringify(value)).join(', ')}, the repository asks ` +
          `for ${JSON.stringify(expected)}${values.length > 1 ? ' (several records: senders use none)' : ''}`,
        reference,
      },
    ];
  }
  return [];
}

/** What the policy host answered against the repository's policy file (RFC 8461 §3.2, §3.3). */
export function compareServed(
  domain: string,
  expected: string,
  response: PolicyResponse,
): { findings: CheckFinding[]; summary?: { status: number; contentType?: string; bytes: number } } {
  const url = mtaStsPolicyUrl(domain);
  const fetching = 'RFC 8461 §3.3';
  if (response.kind === 'error') {
    return {
      findings: [
        {
          code: 'https-error',
          severity: 'error',
          message: `cannot fetch ${url}: ${response.code} (${response.message})`,
          reference: fetching,
        },
      ],
    };
  }
  if (response.kind === 'certificate') return { findings: [certificateFinding(domain, response)] };

  const summary: { status: number; contentType?: string; bytes: number } = { status: response.status, bytes: response.body.length };
  if (response.contentType !== undefined) summary.contentType = response.contentType;
  if (response.status >= 300 && response.status < 400) {
    const where = response.location === undefined ? '' : ` to ${response.location}`;
    return {
      summary,
      findings: [
        {
          code: 'http-redirect',
          severity: 'error',
          message: `${url} answers ${response.status}, a redirect${where}: senders do not follow redirects. Serve the file at this very URL`,
          reference: fetching,
        },
      ],
    };
  }
  if (response.status !== 200) {
    return {
      summary,
      findings: [
        {
          code: 'http-status',
          severity: 'error',
          message: `${url} answers ${response.status}: senders take a policy only from a 200 answer`,
          reference: fetching,
        },
      ],
    };
  }
  const findings: CheckFinding[] = [];
  const mediaType = (response.contentType ?? '').split(';')[0]?.trim().toLowerCase();
  if (mediaType !== 'text/plain') {
    findings.push({
      code: 'content-type',
      severity: 'error',
      message:
        `${url} is served as ${response.contentType === undefined ? 'no Content-Type' : JSON.stringify(response.contentType)}, ` +
        'not text/plain: senders may refuse it',
      reference: 'RFC 8461 §3.2',
    });
  }
  if (response.tooLarge) {
    findings.push({
      code: 'too-large',
      severity: 'error',
      message: `${url} is larger than ${response.body.length} bytes: not a policy file (a few hundred bytes)`,
      reference: fetching,
    });
    return { summary, findings };
  }
  const text = response.body.toString('utf8');
  if (text === expected) return { summary, findings };
  const served = parseMtaStsPolicy(text);
  if (served.problems.length > 0) {
    findings.push({
      code: 'policy-invalid',
      severity: 'error',
      message: `${url} is not a valid policy: ${served.problems.join('; ')}`,
      reference: 'RFC 8461 §3.2',
    });
    return { summary, findings };
  }
  const wanted = parseMtaStsPolicy(expected);
  const differences = policyDifferences(wanted, served);
  if (differences.length === 0) {
    findings.push({
      code: 'content-format',
      severity: 'warning',
      message:
        `${url} holds the same policy in other ` +
        `bytes (${served.lineEnds === 'crlf' ? 'order or spacing' : `${served.lineEnds} line ends`}): senders read it alike, ` +
        'but it is not byte for byte the file dmarcops mta-sts build writes (does the host or git rewrite line ends?)',
      reference: 'RFC 8461 §3.2',
    });
  } else {
    findings.push({
      code: 'content-mismatch',
      severity: 'error',
      message: `${url} serves another policy than the repository: ${differences.join('; ')}. Publish the output of dmarcops mta-sts build`,
      reference: 'RFC 8461 §3.2',
    });
  }
  return { summary, findings };
}

function policyDifferences(wanted: ReturnType<typeof parseMtaStsPolicy>, served: ReturnType<typeof parseMtaStsPolicy>): string[] {
  const differences: string[] = [];
  if (wanted.mode !== served.mode) differences.push(`mode ${served.mode ?? '(none)'} served, ${wanted.mode ?? '(none)'} in the repository`);
  if (wanted.maxAge !== served.maxAge)
    differences.push(`max_age ${served.maxAge ?? '(none)'} served, ${wanted.maxAge ?? '(none)'} in the repository`);
  const servedMx = new Set(served.mx);
  const wantedMx = new Set(wanted.mx);
  const missing = wanted.mx.filter((pattern) => !servedMx.has(pattern));
  const extra = served.mx.filter((pattern) => !wantedMx.has(pattern));
  if (missing.length > 0) differences.push(`mx ${missing.join(', ')} not served`);
  if (extra.length > 0) differences.push(`mx ${extra.join(', ')} served but not in the repository`);
  return differences;
}

function certificateFinding(domain: string, response: Extract<PolicyResponse, { kind: 'certificate' }>): CheckFinding {
  const host = `mta-sts.${domain}`;
  const reference = 'RFC 8461 §3.3';
  const certificate = response.certificate;
  const valid =
    certificate?.validFrom !== undefined && certificate.validTo !== undefined
      ? ` (valid ${certificate.validFrom} to ${certificate.validTo})`
      : '';
  switch (response.code) {
    case 'CERT_HAS_EXPIRED':
      return {
        code: 'certificate-expired',
        severity: 'error',
        message:
          `the certificate of ${host} has expired${certificate?.validTo === undefined ? '' : ` on ${certificate.validTo}`}${valid}: ` +
          'senders refuse the policy and apply none',
        reference,
      };
    case 'CERT_NOT_YET_VALID':
      return {
        code: 'certificate-not-yet-valid',
        severity: 'error',
        message: `the certificate of ${host} is not valid yet${valid}: senders refuse the policy`,
        reference,
      };
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
      return {
        code: 'certificate-name-mismatch',
        severity: 'error',
        message:
          `the certificate served for ${host} is for ${certificate?.altNames ?? certificate?.subject ?? 'other names'}, ` +
          `not ${host}: senders refuse the policy. The host needs a certificate for ${host} ` +
          '(with a custom domain on GitHub Pages, enable HTTPS once DNS points at it)',
        reference,
      };
    default:
      return {
        code: 'certificate-untrusted',
        severity: 'error',
        message:
          `the certificate of ${host} is not ` +
          `trusted (${response.code}${certificate?.issuer === undefined ? '' : `, issued by ${certificate.issuer}`}): ` +
          'senders refuse the policy',
        reference,
      };
  }
}
