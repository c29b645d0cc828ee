/**
 * Value normalisation and the report header. Real reports stray from RFC 7489 Appendix C and RFC 9990
 * §3: untrimmed text, PascalCase results, SPF `hardfail` (cry-inc/dmarc-report-viewer#21,
 * danielsen/DmarcRua#5), `none` or `softfail` in `policy_evaluated`; test/reports/parse.test.ts has a
 * case for each.
 *
 * Every change beyond trimming (and lowercasing domains) keeps the original text in `raw` and
 * records a warning. Warnings are aggregated per report (code + message, with a count and the
 * first record), so a 100k-record report with the same quirk in every record carries one warning.
 */
import { clip, formatBytes, formatCount } from '../../lib/text.ts';
import type { Draft } from './collect.ts';
import { ParseError } from './errors.ts';
import type { ParseWarning, PolicyPublished, ReportHeader, ReportSchema, WarningCode } from './types.ts';

const MAX_WARNINGS = 200;
/** Messages quote values from the report: keep a hostile one from filling memory. */
const MAX_MESSAGE = 300;
/**
 * The characters of all a report's warning messages together. Warnings are report-level: the store
 * repeats them on every record row (docs/dataset.md), so their size counts once per record. See
 * MAX_HEADER_BYTES.
 */
const MAX_WARNING_CHARS = 16 * 1024;

/**
 * The largest report header (names, policy, errors, extensions, raw texts, as UTF-8 JSON) a report
 * may have. The store repeats report-level columns on every record row, and DuckDB joins them onto
 * 2,048 rows at a time: a forged 1 MiB header over 100,000 records exhausted the commit's 256 MB
 * (bench/README.md, "Report-level text"). Genuine headers are well under 2 KiB.
 */
export const MAX_HEADER_BYTES = 48 * 1024;
/** `report_metadata/error` elements kept, and the characters kept of each: free text, clipped rather than refused. */
const MAX_ERRORS = 10;
const MAX_ERROR_CHARS = 1000;
/** Extension elements (RFC 9990 §4) kept up to this size as JSON; larger ones are dropped with a warning. */
const MAX_EXTENSION_BYTES = 8 * 1024;

/** A report's warnings, deduplicated. */
export class Warnings {
  readonly list: ParseWarning[] = [];
  private readonly seen = new Map<string, ParseWarning>();
  /** Characters of the messages listed so far (MAX_WARNING_CHARS). */
  private chars = 0;

  add(code: WarningCode, message: string, record?: number): void {
    if (message.length > MAX_MESSAGE) message = `${message.slice(0, MAX_MESSAGE)}…`;
    const key = `${code}\u0000${message}`;
    const tooMany = this.list.length >= MAX_WARNINGS || this.chars + message.length > MAX_WARNING_CHARS;
    const known = this.seen.get(key) ?? (tooMany ? this.seen.get('too-many') : undefined);
    if (known !== undefined) {
      known.count++;
      return;
    }
    const warning: ParseWarning = tooMany
      ? {
          code: 'too-many-warnings',
          message: `more than ${MAX_WARNINGS} distinct warnings or ${formatCount(MAX_WARNING_CHARS)} characters of them; the rest are only counted`,
          count: 1,
        }
      : { code, message, count: 1 };
    if (!tooMany) {
      this.chars += message.length;
      if (record !== undefined) warning.record = record;
    }
    this.seen.set(tooMany ? 'too-many' : key, warning);
    this.list.push(warning);
  }
}

const set = (...values: string[]): ReadonlySet<string> => new Set(values);
export const POLICY_DISPOSITIONS = set('none', 'quarantine', 'reject');
export const APPLIED_DISPOSITIONS = set('none', 'quarantine', 'reject', 'pass');
export const DMARC_RESULTS = set('pass', 'fail');
export const DKIM_RESULTS = set('none', 'pass', 'fail', 'policy', 'neutral', 'temperror', 'permerror');
export const SPF_RESULTS = set('none', 'neutral', 'pass', 'fail', 'softfail', 'temperror', 'permerror', 'policy');
export const SPF_SCOPES = set('mfrom', 'helo');
export const OVERRIDES = set('forwarded', 'sampled_out', 'trusted_forwarder', 'mailing_list', 'local_policy', 'policy_test_mode', 'other');
/** docomo and others write `hardfail` for an SPF `-all` failure. */
export const SPF_ALIASES: ReadonlyMap<string, string> = new Map([['hardfail', 'fail']]);
const ALIGNMENT = set('r', 's');
const YES_NO = set('y', 'n');
const DISCOVERY = set('psl', 'treewalk');

