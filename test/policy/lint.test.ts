import { describe, expect, test } from 'vitest';
import { LINT_RULES, SCHEMA_RULES, cidrProblem, lintDomains } from '../../scripts/policy/lint.ts';
import type { LintExtras } from '../../scripts/policy/lint.ts';
import { loadDomainTexts } from '../../scripts/policy/load.ts';
import type { Finding } from '../../scripts/policy/model.ts';
import type { MxLookup } from '../../scripts/policy/mx.ts';

const DEFAULTS = 'owners: ["@org/mail"]\ndns: {provider: cloudflare}\n';

/** Load files (name → YAML) with the standard defaults and return every finding. */
const SCHEMA_LINE = '\n# yaml-language-server: $schema=../scripts/policy/domain.schema.json\n';

function load(files: Record<string, string>, defaults = DEFAULTS) {
  return loadDomainTexts(
    // The schema modeline goes last, so line numbers in the cases below stay those of the snippet.
    Object.entries(files).map(([file, text]) => ({ file, text: text.startsWith('#') ? text : `${text}${SCHEMA_LINE}` })),
    { file: 'domains/_defaults.yaml', text: defaults },
  );
}

/** `base`: the files at a base ref (validate --base); `liveMx`: MX answers by domain (validate --live-dns). */
function check(
  files: Record<string, string>,
  defaults = DEFAULTS,
  options: { base?: Record<string, string>; liveMx?: Record<string, MxLookup> } = {},
): Finding[] {
  const loaded = load(files, defaults);
  const extras: LintExtras = {};
  if (options.base !== undefined) extras.base = load(options.base, defaults).domains;
  if (options.liveMx !== undefined) extras.liveMx = new Map(Object.entries(options.liveMx));
  return [...loaded.findings, ...lintDomains(loaded.domains, undefined, extras)];
}

const at = (findings: Finding[], rule: string) =>
  findings.filter((finding) => finding.rule === rule).map((finding) => `${finding.file}:${finding.line}:${finding.col}`);

