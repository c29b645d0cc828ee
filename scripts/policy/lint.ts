/**
 * Lint rules beyond the schema. Each rule has a permanent id, a default severity, the RFC section
 * it rests on and a one-line summary (the README's rule table is checked against this list).
 */
import { isIP } from 'node:net';
import type { Disposition, Finding, Severity } from './model.ts';
import type { LoadedDomain } from './load.ts';
import { domainOfFile } from './load.ts';
import { formatMtaStsPolicy, mtaStsId, mxPatternProblem } from './mtasts.ts';
import { mxCoverage } from './mx.ts';
import type { MxLookup } from './mx.ts';
import { compareOrgDomainMethods } from './orgdomain.ts';
import { externalReportDestinations, formatDmarcRecord, managedRecords, policyRecord } from './record.ts';
import { DOMAIN_SCHEMA_PATH } from './schema.ts';
import type { YamlPath } from './source.ts';
import { utf8Length } from '../lib/text.ts';
import { inZone, organizationalDomain } from '../lib/dns-name.ts';

export interface RuleContext {
  domain: LoadedDomain;
  /** Every domain that loaded, this one included, for rules that compare files. */
  all: readonly LoadedDomain[];
  /**
   * The same domain at the base ref (`validate --base <ref>`): its file as loaded there, `null` when it
   * had no file there, undefined when no base was given (then rules about changes say nothing).
   */
  previous?: LoadedDomain | null;
  /** The domain's MX records as DNS answers them now (`validate --live-dns`); undefined otherwise. */
  liveMx?: MxLookup;
  report(issue: RuleIssue): void;
}

/** What some rules need beyond the files: the domains at a base ref, and live DNS answers. */
export interface LintExtras {
  /** The domains as loaded at the base ref (`loadDomainsAtRef`). */
  base?: readonly LoadedDomain[];
  /** MX lookups by domain, for the domains with `mta_sts`. */
  liveMx?: ReadonlyMap<string, MxLookup>;
}

export interface RuleIssue {
  path: YamlPath;
  part?: 'key' | 'value';
  message: string;
  hint?: string;
  /** Overrides the rule's default severity for this one finding. */
  severity?: Severity;
  /** Point at line 1, column 1 of the domain file (for what belongs at its very top). */
  atFileStart?: boolean;
}

export interface LintRule {
  id: string;
  severity: Severity;
  summary: string;
  reference: string;
  check(context: RuleContext): void;
}

/** Findings raised by the loader and the schema, listed here so the rule table documents them too. */
export const SCHEMA_RULES: readonly Omit<LintRule, 'check'>[] = [
  { id: 'yaml-syntax', severity: 'error', summary: 'The file is not valid YAML.', reference: 'YAML 1.2' },
  { id: 'duplicate-key', severity: 'error', summary: 'A key appears twice in one mapping.', reference: 'YAML 1.2 §3.2.1.1' },
  {
    id: 'unknown-key',
    severity: 'error',
    summary: 'A key the schema does not know, with a "did you mean" (also for DMARC tag names such as `p` or `rua`).',
    reference: 'domain.schema.json',
  },
  {
    id: 'invalid-value',
    severity: 'error',
    summary:
      'A value outside what the key allows (policy names, alignment modes, sizes, ranges such as `mta_sts.max_age` 0–31557600, patterns).',
    reference: 'RFC 7489 §6.3, RFC 9989 §4.7, RFC 8461 §3.2',
  },
  {
    id: 'invalid-type',
    severity: 'error',
    summary: 'A value of the wrong type (a list where a mapping belongs, text where a number belongs).',
    reference: 'domain.schema.json',
  },
  {
    id: 'missing-key',
    severity: 'error',
    summary: 'A required key is missing (e.g. a sender without `name`).',
    reference: 'domain.schema.json',
  },
  {
    id: 'missing-policy',
    severity: 'error',
    summary: 'Neither the domain file nor the defaults set `policy`.',
    reference: 'RFC 9989 §4.7',
  },
  {
    id: 'failure-reports-refused',
    severity: 'error',
    summary: '`ruf` (and `fo`) are refused: failure reports carry personal data and dmarcops does not collect them.',
    reference: 'RFC 9991 §7, RFC 9989 §9',
  },
  {
    id: 'defaults-domain',
    severity: 'error',
    summary: 'The defaults file sets `domain`, which only a domain file may set.',
    reference: 'dmarcops',
  },
  {
    id: 'admins-outside-defaults',
    severity: 'error',
    summary: 'A domain file sets `admins`, which only the defaults file may set.',
    reference: 'dmarcops (GitHub CODEOWNERS)',
  },
];

const STRENGTH: Record<Disposition, number> = { none: 0, quarantine: 1, reject: 2 };
const ONE_WEEK = 604_800;

