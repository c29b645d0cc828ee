/**
 * Reading domain files: YAML with positions → schema check → defaults merged → `DomainPolicy`.
 * `loadDomainTexts` is pure (texts in, policies and findings out); `loadDomainDir` is the I/O edge.
 */
import { readdir, readFile } from 'node:fs/promises';
import { basename, join, relative } from 'node:path';
import type {
  AlignmentMode,
  Disposition,
  DnsProviderName,
  DomainPolicy,
  Finding,
  MtaStsMode,
  MtaStsPolicy,
  PsdFlag,
  ReportUri,
  Sender,
} from './model.ts';
import { DEFAULT_MAX_AGE } from './mtasts.ts';
import { organizationalDomain, parseDomainName } from '../lib/dns-name.ts';
import { checkSchema } from './schema.ts';
import { hasPath, locateInSource, parseYamlSource } from './source.ts';
import type { Located, YamlPath, YamlSource } from './source.ts';
import { isPlainObject } from '../lib/collections.ts';
import { DmarcopsError } from '../lib/errors.ts';

export const DEFAULTS_FILE_NAME = '_defaults.yaml';
/** What a domain gets when neither its file nor the defaults file says otherwise. */
export const BUILT_IN_DNS = { provider: 'manual', ttl: 3600 } as const;

/** A domain file as written (snake_case keys, per domain.schema.json). */
export interface DomainFileSpec {
  domain?: string;
  policy?: Disposition;
  subdomain_policy?: Disposition;
  nonexistent_subdomain_policy?: Disposition;
  alignment?: { dkim?: 'relaxed' | 'strict'; spf?: 'relaxed' | 'strict' };
  testing?: boolean;
  percent?: number;
  domain_role?: 'organizational' | 'public_suffix' | 'unknown';
  reports?: (string | { mailbox: string; max_size?: string })[];
  report_interval?: number;
  mailing_list_users?: boolean;
  parked?: boolean;
  dns?: { provider?: DnsProviderName; zone?: string; ttl?: number };
  owners?: string[];
  /** Only in the defaults file: who owns everything but the domain files (CODEOWNERS). */
  admins?: string[];
  senders?: { name: string; type?: string; ips?: string[]; spf_includes?: string[]; dkim?: { domain: string; selector?: string }[] }[];
  /** MTA-STS (RFC 8461); `mode` is required once the defaults are merged. */
  mta_sts?: { mode?: MtaStsMode; mx?: string[]; max_age?: number; id?: string };
  /** TLS report destinations (RFC 8460): mailboxes or https URLs. */
  tls_reports?: string[];
}

export interface TextFile {
  file: string;
  text: string;
}

/** A domain file that loaded: its policy, the merged spec, and where each key was written. */
export interface LoadedDomain {
  policy: DomainPolicy;
  spec: DomainFileSpec;
  /** Position of a key or value, in the domain file or, when inherited, in the defaults file. */
  locate(path: YamlPath, part?: 'key' | 'value'): Located;
  /** True when the domain file itself sets this path (rather than inheriting it). */
  setsOwn(path: YamlPath): boolean;
  /** The file's text as read. */
  text: string;
}

export interface LoadResult {
  domains: LoadedDomain[];
  findings: Finding[];
  /** Every file read, with its text, for code frames under findings. */
  texts: Map<string, string>;
  /** The defaults file as written ({} when there is none or it has schema errors). */
  defaults: DomainFileSpec;
}

export function isDomainFileName(name: string): boolean {
  return /\.ya?ml$/i.test(name) && !name.startsWith('_') && !name.startsWith('.');
}

export async function loadDomainDir(dir: string, extraFiles: string[] = []): Promise<LoadResult> {
  let names: string[];
  try {
    names = (await readdir(dir)).sort();
  } catch (error) {
    throw new DmarcopsError('domains-unreadable', `cannot read the domains folder ${dir}: ${(error as Error).message}`, { cause: error });
  }
  const read = async (path: string): Promise<TextFile> => ({
    file: relative(process.cwd(), path) || path,
    text: await readFile(path, 'utf8'),
  });
  const defaults = names.includes(DEFAULTS_FILE_NAME) ? await read(join(dir, DEFAULTS_FILE_NAME)) : undefined;
  const paths = names.filter(isDomainFileName).map((name) => join(dir, name));
  const files = await Promise.all(paths.map(read));
  for (const extra of extraFiles) {
    const file = await read(extra);
    if (!files.some((known) => known.file === file.file)) files.push(file);
  }
  return loadDomainTexts(files, defaults);
}