const DMARC_2_0 = 'urn:ietf:params:xml:ns:dmarc-2.0';
const DRAFT_NAMESPACE = /^http:\/\/dmarc\.org\/dmarc-xml\/0\.(\d+)\/?$/;

/** Where normalisation reports to: warnings, and the `raw` bag of the object being built. */
export interface Ctx {
  warn(code: WarningCode, message: string): void;
  raw: Record<string, string> | undefined;
}

// ---- values -------------------------------------------------------------------------------

/** A required value: trimmed, `''` with a warning when empty. */
export function requiredText(ctx: Ctx, text: string, path: string): string {
  const trimmed = text.trim();
  if (trimmed === '') ctx.warn('empty-value', `<${path}> is empty`);
  return trimmed;
}

/** An optional value: trimmed, absent (with a warning) when empty. */
export function optionalText(ctx: Ctx, text: string, path: string): string | undefined {
  const trimmed = text.trim();
  if (trimmed !== '') return trimmed;
  ctx.warn('empty-value', `<${path}> is empty; read as absent`);
  return undefined;
}

export function missing(ctx: Ctx, path: string): void {
  ctx.warn('missing-element', `<${path}> is missing`);
}

/**
 * Lowercases an enumeration value and maps known aliases; values outside the list are kept
 * (lowercased). `index` places the raw text of a repeated element (`auth_results/spf[1]/result`).
 */
export function canonical(
  ctx: Ctx,
  text: string,
  allowed: ReadonlySet<string>,
  path: string,
  index?: number,
  aliases?: ReadonlyMap<string, string>,
): string {
  if (allowed.has(text)) return text;
  const lower = text.toLowerCase();
  const slash = path.lastIndexOf('/');
  const rawKey = index === undefined ? path : `${path.slice(0, slash)}[${index}]${path.slice(slash)}`;
  if (allowed.has(lower)) {
    keep(ctx, rawKey, text);
    ctx.warn('value-case', `<${path}> "${text}" read as "${lower}"`);
    return lower;
  }
  const alias = aliases?.get(lower);
  if (alias !== undefined) {
    keep(ctx, rawKey, text);
    ctx.warn('value-alias', `<${path}> "${text}" read as "${alias}"`);
    return alias;
  }
  if (lower !== text) keep(ctx, rawKey, text);
  ctx.warn('nonstandard-value', `<${path}> "${text}" is not one of ${[...allowed].join('|')}; kept as "${lower}"`);
  return lower;
}

/** A required enumeration: null (with a warning) when empty. */
export function requiredEnum(
  ctx: Ctx,
  text: string,
  allowed: ReadonlySet<string>,
  path: string,
  index?: number,
  aliases?: ReadonlyMap<string, string>,
): string | null {
  const trimmed = requiredText(ctx, text, path);
  return trimmed === '' ? null : canonical(ctx, trimmed, allowed, path, index, aliases);
}

/** Epoch seconds; fractional strings are floored, anything else is null (with the raw text kept). */
export function epoch(ctx: Ctx, text: string, path: string): number | null {
  const trimmed = requiredText(ctx, text, path);
  if (trimmed === '') return null;
  if (isDigits(trimmed)) return Number(trimmed);
  keep(ctx, path, trimmed);
  if (/^\d+\.\d*$/.test(trimmed)) {
    const seconds = Math.floor(Number(trimmed));
    ctx.warn('fractional-date', `<${path}> "${trimmed}" read as ${seconds}`);
    return seconds;
  }
  ctx.warn('invalid-date', `<${path}> "${trimmed}" is not an epoch time; read as null`);
  return null;
}