// One case per rule: the files, and where the rule must fire (file:line:col).
const MTA = 'policy: reject\nreports: [r@a.com]\ntls_reports: [t@a.com]\n';
const CASES: {
  rule: string;
  files: Record<string, string>;
  expected: string[];
  defaults?: string;
  base?: Record<string, string>;
  liveMx?: Record<string, MxLookup>;
}[] = [
  { rule: 'yaml-syntax', files: { 'd/a.com.yaml': 'policy: reject\n  reports: [x\n' }, expected: ['d/a.com.yaml:1:9'] },
  { rule: 'duplicate-key', files: { 'd/a.com.yaml': 'policy: none\npolicy: reject\n' }, expected: ['d/a.com.yaml:2:1'] },
  {
    rule: 'unknown-key',
    files: { 'd/a.com.yaml': 'policy: none\nreports: [r@a.com]\nalignment:\n  dkim: strict\n  spff: relaxed\n' },
    expected: ['d/a.com.yaml:5:3'],
  },
  {
    rule: 'invalid-value',
    files: { 'd/a.com.yaml': 'policy: none\nreports: [r@a.com]\nalignment: {dkim: stric}\n' },
    expected: ['d/a.com.yaml:3:19'],
  },
  { rule: 'invalid-type', files: { 'd/a.com.yaml': 'policy: none\nreports: r@a.com\n' }, expected: ['d/a.com.yaml:2:10'] },
  {
    rule: 'missing-key',
    files: { 'd/a.com.yaml': 'policy: none\nreports: [r@a.com]\nsenders:\n  - type: ESP\n' },
    expected: ['d/a.com.yaml:4:5'],
  },
  { rule: 'missing-policy', files: { 'd/a.com.yaml': 'reports: [r@a.com]\n' }, expected: ['d/a.com.yaml:1:1'] },
  {
    rule: 'failure-reports-refused',
    files: { 'd/a.com.yaml': 'policy: none\nreports: [r@a.com]\nfo: "1"\n' },
    expected: ['d/a.com.yaml:3:1'],
  },
  {
    rule: 'admins-outside-defaults',
    files: { 'd/a.com.yaml': 'policy: none\nreports: [r@a.com]\nadmins: ["@org/admins"]\n' },
    expected: ['d/a.com.yaml:3:1'],
  },
  {
    rule: 'defaults-domain',
    files: { 'd/a.com.yaml': 'policy: none\nreports: [r@a.com]\n' },
    defaults: 'domain: a.com\n',
    expected: ['domains/_defaults.yaml:1:1'],
  },
  {
    rule: 'file-name-mismatch',
    files: { 'd/a.com.yaml': 'domain: b.com\npolicy: none\nreports: [r@a.com]\n' },
    expected: ['d/a.com.yaml:1:9'],
  },
  {
    rule: 'duplicate-domain',
    files: { 'd/a.com.yaml': 'policy: none\nreports: [r@a.com]\n', 'd/A.com.yml': 'policy: none\nreports: [r@a.com]\n' },
    expected: ['d/a.com.yaml:1:1', 'd/A.com.yml:1:1'],
  },
  {
    rule: 'dns-zone-mismatch',
    files: { 'd/a.com.yaml': 'policy: none\nreports: [r@a.com]\ndns: {zone: b.com}\n' },
    expected: ['d/a.com.yaml:3:13'],
  },
  { rule: 'policy-none', files: { 'd/a.com.yaml': 'policy: none\nreports: [r@a.com]\n' }, expected: ['d/a.com.yaml:1:9'] },
  {
    rule: 'subdomain-policy-weaker',
    files: { 'd/a.com.yaml': 'policy: reject\nsubdomain_policy: none\nreports: [r@a.com]\nsenders: []\n' },
    expected: ['d/a.com.yaml:2:19'],
  },
  {
    rule: 'nonexistent-policy-weaker',
    files: { 'd/a.com.yaml': 'policy: reject\nnonexistent_subdomain_policy: quarantine\nreports: [r@a.com]\n' },
    expected: ['d/a.com.yaml:2:31'],
  },
  {
    rule: 'testing-with-reject',
    files: { 'd/a.com.yaml': 'policy: reject\ntesting: true\nreports: [r@a.com]\n' },
    expected: ['d/a.com.yaml:2:10'],
  },
  {
    rule: 'testing-without-effect',
    files: { 'd/a.com.yaml': 'policy: none\ntesting: true\nreports: [r@a.com]\n' },
    expected: ['d/a.com.yaml:2:10'],
  },
  {
    rule: 'percent-deprecated',
    files: { 'd/a.com.yaml': 'policy: quarantine\npercent: 50\nreports: [r@a.com]\n' },
    expected: ['d/a.com.yaml:2:10'],
  },
  {
    rule: 'percent-with-testing',
    files: { 'd/a.com.yaml': 'policy: quarantine\ntesting: true\npercent: 20\nreports: [r@a.com]\n' },
    expected: ['d/a.com.yaml:3:10'],
  },
  {
    rule: 'report-interval-deprecated',
    files: { 'd/a.com.yaml': 'policy: none\nreport_interval: 3600\nreports: [r@a.com]\n' },
    expected: ['d/a.com.yaml:2:18'],
  },
  { rule: 'no-reports', files: { 'd/a.com.yaml': 'policy: none\nreports: []\n' }, expected: ['d/a.com.yaml:2:1'] },
  {
    rule: 'too-many-report-destinations',
    files: { 'd/a.com.yaml': 'policy: none\nreports: [r@a.com, s@a.com, t@a.com]\n' },
    expected: ['d/a.com.yaml:2:29'],
  },
  {
    rule: 'duplicate-report-destination',
    files: { 'd/a.com.yaml': 'policy: none\nreports:\n  - r@a.com\n  - mailto:r@a.com\n' },
    expected: ['d/a.com.yaml:4:5'],
  },
  {
    rule: 'report-size-deprecated',
    files: {
      'd/a.com.yaml':
        'policy: none\nreports:\n  - mailbox: r@a.com\n    max_size: 20m\n  - mailbox: s@a.com\n    max_size: "99999999999999999999t"\n',
    },
    expected: ['d/a.com.yaml:4:15', 'd/a.com.yaml:6:15'],
  },
  {
    rule: 'subdomain-policy-without-effect',
    files: { 'd/x.a.com.yaml': 'policy: reject\nsubdomain_policy: reject\nreports: [r@a.com]\n' },
    expected: ['d/x.a.com.yaml:2:1'],
  },
  {
    rule: 'subdomain-of-managed-domain',
    files: { 'd/a.com.yaml': 'policy: reject\nreports: [r@a.com]\n', 'd/x.a.com.yaml': 'policy: quarantine\nreports: [r@a.com]\n' },
    expected: ['d/x.a.com.yaml:1:9'],
  },
  {
    rule: 'public-suffix-role',
    files: { 'd/a.com.yaml': 'policy: reject\ndomain_role: public_suffix\nreports: [r@a.com]\n' },
    expected: ['d/a.com.yaml:2:14'],
  },
  {
    rule: 'reject-with-mailing-list-users',
    files: { 'd/a.com.yaml': 'policy: reject\nmailing_list_users: true\nreports: [r@a.com]\n' },
    expected: ['d/a.com.yaml:1:9'],
  },
  {
    rule: 'reject-without-dkim',
    files: { 'd/a.com.yaml': 'policy: reject\nreports: [r@a.com]\nsenders:\n  - name: Printer\n    ips: [192.0.2.1]\n' },
    expected: ['d/a.com.yaml:4:11'],
  },
  {
    rule: 'sender-dkim-unaligned',
    files: { 'd/a.com.yaml': 'policy: none\nreports: [r@a.com]\nsenders:\n  - name: ESP\n    dkim:\n      - domain: esp.example\n' },
    expected: ['d/a.com.yaml:6:17'],
  },
  {
    rule: 'sender-invalid-ip',
    files: {
      'd/a.com.yaml': 'policy: none\nreports: [r@a.com]\nsenders:\n  - name: Relay\n    ips: [192.0.2.1/33, "2001:db8::/48", 999.1.1.1]\n',
    },
    expected: ['d/a.com.yaml:5:11', 'd/a.com.yaml:5:42'],
  },
  {
    rule: 'sender-duplicate-name',
    files: { 'd/a.com.yaml': 'policy: none\nreports: [r@a.com]\nsenders:\n  - name: ESP\n  - name: esp\n' },
    expected: ['d/a.com.yaml:5:11'],
  },
  {
    rule: 'parked-not-reject',
    files: { 'd/a.com.yaml': 'policy: quarantine\nparked: true\nreports: [r@a.com]\n' },
    expected: ['d/a.com.yaml:1:9'],
  },
  {
    rule: 'parked-with-senders',
    files: { 'd/a.com.yaml': 'policy: reject\nparked: true\nreports: [r@a.com]\nsenders:\n  - name: ESP\n    dkim: [{domain: a.com}]\n' },
    expected: ['d/a.com.yaml:4:1'],
  },
  {
    rule: 'schema-comment-missing',
    files: { 'd/a.com.yaml': '# no schema line\npolicy: none\nreports: [r@a.com]\n' },
    expected: ['d/a.com.yaml:1:1'],
  },
  {
    rule: 'external-report-destination',
    files: {
      'd/a.com.yaml': 'policy: none\nreports:\n  - r@a.com\n  - rua@vendor.example\n',
      'd/b.com.yaml': 'policy: none\nreports: [r@a.com]\n',
    },
    expected: ['d/a.com.yaml:4:5', 'd/b.com.yaml:2:11'],
  },
  {
    rule: 'report-authorization-name-too-long',
    files: {
      [`d/${'x'.repeat(60)}.${'y'.repeat(60)}.${'z'.repeat(60)}.com.yaml`]: `policy: none\nreports: [r@${'v'.repeat(50)}.example]\n`,
    },
    expected: [`d/${'x'.repeat(60)}.${'y'.repeat(60)}.${'z'.repeat(60)}.com.yaml:2:11`],
  },
  {
    rule: 'record-split',
    files: {
      'd/a.com.yaml': `policy: none\nreports:\n${Array.from({ length: 8 }, (_, index) => `  - dmarc-aggregate-reports-${index}@a.com\n`).join('')}`,
    },
    expected: ['d/a.com.yaml:2:1'],
  },
  {
    rule: 'tree-walk-disagrees',
    files: {
      'd/a.com.yaml': 'policy: reject\nreports: [r@a.com]\n',
      'd/mail.a.com.yaml': 'policy: reject\ndomain_role: organizational\nreports: [r@a.com]\n',
    },
    expected: ['d/mail.a.com.yaml:2:14'],
  },
  { rule: 'no-owners', files: { 'd/a.com.yaml': 'policy: none\nreports: [r@a.com]\nowners: []\n' }, expected: ['d/a.com.yaml:3:1'] },
  { rule: 'mta-sts-mx-missing', files: { 'd/a.com.yaml': `${MTA}mta_sts: {mode: testing}\n` }, expected: ['d/a.com.yaml:4:1'] },
  {
    rule: 'mta-sts-mx-invalid',
    files: {
      'd/a.com.yaml': `${MTA}mta_sts:\n  mode: testing\n  mx:\n    - mx1.a.com\n    - "mx*.a.com"\n    - "*.com"\n    - 192.0.2.25\n`,
    },
    expected: ['d/a.com.yaml:8:7', 'd/a.com.yaml:9:7', 'd/a.com.yaml:10:7'],
  },
  {
    rule: 'mta-sts-max-age-short',
    files: {
      'd/a.com.yaml': `${MTA}mta_sts:\n  mode: enforce\n  mx: [mx.a.com]\n  max_age: 86400\n`,
      'd/b.com.yaml': `${MTA}mta_sts:\n  mode: testing\n  mx: [mx.b.com]\n  max_age: 86400\n`,
    },
    expected: ['d/a.com.yaml:7:12'],
  },
  {
    rule: 'mta-sts-without-tls-reports',
    files: { 'd/a.com.yaml': 'policy: reject\nreports: [r@a.com]\nmta_sts:\n  mode: enforce\n  mx: [mx.a.com]\n' },
    expected: ['d/a.com.yaml:4:9'],
  },
  {
    rule: 'mta-sts-mode-none',
    files: { 'd/a.com.yaml': `${MTA}mta_sts: {mode: none, max_age: 86400}\n` },
    expected: ['d/a.com.yaml:4:17'],
  },
  {
    rule: 'mta-sts-skips-testing',
    files: {
      'd/a.com.yaml': `${MTA}mta_sts:\n  mode: enforce\n  mx: [mx.a.com]\n`,
      'd/b.com.yaml': `${MTA}mta_sts:\n  mode: enforce\n  mx: [mx.b.com]\n`,
    },
    base: { 'd/a.com.yaml': MTA, 'd/b.com.yaml': `${MTA}mta_sts:\n  mode: testing\n  mx: [mx.b.com]\n` },
    expected: ['d/a.com.yaml:5:9'],
  },
  {
    rule: 'mta-sts-weakened',
    files: { 'd/a.com.yaml': `${MTA}mta_sts:\n  mode: testing\n  mx: [mx.a.com]\n` },
    base: { 'd/a.com.yaml': `${MTA}mta_sts:\n  mode: enforce\n  mx: [mx.a.com]\n` },
    expected: ['d/a.com.yaml:5:9'],
  },
  {
    rule: 'mta-sts-removed-abruptly',
    files: { 'd/a.com.yaml': MTA, 'd/b.com.yaml': MTA },
    base: { 'd/a.com.yaml': `${MTA}mta_sts:\n  mode: enforce\n  mx: [mx.a.com]\n`, 'd/b.com.yaml': `${MTA}mta_sts: {mode: none}\n` },
    expected: ['d/a.com.yaml:1:1'],
  },
  {
    rule: 'mta-sts-id-unchanged',
    files: {
      'd/a.com.yaml': `${MTA}mta_sts:\n  mode: enforce\n  mx: [mx.a.com]\n  id: v1\n`,
      'd/b.com.yaml': `${MTA}mta_sts:\n  mode: enforce\n  mx: [mx.b.com]\n`,
    },
    base: {
      'd/a.com.yaml': `${MTA}mta_sts:\n  mode: testing\n  mx: [mx.a.com]\n  id: v1\n`,
      'd/b.com.yaml': `${MTA}mta_sts:\n  mode: testing\n  mx: [mx.b.com]\n`,
    },
    expected: ['d/a.com.yaml:7:7'],
  },
  {
    rule: 'mta-sts-mx-not-covered',
    files: { 'd/a.com.yaml': `${MTA}mta_sts:\n  mode: enforce\n  mx:\n    - mx1.a.com\n    - "*.old.a.com"\n` },
    liveMx: { 'a.com': { status: 'found', exchanges: ['mx1.a.com', 'mx2.mail-host.example'] } },
    expected: ['d/a.com.yaml:6:3', 'd/a.com.yaml:8:7'],
  },
];