export function loadDomainTexts(files: TextFile[], defaults?: TextFile): LoadResult {
  const findings: Finding[] = [];
  const texts = new Map<string, string>();
  let defaultsSource: YamlSource | undefined;
  let defaultsSpec: DomainFileSpec = {};
  if (defaults) {
    texts.set(defaults.file, defaults.text);
    const parsed = parseYamlSource(defaults.text, defaults.file);
    findings.push(...parsed.findings);
    defaultsSource = parsed.source;
    const data = toData(parsed.source, findings);
    const problems = parsed.findings.length > 0 || data === undefined ? [] : checkSchema(data);
    for (const problem of problems) findings.push(placeProblem(problem, parsed.source));
    if (isPlainObject(data) && 'domain' in data) {
      findings.push({
        rule: 'defaults-domain',
        severity: 'error',
        message: 'the defaults file cannot set `domain`: it applies to every domain',
        ...locateOrStart(parsed.source, ['domain'], 'key'),
      });
    }
    if (problems.length === 0 && isPlainObject(data)) defaultsSpec = data as DomainFileSpec;
  }

  const domains: LoadedDomain[] = [];
  for (const { file, text } of files) {
    texts.set(file, text);
    const parsed = parseYamlSource(text, file);
    findings.push(...parsed.findings);
    if (parsed.findings.length > 0) continue;
    const data = toData(parsed.source, findings);
    if (data === undefined) continue;
    if (!isPlainObject(data)) {
      findings.push({
        rule: 'invalid-type',
        severity: 'error',
        message: 'a domain file must be a mapping of keys to values',
        ...locateOrStart(parsed.source, [], 'value'),
      });
      continue;
    }
    const problems = checkSchema(data);
    for (const problem of problems) findings.push(placeProblem(problem, parsed.source));
    if ('admins' in data) {
      findings.push({
        rule: 'admins-outside-defaults',
        severity: 'error',
        message: 'only the defaults file can set `admins`: they own the whole repository, not one domain',
        hint: `Move it to ${DEFAULTS_FILE_NAME}, or list these people under \`owners:\` to let them approve this domain.`,
        ...locateOrStart(parsed.source, ['admins'], 'key'),
      });
    }
    if (problems.some((problem) => problem.severity === 'error')) continue;

    const spec = mergeSpecs(defaultsSpec, data as DomainFileSpec);
    const source = parsed.source;
    const locate = (path: YamlPath, part: 'key' | 'value' = 'value'): Located => {
      if (defaultsSource && !hasPath(source, path.slice(0, 1)) && hasPath(defaultsSource, path.slice(0, 1))) {
        return locateOrStart(defaultsSource, path, part);
      }
      return locateOrStart(source, path, part);
    };
    if (spec.policy === undefined) {
      findings.push({
        rule: 'missing-policy',
        severity: 'error',
        message: 'no `policy` here or in the defaults file',
        hint: 'Add `policy: none` to start monitoring; move to quarantine, then reject, once the dashboard shows your own mail passing.',
        ...locate([], 'value'),
      });
      continue;
    }
    if (spec.mta_sts !== undefined && spec.mta_sts.mode === undefined) {
      findings.push({
        rule: 'missing-key',
        severity: 'error',
        message: '`mta_sts` needs `mode` (here or in the defaults file)',
        hint: 'Start with `mode: testing` and `tls_reports:`; move to enforce once the TLS reports show no failures.',
        ...locate(['mta_sts'], 'key'),
      });
    }
    domains.push({ policy: toDomainPolicy(spec, file), spec, locate, setsOwn: (path) => hasPath(source, path), text });
  }
  return { domains, findings, texts, defaults: defaultsSpec };
}

/** The document as plain data; undefined (with a finding) when aliases expand past the yaml library's limit. */
function toData(source: YamlSource, findings: Finding[]): unknown {
  try {
    return source.doc.toJS({ maxAliasCount: 100 }) ?? {};
  } catch (error) {
    findings.push({
      rule: 'yaml-syntax',
      severity: 'error',
      message: `cannot read this YAML: ${(error as Error).message}`,
      file: source.file,
      line: 1,
      col: 1,
    });
    return undefined;
  }
}

/** A schema problem placed at its key or value in the file (the closest existing ancestor when missing). */
export function placeProblem(
  problem: { rule: string; severity: Finding['severity']; path: YamlPath; part: 'key' | 'value'; message: string; hint?: string },
  source: YamlSource,
): Finding {
  const finding: Finding = {
    rule: problem.rule,
    severity: problem.severity,
    message: problem.message,
    ...locateOrStart(source, problem.path, problem.part),
  };
  if (problem.hint) finding.hint = problem.hint;
  return finding;
}

function locateOrStart(source: YamlSource, path: YamlPath, part: 'key' | 'value'): Located {
  return locateInSource(source, path, part) ?? { file: source.file, line: 1, col: 1 };
}

/** Defaults first, the domain file on top; mappings merge key by key, lists and values replace. */
export function mergeSpecs(defaults: DomainFileSpec, own: DomainFileSpec): DomainFileSpec {
  const merged: Record<string, unknown> = { ...defaults };
  for (const [key, value] of Object.entries(own)) {
    const base = merged[key];
    merged[key] = isPlainObject(base) && isPlainObject(value) ? { ...base, ...value } : value;
  }
  return merged as DomainFileSpec;
}

/** The domain a file describes: its `domain:` key, else its file name. */
export function domainOfFile(file: string, spec: Pick<DomainFileSpec, 'domain'>): string {
  return (spec.domain ?? basename(file).replace(/\.ya?ml$/i, '')).toLowerCase().replace(/\.$/, '');
}