export const LINT_RULES: readonly LintRule[] = [
  {
    id: 'schema-comment-missing',
    severity: 'warning',
    summary: 'The file does not start with the `# yaml-language-server: $schema=…` line that lets editors complete and check it.',
    reference: 'dmarcops',
    check({ domain, report }) {
      // yaml-language-server reads the modeline wherever it stands; line 1 is the convention.
      if (!/^#\s*yaml-language-server:\s*\$schema=\S*domain\.schema\.json\s*$/m.test(domain.text)) {
        report({
          path: [],
          atFileStart: true,
          message: 'the first line should point editors at the schema',
          hint: `Add \`# yaml-language-server: $schema=../${DOMAIN_SCHEMA_PATH}\` as line 1.`,
        });
      }
    },
  },
  {
    id: 'file-name-mismatch',
    severity: 'error',
    summary: '`domain:` differs from the file name (domains/<domain>.yaml).',
    reference: 'dmarcops',
    check({ domain, report }) {
      const fromName = domainOfFile(domain.policy.file, {});
      if (domain.spec.domain !== undefined && fromName !== domain.policy.domain) {
        report({
          path: ['domain'],
          message: `\`domain: ${domain.policy.domain}\` does not match the file name \`${fromName}\``,
          hint: `Rename the file to domains/${domain.policy.domain}.yaml or fix the key.`,
        });
      }
    },
  },
  {
    id: 'duplicate-domain',
    severity: 'error',
    summary: 'More than one file describes the same domain.',
    reference: 'RFC 7489 §6.6.3 (several records at one name void DMARC)',
    check({ domain, all, report }) {
      const others = all.filter((other) => other !== domain && other.policy.domain === domain.policy.domain);
      if (others.length > 0) {
        report({
          path: [],
          message: `${domain.policy.domain} is also described by ${others.map((other) => other.policy.file).join(', ')}`,
          hint: 'Keep one file per domain: receivers ignore a name that has two DMARC records.',
        });
      }
    },
  },
  {
    id: 'dns-zone-mismatch',
    severity: 'error',
    summary: '`dns.zone` is neither the domain nor one of its parents, so `_dmarc.<domain>` cannot live there.',
    reference: 'RFC 1034 §4.2',
    check({ domain, report }) {
      const { domain: name, dns } = domain.policy;
      if (!inZone(name, dns.zone)) {
        report({ path: ['dns', 'zone'], message: `zone \`${dns.zone}\` cannot hold _dmarc.${name}` });
      }
    },
  },
  {
    id: 'policy-none',
    severity: 'info',
    summary: '`policy: none` only monitors: receivers take no action on failing mail.',
    reference: 'RFC 9989 §4.7, §7.4',
    check({ domain, report }) {
      if (domain.policy.p === 'none' && !domain.spec.parked) {
        report({
          path: ['policy'],
          message: 'policy none only monitors; spoofed mail is still delivered',
          hint: 'Once the dashboard shows your own services passing, move to quarantine, then reject.',
        });
      }
    },
  },
  {
    id: 'subdomain-policy-weaker',
    severity: 'warning',
    summary: '`subdomain_policy` is weaker than `policy`, so spoofers can use any subdomain.',
    reference: 'RFC 7489 §6.3 (sp), RFC 9989 §4.7',
    check({ domain, report }) {
      const { p, sp } = domain.policy;
      if (sp && STRENGTH[sp] < STRENGTH[p]) {
        report({
          path: ['subdomain_policy'],
          message: `subdomain_policy ${sp} is weaker than policy ${p}: mail from any name under ${domain.policy.domain} gets the weaker treatment`,
        });
      }
    },
  },
  {
    id: 'nonexistent-policy-weaker',
    severity: 'warning',
    summary: '`nonexistent_subdomain_policy` is weaker than the policy for existing subdomains.',
    reference: 'RFC 9091 §3.2, RFC 9989 §4.7 (np)',
    check({ domain, report }) {
      const { p, sp, np } = domain.policy;
      const existing = sp ?? p;
      if (np && STRENGTH[np] < STRENGTH[existing]) {
        report({
          path: ['nonexistent_subdomain_policy'],
          message: `nonexistent_subdomain_policy ${np} is weaker than ${existing}: names that do not even exist are the easiest to spoof`,
          hint: 'Non-existent subdomains send no legitimate mail; reject is the usual choice.',
        });
      }
    },
  },
  {
    id: 'testing-with-reject',
    severity: 'warning',
    summary: '`testing: true` with `policy: reject`: RFC 9989 receivers quarantine instead, RFC 7489 receivers ignore `t` and reject.',
    reference: 'RFC 9989 §4.7 (t), Appendix A.6',
    check({ domain, report }) {
      if (domain.policy.testing && domain.policy.p === 'reject') {
        report({
          path: ['testing'],
          message: 'testing mode with policy reject: newer receivers apply quarantine, older ones (RFC 7489) ignore t and reject',
          hint: 'Use policy: quarantine with testing while you test; remove testing when you are ready for reject.',
        });
      }
    },
  },
  {
    id: 'testing-without-effect',
    severity: 'warning',
    summary: '`testing: true` with `policy: none` changes nothing.',
    reference: 'RFC 9989 §4.7 (t)',
    check({ domain, report }) {
      const { p, sp, np, testing } = domain.policy;
      if (testing && p === 'none' && (sp ?? 'none') === 'none' && (np ?? 'none') === 'none') {
        report({ path: ['testing'], message: 'testing has no effect when the policy is none' });
      }
    },
  },
  {
    id: 'percent-deprecated',
    severity: 'warning',
    summary: '`percent` (pct) was removed by RFC 9989; use `testing: true` for a gradual roll-out.',
    reference: 'RFC 9989 Appendix A.6, C.5.2',
    check({ domain, report }) {
      const { pct } = domain.policy;
      if (pct === undefined) return;
      if (pct === 0) {
        report({
          path: ['percent'],
          message: 'percent 0 turns enforcement off for RFC 7489 receivers, and RFC 9989 receivers ignore pct',
          hint: 'Use testing: true instead.',
        });
      } else if (pct < 100) {
        report({
          path: ['percent'],
          message: `percent ${pct} samples failing mail at RFC 7489 receivers only; RFC 9989 receivers ignore it and apply the full policy`,
          hint: 'Use testing: true instead, or remove percent.',
        });
      } else {
        report({ path: ['percent'], message: 'percent 100 is the default and RFC 9989 removed the tag', hint: 'Remove percent.' });
      }
    },
  },
  {
    id: 'percent-with-testing',
    severity: 'warning',
    summary:
      'Both `percent` and `testing` are set: they are two generations of the same idea and mean different things to different receivers.',
    reference: 'RFC 9989 Appendix A.6',
    check({ domain, report }) {
      if (domain.policy.testing && domain.policy.pct !== undefined) {
        report({ path: ['percent'], message: 'percent and testing are both set; keep testing and drop percent' });
      }
    },
  },
  {
    id: 'report-interval-deprecated',
    severity: 'warning',
    summary: '`report_interval` (ri) was removed by RFC 9989; receivers send daily whatever you ask.',
    reference: 'RFC 7489 §6.3 (ri), RFC 9989 C.5.2',
    check({ domain, report }) {
      if (domain.policy.ri !== undefined)
        report({
          path: ['report_interval'],
          message: 'report_interval is ignored by most receivers and removed by RFC 9989',
          hint: 'Remove it.',
        });
    },
  },
  {
    id: 'no-reports',
    severity: 'warning',
    summary: 'No `reports` mailbox: receivers send no aggregate reports and dmarcops has nothing to show.',
    reference: 'RFC 7489 §6.3 (rua), RFC 9990 §2',
    check({ domain, report }) {
      if (domain.policy.rua.length === 0)
        report({
          path: ['reports'],
          part: 'key',
          message: 'no aggregate report mailbox: you will not see who sends mail as this domain',
          hint: 'Add the mailbox that dmarcops fetches under reports:.',
        });
    },
  },
  {
    id: 'too-many-report-destinations',
    severity: 'info',
    summary: 'More than two report mailboxes: RFC 7489 receivers need only support two.',
    reference: 'RFC 7489 §6.2',
    check({ domain, report }) {
      if (domain.policy.rua.length > 2) report({ path: ['reports', 2], message: 'receivers may send to the first two mailboxes only' });
    },
  },
  {
    id: 'duplicate-report-destination',
    severity: 'warning',
    summary: 'The same mailbox is listed twice under `reports`.',
    reference: 'RFC 7489 §6.2',
    check({ domain, report }) {
      const seen = new Set<string>();
      domain.policy.rua.forEach((entry, index) => {
        const key = entry.uri.toLowerCase();
        if (seen.has(key))
          report({
            path: ['reports', index],
            message: `${entry.uri.replace(/^mailto:/, '')} is listed twice; receivers would send every report to it twice`,
          });
        seen.add(key);
      });
    },
  },
  {
    id: 'report-size-deprecated',
    severity: 'warning',
    summary: '`max_size` (the `!size` suffix) is obsolete in RFC 9989 and makes RFC 7489 receivers drop reports that are larger.',
    reference: 'RFC 7489 §6.2, RFC 9989 C.4',
    check({ domain, report }) {
      domain.policy.rua.forEach((entry, index) => {
        if (!entry.size) return;
        if (entry.size.bytes === null) {
          report({
            path: ['reports', index, 'max_size'],
            severity: 'error',
            message: `max_size ${entry.size.raw} does not fit in 64 bits`,
          });
        } else {
          report({
            path: ['reports', index, 'max_size'],
            message: `reports larger than ${entry.size.raw} are dropped by RFC 7489 receivers, and RFC 9989 ignores the limit`,
            hint: 'Remove max_size unless the mailbox really refuses large mail.',
          });
        }
      });
    },
  },
  {
    id: 'subdomain-policy-without-effect',
    severity: 'warning',
    summary:
      '`subdomain_policy` / `nonexistent_subdomain_policy` on a domain that is not an organizational domain: receivers never read them there.',
    reference: 'RFC 7489 §6.3, RFC 9989 §4.10.1',
    check({ domain, report }) {
      const { policy, spec } = domain;
      if (spec.domain_role === 'organizational' || policy.psd === 'n' || policy.psd === 'y') return;
      const organizational = organizationalOf(domain);
      if (organizational === policy.domain) return;
      for (const key of ['subdomain_policy', 'nonexistent_subdomain_policy'] as const) {
        if (domain.setsOwn([key])) {
          report({
            path: [key],
            part: 'key',
            message: `${key} on ${policy.domain} has no effect: its subdomains get the policy of the organizational domain ${organizational ?? '(none)'}`,
            hint: 'Set it on the organizational domain, or set domain_role: organizational here (psd=n).',
          });
        }
      }
    },
  },
  {
    id: 'subdomain-of-managed-domain',
    severity: 'info',
    summary: 'A subdomain file whose organizational domain is also managed here: explains what it overrides.',
    reference: 'RFC 7489 §6.6.3, RFC 9989 §4.10.1',
    check({ domain, all, report }) {
      const parent = all.find(
        (other) => other !== domain && other.policy.domain === organizationalOf(domain) && other.policy.domain !== domain.policy.domain,
      );
      if (!parent) return;
      const inherited = parent.policy.sp ?? parent.policy.p;
      report({
        path: ['policy'],
        message:
          `${domain.policy.domain} publishes its own record, so ${parent.policy.domain}'s subdomain ` +
          `policy (${inherited}) no longer applies to it; this file's policy ${domain.policy.p} does`,
        hint: `Names below ${domain.policy.domain} still inherit from ${parent.policy.domain} (its subdomain_policy), not from this file.`,
      });
    },
  },
  {
    id: 'public-suffix-role',
    severity: 'warning',
    summary: '`domain_role: public_suffix` (psd=y) on a domain that is not a public suffix.',
    reference: 'RFC 9989 §4.7 (psd), §4.10.2',
    check({ domain, report }) {
      if (domain.policy.psd === 'y' && organizationalOf(domain) !== null) {
        report({
          path: ['domain_role'],
          message:
            `${domain.policy.domain} is registrable, not a public suffix: ` +
            'psd=y would make receivers treat each of its subdomains as a separate organization',
          hint: 'Use domain_role: organizational, or remove it.',
        });
      }
    },
  },
  {
    id: 'reject-with-mailing-list-users',
    severity: 'warning',
    summary: '`policy: reject` on a domain whose people post to mailing lists: lists that rewrite mail will bounce it.',
    reference: 'RFC 9989 §7.4',
    check({ domain, report }) {
      if (domain.spec.mailing_list_users && domain.policy.p === 'reject') {
        report({
          path: ['policy'],
          message: 'people at this domain post to mailing lists; with reject, list traffic that breaks DKIM is bounced',
          hint: 'RFC 9989 §7.4 advises quarantine for such domains.',
        });
      }
    },
  },
  {
    id: 'reject-without-dkim',
    severity: 'warning',
    summary: 'An enforcing policy while a declared sender has no DKIM signing: it relies on SPF alone, which breaks on forwarding.',
    reference: 'RFC 9989 §7.4',
    check({ domain, report }) {
      if (domain.policy.p === 'none') return;
      domain.policy.senders.forEach((sender, index) => {
        if (sender.dkim.length === 0) {
          report({
            path: ['senders', index, 'name'],
            message: `${sender.name} has no DKIM signing declared while the policy is ${domain.policy.p}: forwarded mail from it will fail DMARC`,
            hint: 'Set up DKIM for this service and list its signing domain under dkim:.',
          });
        }
      });
    },
  },
  {
    id: 'sender-dkim-unaligned',
    severity: 'warning',
    summary: "A sender's DKIM signing domain cannot align with the domain under its alignment mode.",
    reference: 'RFC 7489 §3.1.1',
    check({ domain, report }) {
      const { policy } = domain;
      const organizational = organizationalOf(domain) ?? policy.domain;
      policy.senders.forEach((sender, senderIndex) => {
        sender.dkim.forEach((signer, signerIndex) => {
          const aligned = policy.adkim === 's' ? signer.domain === policy.domain : organizationalDomain(signer.domain) === organizational;
          if (!aligned) {
            report({
              path: ['senders', senderIndex, 'dkim', signerIndex, 'domain'],
              message:
                `${sender.name} signs as ${signer.domain}, which does not align ` +
                `with ${policy.domain} (${policy.adkim === 's' ? 'strict' : 'relaxed'} ` +
                'DKIM alignment): its DKIM passes never count for DMARC',
              hint: `Have the service sign with d=${policy.domain}${policy.adkim === 's' ? '' : ` or another name under ${organizational}`}.`,
            });
          }
        });
      });
    },
  },
  {
    id: 'sender-invalid-ip',
    severity: 'error',
    summary: 'A sender IP that is not an IPv4/IPv6 address or a CIDR range with a valid prefix length.',
    reference: 'RFC 4632, RFC 4291',
    check({ domain, report }) {
      domain.policy.senders.forEach((sender, senderIndex) => {
        sender.ips.forEach((ip, ipIndex) => {
          const problem = cidrProblem(ip);
          if (problem) report({ path: ['senders', senderIndex, 'ips', ipIndex], message: `${ip}: ${problem}` });
        });
      });
    },
  },
  {
    id: 'sender-duplicate-name',
    severity: 'warning',
    summary: 'Two senders share a name, so the dashboard cannot tell them apart.',
    reference: 'dmarcops',
    check({ domain, report }) {
      const seen = new Set<string>();
      domain.policy.senders.forEach((sender, index) => {
        const key = sender.name.toLowerCase();
        if (seen.has(key)) report({ path: ['senders', index, 'name'], message: `sender name ${sender.name} is used twice` });
        seen.add(key);
      });
    },
  },
  {
    id: 'parked-not-reject',
    severity: 'warning',
    summary: 'A parked domain (`parked: true`) whose policy or subdomain policy is not reject.',
    reference: 'RFC 9989 §7.4; M3AAWG parked domains BCP',
    check({ domain, report }) {
      if (!domain.spec.parked) return;
      const { p, sp, np } = domain.policy;
      if (p !== 'reject')
        report({
          path: ['policy'],
          message: `a parked domain sends no mail; policy ${p} lets anyone spoof it`,
          hint: 'Use policy: reject.',
        });
      else if ((sp ?? p) !== 'reject' || (np ?? sp ?? p) !== 'reject')
        report({
          path: [sp !== 'reject' ? 'subdomain_policy' : 'nonexistent_subdomain_policy'],
          message: 'a parked domain should reject mail from its subdomains too',
        });
    },
  },
  {
    id: 'parked-with-senders',
    severity: 'warning',
    summary: 'A parked domain that declares senders: either it sends mail or it is parked.',
    reference: 'dmarcops',
    check({ domain, report }) {
      if (domain.spec.parked && domain.policy.senders.length > 0)
        report({ path: ['senders'], part: 'key', message: 'parked: true, yet senders are declared' });
    },
  },
  {
    id: 'external-report-destination',
    severity: 'warning',
    summary:
      'A report mailbox in another organizational domain: it must publish `<domain>._report._dmarc.<host>` ' +
      'TXT "v=DMARC1" or receivers send it nothing. Info when dmarcops publishes that record itself.',
    reference: 'RFC 7489 §7.1, RFC 9990 §4',
    check({ domain, all, report }) {
      const published = publishedNames(all);
      for (const destination of externalReportDestinations(domain.policy)) {
        const index = domain.policy.rua.findIndex((entry) => destination.uris.includes(entry.uri));
        if (published.has(destination.recordName)) {
          report({
            path: ['reports', index],
            severity: 'info',
            message: `${destination.host} is in another organizational domain; dmarcops publishes ${destination.recordName} TXT "v=DMARC1" to authorise it`,
          });
        } else {
          report({
            path: ['reports', index],
            message:
              `${destination.host} is in another organizational domain and its zone is not managed here: ` +
              `receivers send reports there only if ${destination.recordName} has TXT "v=DMARC1"`,
            hint: `Ask the mailbox's operator to publish it (or *._report._dmarc.${destination.host}). Check with: dig +short TXT ${destination.recordName}`,
          });
        }
      }
    },
  },
  {
    id: 'report-authorization-name-too-long',
    severity: 'error',
    summary:
      'The authorisation name `<domain>._report._dmarc.<host>` exceeds DNS limits (253 octets, 63 per label), so it can never be confirmed.',
    reference: 'RFC 9990 §4 step 4, RFC 1035 §2.3.4',
    check({ domain, report }) {
      for (const destination of externalReportDestinations(domain.policy)) {
        const name = destination.recordName;
        if (name.length > 253 || name.split('.').some((label) => label.length > 63)) {
          const index = domain.policy.rua.findIndex((entry) => destination.uris.includes(entry.uri));
          report({
            path: ['reports', index],
            message: `${name} is ${name.length} octets long; DNS allows 253, so receivers cannot verify this destination`,
          });
        }
      }
    },
  },
  {
    id: 'record-split',
    severity: 'info',
    summary:
      'The record is longer than 255 octets: it is published as several character-strings, which receivers join (some old tools do not).',
    reference: 'RFC 7489 §6.1, RFC 1035 §3.3.14',
    check({ domain, report }) {
      const octets = utf8Length(formatDmarcRecord(policyRecord(domain.policy)));
      if (octets > 255)
        report({
          path: ['reports'],
          part: 'key',
          message: `the record is ${octets} octets; dmarcops splits it into strings of at most 255 octets at tag boundaries`,
          hint: 'Fewer or shorter report mailboxes keep it in one string.',
        });
    },
  },
  {
    id: 'tree-walk-disagrees',
    severity: 'warning',
    summary:
      'Receivers using the public suffix list (RFC 7489) and the DNS tree walk (RFC 9989) reach a different organizational domain or record for this domain.',
    reference: 'RFC 9989 §4.10, Appendix C.3',
    check({ domain, all, report }) {
      const policies = all.map((other) => other.policy);
      const comparison = compareOrgDomainMethods(domain.policy.domain, policies);
      // Only what the repository proves: a psd flag decided the walk, or the PSL's organizational domain is
      // managed here. Otherwise its record lives elsewhere and the walk over our files alone would guess.
      const provable =
        comparison.treeWalk.rule === 'psd-n' ||
        comparison.treeWalk.rule === 'psd-y' ||
        policies.some((policy) => policy.domain === comparison.psl.organizationalDomain);
      if (comparison.disagrees && provable)
        report({
          path: domain.setsOwn(['domain_role']) ? ['domain_role'] : ['policy'],
          message: comparison.explanation,
          hint: 'Strict alignment and a record on every sending domain make both kinds of receiver agree.',
        });
    },
  },
  {
    id: 'mta-sts-mx-missing',
    severity: 'error',
    summary: '`mta_sts` in testing or enforce mode without `mx` patterns: senders refuse such a policy.',
    reference: 'RFC 8461 §3.2',
    check({ domain, report }) {
      const sts = domain.policy.mtaSts;
      if (sts && sts.mode !== 'none' && sts.mx.length === 0) {
        report({
          path: ['mta_sts'],
          part: 'key',
          message: `mta_sts mode ${sts.mode} needs mx: the host names of the MX records senders may deliver to`,
          hint: 'List each MX host (mx1.example.com) or a *.example.com pattern under mta_sts.mx.',
        });
      }
    },
  },
  {
    id: 'mta-sts-mx-invalid',
    severity: 'error',
    summary: 'An `mta_sts.mx` entry that is not a host name, or a `*.` wildcard standing for one whole left-most label.',
    reference: 'RFC 8461 §3.2, §4.1',
    check({ domain, report }) {
      domain.policy.mtaSts?.mx.forEach((pattern, index) => {
        const problem = mxPatternProblem(pattern);
        if (problem)
          report({
            path: ['mta_sts', 'mx', index],
            message: `mx ${pattern} ${problem}`,
            hint: 'Write an MX host name (mx1.example.com) or *.example.com, which matches mx1.example.com but not example.com or a.b.example.com.',
          });
      });
    },
  },
  {
    id: 'mta-sts-max-age-short',
    severity: 'warning',
    summary:
      '`mta_sts.max_age` under a week in enforce mode: senders forget the policy soon, and an attacker who blocks its refresh gets past it.',
    reference: 'RFC 8461 §3.2 ("weeks or greater")',
    check({ domain, report }) {
      const sts = domain.policy.mtaSts;
      if (sts?.mode === 'enforce' && sts.maxAge < ONE_WEEK) {
        const written = domain.spec.mta_sts?.max_age !== undefined;
        report({
          path: written ? ['mta_sts', 'max_age'] : ['mta_sts'],
          part: written ? 'value' : 'key',
          message: `max_age ${sts.maxAge} s is under a week; RFC 8461 expects weeks or more for an enforced policy`,
          hint: 'Use 604800 (a week) to 31557600 (a year) once the policy is enforced; short values suit testing.',
        });
      }
    },
  },
  {
    id: 'mta-sts-without-tls-reports',
    severity: 'warning',
    summary:
      '`mta_sts` in testing or enforce mode without `tls_reports`: nobody learns ' +
      'about failed deliveries (in testing mode the policy then does nothing at all).',
    reference: 'RFC 8461 §5, RFC 8460 §3',
    check({ domain, report }) {
      const sts = domain.policy.mtaSts;
      if (!sts || sts.mode === 'none' || (domain.policy.tlsRpt ?? []).length > 0) return;
      const message =
        sts.mode === 'testing'
          ? 'mta_sts mode testing without tls_reports: testing only makes senders report failures, and nobody receives the reports'
          : 'mta_sts mode enforce without tls_reports: senders refuse mail to hosts that fail and nobody hears about it';
      report({
        path: ['mta_sts', 'mode'],
        message,
        hint: 'Add tls_reports: [tls-reports@your-domain] (the mailbox dmarcops fetches works).',
      });
    },
  },
  {
    id: 'mta-sts-mode-none',
    severity: 'info',
    summary: '`mta_sts.mode: none` withdraws the policy: keep publishing it for at least the previous `max_age` before removing `mta_sts`.',
    reference: 'RFC 8461 §8.3',
    check({ domain, report }) {
      if (domain.policy.mtaSts?.mode === 'none') {
        report({
          path: ['mta_sts', 'mode'],
          message:
            'mode none tells senders to drop the policy they cached; they only learn it while _mta-sts and the policy file are still served',
          hint: 'Remove mta_sts once the max_age of the last testing or enforce policy has passed since this was applied.',
        });
      }
    },
  },
  {
    id: 'mta-sts-skips-testing',
    severity: 'warning',
    summary:
      'With `validate --base`: `mta_sts` becomes enforce without being in testing at the base, so nobody saw the failure reports before senders refuse mail.',
    reference: 'RFC 8461 §5, RFC 8460 §1',
    check({ domain, previous, report }) {
      if (previous === undefined || domain.policy.mtaSts?.mode !== 'enforce') return;
      const before = previous?.policy.mtaSts?.mode;
      if (before === 'testing' || before === 'enforce') return;
      const from = previous === null ? 'a new domain file' : before === undefined ? 'no MTA-STS' : `mode ${before}`;
      report({
        path: ['mta_sts', 'mode'],
        message: `MTA-STS goes from ${from} straight to enforce: senders will refuse MX hosts that fail TLS before any report has shown whether they do`,
        hint: 'Publish mode: testing with tls_reports first, read the TLS reports for a while, then enforce.',
      });
    },
  },
  {
    id: 'mta-sts-weakened',
    severity: 'warning',
    summary:
      'With `validate --base`: `mta_sts` leaves enforce for testing or none, so senders deliver ' +
      'over unverified TLS again. The DNS plan cannot show this (the record holds only the id).',
    reference: 'RFC 8461 §5',
    check({ domain, previous, report }) {
      const now = domain.policy.mtaSts?.mode;
      if (previous?.policy.mtaSts?.mode !== 'enforce' || now === undefined || now === 'enforce') return;
      report({
        path: ['mta_sts', 'mode'],
        message: `MTA-STS goes from enforce to ${now}: senders stop refusing MX hosts that fail TLS (a downgrade an attacker can use)`,
        hint: 'Make sure this is intended, e.g. while an MX certificate is being fixed.',
      });
    },
  },
  {
    id: 'mta-sts-removed-abruptly',
    severity: 'warning',
    summary:
      'With `validate --base`: `mta_sts` in testing or enforce at the base is removed without ' +
      'publishing mode none first, so senders keep the cached policy for up to its max_age.',
    reference: 'RFC 8461 §8.3',
    check({ domain, previous, report }) {
      const before = previous?.policy.mtaSts;
      if (!before || before.mode === 'none' || domain.policy.mtaSts !== undefined) return;
      report({
        path: [],
        atFileStart: true,
        message:
          `mta_sts (mode ${before.mode}, max_age ${before.maxAge}) is removed: senders that ` +
          `cached it keep applying it for up to ${before.maxAge} s and never see a change again`,
        hint: 'Publish mode: none (with a short max_age) first, and remove mta_sts once the old max_age has passed.',
      });
    },
  },
  {
    id: 'mta-sts-id-unchanged',
    severity: 'error',
    summary:
      'The MTA-STS policy file changed but its id did not (an explicit `mta_sts.id`, compared with ' +
      '`validate --base`): senders keep the old policy. Info when an explicit id cannot be compared.',
    reference: 'RFC 8461 §3.1',
    check({ domain, previous, report }) {
      const sts = domain.policy.mtaSts;
      if (!sts) return;
      const before = previous?.policy.mtaSts;
      if (previous === undefined) {
        if (sts.id !== undefined)
          report({
            path: ['mta_sts', 'id'],
            severity: 'info',
            message: 'an explicit id must change with every change of the policy, or senders keep the old one',
            hint: 'Remove mta_sts.id to let dmarcops derive it from the policy; `dmarcops validate --base origin/main` checks it otherwise.',
          });
        return;
      }
      if (!before || formatMtaStsPolicy(before) === formatMtaStsPolicy(sts) || mtaStsId(before) !== mtaStsId(sts)) return;
      report({
        path: sts.id === undefined ? ['mta_sts'] : ['mta_sts', 'id'],
        part: sts.id === undefined ? 'key' : 'value',
        message: `the policy changed but its id is still ${mtaStsId(sts)}: senders that cached the old policy never fetch the new one`,
        hint: 'Change mta_sts.id, or remove it so dmarcops derives the id from the policy.',
      });
    },
  },
  {
    id: 'mta-sts-mx-not-covered',
    severity: 'error',
    summary:
      'With `validate --live-dns`: an MX host of the domain matches no `mta_sts.mx` pattern (an error in enforce mode, ' +
      'where senders refuse it; a warning in testing), a pattern matches no MX host (info), or the domain has no MX at all.',
    reference: 'RFC 8461 §4.1, §5',
    check({ domain, liveMx, report }) {
      const sts = domain.policy.mtaSts;
      if (!sts || liveMx === undefined || sts.mode === 'none') return;
      if (liveMx.status === 'error') {
        report({
          path: ['mta_sts', 'mx'],
          part: 'key',
          severity: 'warning',
          message: `cannot look up the MX records of ${domain.policy.domain}: ${liveMx.code}`,
        });
        return;
      }
      if (liveMx.status !== 'found') {
        report({
          path: ['mta_sts', 'mx'],
          part: 'key',
          severity: 'warning',
          message: `${domain.policy.domain} has no MX records (${liveMx.status}): senders deliver to its address records, and MTA-STS has no MX to protect`,
        });
        return;
      }
      const coverage = mxCoverage(sts.mx, liveMx.exchanges);
      if (coverage.nullMx) {
        report({
          path: ['mta_sts', 'mode'],
          severity: 'warning',
          message: `${domain.policy.domain} publishes a null MX (RFC 7505): it accepts no mail, so an MTA-STS policy protects nothing`,
        });
        return;
      }
      for (const host of coverage.unmatchedHosts) {
        const enforce = sts.mode === 'enforce';
        report({
          path: ['mta_sts', 'mx'],
          part: 'key',
          severity: enforce ? 'error' : 'warning',
          message:
            `MX host ${host} matches no mta_sts.mx ` +
            `pattern: ${enforce ? 'senders refuse to deliver to it' : 'in enforce mode senders would refuse to deliver to it'}`,
          hint: `Add ${host} (or a *. pattern covering it) to mta_sts.mx.`,
        });
      }
      for (const pattern of coverage.unusedPatterns) {
        report({
          path: ['mta_sts', 'mx', sts.mx.indexOf(pattern)],
          severity: 'info',
          message: `mx ${pattern} matches none of the MX hosts DNS lists now (${liveMx.exchanges.join(', ')})`,
        });
      }
    },
  },
  {
    id: 'no-owners',
    severity: 'warning',
    summary: 'No `owners`: CODEOWNERS falls back to the `admins`, so nobody responsible for the domain has to approve changes.',
    reference: 'dmarcops (GitHub CODEOWNERS)',
    check({ domain, report }) {
      if (domain.policy.owners.length === 0)
        report({
          path: ['owners'],
          part: 'key',
          message: 'no owners: only the admins of the repository approve changes to this policy',
          hint: 'Add owners: [@org/mail-admins] here or in domains/_defaults.yaml.',
        });
    },
  },
];