describe('every rule fires where it should', () => {
  test.for(CASES)('$rule', ({ rule, files, expected, defaults, base, liveMx }) => {
    expect(at(check(files, defaults, { ...(base && { base }), ...(liveMx && { liveMx }) }), rule)).toEqual(expected);
  });

  test('every documented rule has a case here', () => {
    const covered = new Set(CASES.map((entry) => entry.rule));
    const missing = [...SCHEMA_RULES, ...LINT_RULES].map((rule) => rule.id).filter((id) => !covered.has(id));
    expect(missing).toEqual([]);
  });
});

describe('admins: in the defaults file', () => {
  test('a list of users and teams loads without findings; an empty list is an error', () => {
    const files = { 'd/a.com.yaml': 'policy: none\nreports: [r@a.com]\n' };
    expect(check(files, `${DEFAULTS}admins: ["@org/admins", "@carol"]\n`).filter((finding) => finding.severity !== 'info')).toEqual([]);
    const empty = check(files, `${DEFAULTS}admins: []\n`).filter((finding) => finding.severity === 'error');
    expect(empty.map((finding) => [finding.rule, `${finding.line}:${finding.col}`, finding.message])).toEqual([
      ['invalid-value', '3:9', '`admins` needs at least 1 entry'],
    ]);
  });
});