function toDomainPolicy(spec: DomainFileSpec, file: string): DomainPolicy {
  const domain = domainOfFile(file, spec);
  const policy: DomainPolicy = {
    domain,
    p: spec.policy ?? 'none',
    adkim: alignmentTag(spec.alignment?.dkim),
    aspf: alignmentTag(spec.alignment?.spf),
    testing: spec.testing ?? false,
    rua: (spec.reports ?? []).map(toReportUri),
    dns: {
      provider: spec.dns?.provider ?? BUILT_IN_DNS.provider,
      zone: (spec.dns?.zone ?? organizationalDomain(parseDomainName(domain)) ?? domain).toLowerCase(),
      ttl: spec.dns?.ttl ?? BUILT_IN_DNS.ttl,
    },
    owners: spec.owners ?? [],
    senders: (spec.senders ?? []).map(toSender),
    file,
  };
  if (spec.subdomain_policy) policy.sp = spec.subdomain_policy;
  if (spec.nonexistent_subdomain_policy) policy.np = spec.nonexistent_subdomain_policy;
  if (spec.percent !== undefined) policy.pct = spec.percent;
  const psd = psdFlag(spec.domain_role);
  if (psd) policy.psd = psd;
  if (spec.report_interval !== undefined) policy.ri = spec.report_interval;
  const mtaSts = toMtaSts(spec.mta_sts);
  if (mtaSts) policy.mtaSts = mtaSts;
  if (spec.tls_reports !== undefined) policy.tlsRpt = spec.tls_reports.map(tlsReportUri);
  return policy;
}

function toMtaSts(spec: DomainFileSpec['mta_sts']): MtaStsPolicy | undefined {
  if (spec?.mode === undefined) return undefined;
  // Host names are case-insensitive; lower case keeps the policy file (and its id) the same however they are typed.
  const policy: MtaStsPolicy = {
    mode: spec.mode,
    mx: (spec.mx ?? []).map((pattern) => pattern.toLowerCase()),
    maxAge: spec.max_age ?? DEFAULT_MAX_AGE,
  };
  if (spec.id !== undefined) policy.id = spec.id;
  return policy;
}

/** A `tls_reports` entry as a URI (RFC 8460 §3): an https URL as written, an address as `mailto:…`. */
export function tlsReportUri(entry: string): string {
  return /^https:\/\//i.test(entry) ? entry : mailboxToUri(entry);
}

function alignmentTag(mode: 'relaxed' | 'strict' | undefined): AlignmentMode {
  return mode === 'strict' ? 's' : 'r';
}

function psdFlag(role: DomainFileSpec['domain_role']): PsdFlag | undefined {
  if (role === 'organizational') return 'n';
  if (role === 'public_suffix') return 'y';
  return role === 'unknown' ? 'u' : undefined;
}

const SIZE_UNITS: Record<string, bigint> = { '': 1n, k: 1n << 10n, m: 1n << 20n, g: 1n << 30n, t: 1n << 40n };
const MAX_U64 = (1n << 64n) - 1n;

/** Bytes of a `!size` suffix, or null when it is not `digits[kmgt]` or overflows 64 bits (RFC 7489 §6.4). */
export function sizeLimitBytes(raw: string): bigint | null {
  const match = /^(\d+)([kmgt]?)$/i.exec(raw);
  if (!match) return null;
  const bytes = BigInt(match[1] ?? '0') * (SIZE_UNITS[(match[2] ?? '').toLowerCase()] ?? 1n);
  return bytes > MAX_U64 ? null : bytes;
}

/** `dmarc@example.com` or `mailto:…` → a mailto URI with `,` and `!` percent-encoded, as RFC 7489 §6.4 requires. */
export function mailboxToUri(mailbox: string): string {
  const address = mailbox.replace(/^mailto:/i, '');
  return `mailto:${address.replace(/,/g, '%2C').replace(/!/g, '%21')}`;
}

function toReportUri(entry: string | { mailbox: string; max_size?: string }): ReportUri {
  if (typeof entry === 'string') return { uri: mailboxToUri(entry) };
  const uri: ReportUri = { uri: mailboxToUri(entry.mailbox) };
  if (entry.max_size !== undefined) uri.size = { raw: entry.max_size, bytes: sizeLimitBytes(entry.max_size) };
  return uri;
}

function toSender(sender: NonNullable<DomainFileSpec['senders']>[number]): Sender {
  const result: Sender = {
    name: sender.name,
    ips: sender.ips ?? [],
    spfIncludes: (sender.spf_includes ?? []).map((domain) => domain.toLowerCase()),
    dkim: (sender.dkim ?? []).map((signer) =>
      signer.selector === undefined
        ? { domain: signer.domain.toLowerCase() }
        : { domain: signer.domain.toLowerCase(), selector: signer.selector },
    ),
  };
  if (sender.type !== undefined) result.type = sender.type;
  return result;
}