export function isDigits(text: string): boolean {
  if (text.length === 0 || text.length > 15) return false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

/** Domains are case-insensitive; a trailing root dot is dropped too. */
export function lowerDomain(text: string): string {
  const lower = text.toLowerCase();
  return lower.endsWith('.') ? lower.slice(0, -1) : lower;
}

export function keep(ctx: Ctx, key: string, text: string): void {
  (ctx.raw ??= {})[key] = text;
}

// ---- header -------------------------------------------------------------------------------

export interface RootInfo {
  qname: string;
  namespace?: string;
}

/** The header from its draft (`report_metadata`, `policy_published`, `version`, `extension`). */
export function normalizeHeader(draft: Draft, root: RootInfo | undefined, w: Warnings): ReportHeader {
  const ctx: Ctx = { warn: (code, message) => w.add(code, message), raw: undefined };
  const meta = child(draft, 'report_metadata');
  if (meta === undefined) missing(ctx, 'report_metadata');
  const range = child(meta, 'date_range');
  if (meta !== undefined && range === undefined) missing(ctx, 'report_metadata/date_range');
  let dateBegin = range === undefined ? null : dateOf(ctx, range, 'begin');
  let dateEnd = range === undefined ? null : dateOf(ctx, range, 'end');
  if (dateBegin !== null && dateEnd !== null && dateBegin > dateEnd) {
    keep(ctx, 'report_metadata/date_range/begin', String(dateBegin));
    keep(ctx, 'report_metadata/date_range/end', String(dateEnd));
    ctx.warn('date-range-reversed', `date_range begin ${dateBegin} is after end ${dateEnd}; swapped`);
    [dateBegin, dateEnd] = [dateEnd, dateBegin];
  }

  let version = optionalLeaf(ctx, draft, 'version', '');
  const misplaced = optionalLeaf(ctx, meta, 'version', 'report_metadata/');
  if (misplaced !== undefined) {
    ctx.warn('version-misplaced', '<version> found inside <report_metadata>, not directly under <feedback>');
    version ??= misplaced;
  }

  const policy = normalizePolicy(ctx, child(draft, 'policy_published'));
  const generator = optionalLeaf(ctx, meta, 'generator', 'report_metadata/');
  const header: ReportHeader = {
    orgName: requiredLeaf(ctx, meta, 'org_name', 'report_metadata/'),
    email: requiredLeaf(ctx, meta, 'email', 'report_metadata/'),
    extraContactInfo: optionalLeaf(ctx, meta, 'extra_contact_info', 'report_metadata/'),
    reportId: requiredLeaf(ctx, meta, 'report_id', 'report_metadata/'),
    dateBegin,
    dateEnd,
    errors: reportErrors(ctx, meta),
    generator,
    schema: detectSchema(root?.namespace, policy, generator),
    xmlNamespace: root?.namespace,
    version,
    policy,
  };
  const extension = draft.extension;
  if (extension !== undefined && typeof extension === 'object') {
    const bytes = Buffer.byteLength(JSON.stringify(extension));
    if (bytes <= MAX_EXTENSION_BYTES) header.extensions = extension as Record<string, unknown>;
    else ctx.warn('text-clipped', `<extension> holds ${formatBytes(bytes)} (at most ${formatBytes(MAX_EXTENSION_BYTES)} kept); dropped`);
  }
  if (ctx.raw !== undefined) header.raw = ctx.raw;
  const bytes = Buffer.byteLength(JSON.stringify(header));
  if (bytes > MAX_HEADER_BYTES)
    throw new ParseError(
      'header-too-large',
      `the report header holds ${formatBytes(bytes)} of text (at most ${formatBytes(MAX_HEADER_BYTES)}): a genuine one holds ` +
        "a few hundred bytes, and it would be repeated on each of the report's records; refused",
    );
  return header;
}

function dateOf(ctx: Ctx, range: Draft, key: string): number | null {
  const path = `report_metadata/date_range/${key}`;
  const text = leaf(range, key);
  if (text !== undefined) return epoch(ctx, text, path);
  missing(ctx, path);
  return null;
}

function normalizePolicy(ctx: Ctx, policy: Draft | undefined): PolicyPublished {
  const domain = lowerDomain(leaf(policy, 'domain')?.trim() ?? '');
  if (domain === '') {
    ctx.warn(
      'missing-policy-domain',
      policy === undefined ? '<policy_published> is missing' : '<policy_published/domain> is missing or empty',
    );
  }
  const at = 'policy_published/';
  const p = leaf(policy, 'p');
  if (policy !== undefined && p === undefined) missing(ctx, `${at}p`);
  const out: PolicyPublished = {
    domain,
    p: p === undefined ? null : requiredEnum(ctx, p, POLICY_DISPOSITIONS, `${at}p`),
    sp: optionalEnum(ctx, policy, 'sp', POLICY_DISPOSITIONS),
    np: optionalEnum(ctx, policy, 'np', POLICY_DISPOSITIONS),
    adkim: optionalEnum(ctx, policy, 'adkim', ALIGNMENT),
    aspf: optionalEnum(ctx, policy, 'aspf', ALIGNMENT),
    pct: undefined,
    fo: optionalLeaf(ctx, policy, 'fo', at),
    testing: optionalEnum(ctx, policy, 'testing', YES_NO),
    discoveryMethod: optionalEnum(ctx, policy, 'discovery_method', DISCOVERY),
  };
  const pct = optionalLeaf(ctx, policy, 'pct', at);
  if (pct !== undefined) {
    const n = isDigits(pct) ? Number(pct) : Number.NaN;
    if (n >= 0 && n <= 100) out.pct = n;
    else {
      keep(ctx, `${at}pct`, pct);
      ctx.warn('invalid-number', `<${at}pct> "${pct}" is not a percentage; left out`);
    }
  }
  return out;
}

/**
 * `rfc9990` for the dmarc-2.0 namespace or any RFC 9990-only field (a lone `np` is Google's RFC 7489
 * hybrid); `draft` for the dmarc-xml/0.2+ namespaces of the DMARCbis drafts; else `rfc7489`
 * (0.1 is RFC 7489's own target namespace). `<version>` is not used: real values are all over the place.
 */
function detectSchema(namespace: string | undefined, policy: PolicyPublished, generator: string | undefined): ReportSchema {
  if (namespace === DMARC_2_0) return 'rfc9990';
  const draft = namespace === undefined ? null : DRAFT_NAMESPACE.exec(namespace);
  if (draft) return draft[1] === '1' ? 'rfc7489' : 'draft';
  if (policy.testing !== undefined || policy.discoveryMethod !== undefined || generator !== undefined) return 'rfc9990';
  return 'rfc7489';
}

function requiredLeaf(ctx: Ctx, parent: Draft | undefined, key: string, at: string): string {
  if (parent === undefined) return ''; // the missing parent was reported once
  const text = leaf(parent, key);
  if (text !== undefined) return requiredText(ctx, text, at + key);
  missing(ctx, at + key);
  return '';
}

function optionalLeaf(ctx: Ctx, parent: Draft | undefined, key: string, at: string): string | undefined {
  const text = leaf(parent, key);
  return text === undefined ? undefined : optionalText(ctx, text, at + key);
}

function optionalEnum(ctx: Ctx, policy: Draft | undefined, key: string, allowed: ReadonlySet<string>): string | undefined {
  const text = optionalLeaf(ctx, policy, key, 'policy_published/');
  return text === undefined ? undefined : canonical(ctx, text, allowed, `policy_published/${key}`);
}

function leaf(draft: Draft | undefined, key: string): string | undefined {
  const value = draft?.[key];
  return typeof value === 'string' ? value : undefined;
}

/** `report_metadata/error` texts: the first MAX_ERRORS, each clipped, with a warning when any were cut. */
function reportErrors(ctx: Ctx, meta: Draft | undefined): string[] {
  const all = leaves(meta, 'error')
    .map((e) => e.trim())
    .filter((e) => e !== '');
  const kept = all.slice(0, MAX_ERRORS).map((e) => clip(e, MAX_ERROR_CHARS));
  const longest = all.reduce((max, e) => Math.max(max, e.length), 0);
  if (all.length > MAX_ERRORS || longest > MAX_ERROR_CHARS)
    ctx.warn(
      'text-clipped',
      `${formatCount(all.length)} <report_metadata/error> elements, the longest ${formatCount(longest)} characters: ` +
        `kept the first ${MAX_ERRORS}, each at most ${formatCount(MAX_ERROR_CHARS)} characters`,
    );
  return kept;
}

function leaves(draft: Draft | undefined, key: string): string[] {
  const value = draft?.[key];
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

function child(draft: Draft | undefined, key: string): Draft | undefined {
  const value = draft?.[key];
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Draft) : undefined;
}