describe('rules stay quiet on good files', () => {
  test('a well-formed reject domain has no warnings or errors', () => {
    const findings = check({
      'd/a.com.yaml':
        'policy: reject\nsubdomain_policy: reject\nreports: [r@a.com]\nalignment: {dkim: strict}\n' +
        'senders:\n  - name: Google Workspace\n    dkim: [{domain: a.com, selector: google}]\n',
    });
    expect(findings.filter((finding) => finding.severity !== 'info')).toEqual([]);
  });

  test('a subdomain that sets domain_role: organizational may set subdomain_policy', () => {
    const findings = check({
      'd/x.a.com.yaml': 'policy: reject\nsubdomain_policy: reject\ndomain_role: organizational\nreports: [r@a.com]\n',
    });
    expect(at(findings, 'subdomain-policy-without-effect')).toEqual([]);
  });

  test('a lone subdomain does not make the tree walk "disagree": its parent may publish a record elsewhere', () => {
    expect(at(check({ 'd/shop.a.co.uk.yaml': 'policy: reject\nreports: [r@a.co.uk]\n' }), 'tree-walk-disagrees')).toEqual([]);
  });

  test('a value inherited from the defaults is reported at the defaults file', () => {
    const findings = check({ 'd/a.com.yaml': 'policy: none\nreports: [r@a.com]\n' }, 'percent: 50\nowners: ["@o/t"]\n');
    expect(at(findings, 'percent-deprecated')).toEqual(['domains/_defaults.yaml:1:10']);
  });
});