/** Run every lint rule over every loaded domain. */
export function lintDomains(domains: readonly LoadedDomain[], rules: readonly LintRule[] = LINT_RULES, extras: LintExtras = {}): Finding[] {
  const findings: Finding[] = [];
  for (const domain of domains) {
    const context: Omit<RuleContext, 'report'> = { domain, all: domains };
    if (extras.base !== undefined) context.previous = extras.base.find((old) => old.policy.domain === domain.policy.domain) ?? null;
    const liveMx = extras.liveMx?.get(domain.policy.domain);
    if (liveMx !== undefined) context.liveMx = liveMx;
    for (const rule of rules) {
      rule.check({
        ...context,
        report(issue) {
          const at = issue.atFileStart ? { file: domain.policy.file, line: 1, col: 1 } : domain.locate(issue.path, issue.part ?? 'value');
          const finding: Finding = { rule: rule.id, severity: issue.severity ?? rule.severity, message: issue.message, ...at };
          if (issue.hint) finding.hint = issue.hint;
          findings.push(finding);
        },
      });
    }
  }
  return findings;
}

function organizationalOf(domain: LoadedDomain): string | null {
  return organizationalDomain(domain.policy.domain);
}

/** Names of every record the fleet publishes, computed once per lint run (not once per domain). */
const publishedCache = new WeakMap<readonly LoadedDomain[], ReadonlySet<string>>();
function publishedNames(all: readonly LoadedDomain[]): ReadonlySet<string> {
  let names = publishedCache.get(all);
  if (!names) {
    names = new Set(managedRecords(all.map((domain) => domain.policy)).map((record) => record.name));
    publishedCache.set(all, names);
  }
  return names;
}

/** Why an IP or CIDR written in `ips:` is not usable, or null when it is fine. */
export function cidrProblem(value: string): string | null {
  const [address = '', prefix, ...rest] = value.split('/');
  if (rest.length > 0) return 'more than one /';
  const version = isIP(address);
  if (version === 0) return 'not an IPv4 or IPv6 address';
  if (prefix === undefined) return null;
  const bits = Number(prefix);
  const max = version === 4 ? 32 : 128;
  if (!/^\d{1,3}$/.test(prefix) || bits > max) return `prefix length must be 0–${max}`;
  return null;
}