test('a YAML alias bomb is refused with a finding on that file, not a crash', () => {
  const levels = ['a: &a [x, x, x, x, x, x, x, x, x]'];
  for (let index = 1; index < 9; index += 1) {
    const name = String.fromCharCode(97 + index);
    const previous = String.fromCharCode(96 + index);
    levels.push(`${name}: &${name} [${Array(9).fill(`*${previous}`).join(', ')}]`);
  }
  const findings = check({ 'd/bomb.com.yaml': `${levels.join('\n')}\npolicy: none\n` });
  expect(findings.map((finding) => `${finding.rule} ${finding.file}:${finding.line}`)).toEqual(['yaml-syntax d/bomb.com.yaml:1']);
  expect(findings[0]?.message).toMatch(/alias/);
});

describe('messages say what to do', () => {
  test('a DMARC tag name as a key points at the domain file key', () => {
    const [finding] = check({ 'd/a.com.yaml': 'p: reject\npolicy: none\nreports: [r@a.com]\n' }).filter(
      (entry) => entry.rule === 'unknown-key',
    );
    expect(finding?.message).toContain('did you mean `policy`');
  });

  test('a typo in a value suggests the closest allowed value', () => {
    const [finding] = check({ 'd/a.com.yaml': 'policy: quarantaine\nreports: [r@a.com]\n' }).filter(
      (entry) => entry.rule === 'invalid-value',
    );
    expect(finding?.message).toBe('`policy` must be one of none, quarantine, reject, not `quarantaine`; did you mean `quarantine`?');
  });

  test('ruf is refused with the reason', () => {
    const [finding] = check({ 'd/a.com.yaml': 'policy: none\nreports: [r@a.com]\nruf: [f@a.com]\n' });
    expect(finding?.rule).toBe('failure-reports-refused');
    expect(finding?.message).toMatch(/personal data/);
  });
});

test('cidrProblem accepts addresses and ranges and explains the rest', () => {
  expect(cidrProblem('192.0.2.0/24')).toBeNull();
  expect(cidrProblem('2001:db8::/32')).toBeNull();
  expect(cidrProblem('2001:db8::/129')).toBe('prefix length must be 0–128');
  expect(cidrProblem('10.0.0.1/8/8')).toBe('more than one /');
  expect(cidrProblem('example.com')).toBe('not an IPv4 or IPv6 address');
});
