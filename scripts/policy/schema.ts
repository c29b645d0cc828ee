/**
 * JSON Schema validation of domain files (ajv, draft 2020-12), with ajv's errors rewritten into
 * findings a person can act on: the key or value at fault, what is allowed, and a "did you mean".
 */
import { Ajv2020 } from 'ajv/dist/2020.js';
import type { ErrorObject } from 'ajv/dist/2020.js';
import { closest, distance } from 'fastest-levenshtein';
import schema from './domain.schema.json' with { type: 'json' };
import type { Severity } from './model.ts';
import type { YamlPath } from './source.ts';

export const DOMAIN_SCHEMA = schema;
/** Path of the schema relative to the repository root; domain files reference it for editors. */
export const DOMAIN_SCHEMA_PATH = 'scripts/policy/domain.schema.json';

// Every command that reads domains/ compiles this at startup. Checking our own schema against the
// draft 2020-12 meta-schema (a test does that) and optimising code run on a handful of files
// would double the compile time (~40 → ~20 ms).
const ajv = new Ajv2020({
  allErrors: true,
  strict: true,
  allowUnionTypes: true,
  verbose: true,
  validateSchema: false,
  code: { optimize: false },
});
const validateDomainFile = ajv.compile(schema);

/** A schema problem before it is placed in a file: the path it concerns and whether it is about a key. */
export interface SchemaProblem {
  rule: string;
  severity: Severity;
  path: YamlPath;
  part: 'key' | 'value';
  message: string;
  hint?: string;
}

/** DMARC tag names people type out of habit, mapped to the domain file key that sets them. */
const TAG_ALIASES: Record<string, string> = {
  p: 'policy',
  sp: 'subdomain_policy',
  np: 'nonexistent_subdomain_policy',
  adkim: 'alignment: {dkim: …}',
  aspf: 'alignment: {spf: …}',
  pct: 'percent',
  t: 'testing',
  psd: 'domain_role',
  rua: 'reports',
  ri: 'report_interval',
};

export function checkSchema(data: unknown): SchemaProblem[] {
  if (validateDomainFile(data)) return [];
  return simplify(validateDomainFile.errors ?? []).map(toProblem);
}

/**
 * `checkSchema` for another dmarcops config file's JSON Schema (the alerts config,
 * scripts/alerts/alerts.schema.json): the same ajv settings, and the same findings.
 */
export function compileSchemaChecker(other: object): (data: unknown) => SchemaProblem[] {
  const validate = ajv.compile(other);
  return (data) => (validate(data) ? [] : simplify(validate.errors ?? []).map(toProblem));
}

/**
 * ajv reports every branch of a oneOf and the "false schema" behind each refused key; keep the
 * one error per place that says what is wrong.
 */
function simplify(errors: ErrorObject[]): ErrorObject[] {
  const refused = errors.filter((error) => error.keyword === 'not');
  const refusedPaths = new Set(refused.map((error) => error.instancePath));
  const byPath = new Map<string, ErrorObject[]>();
  for (const error of errors) {
    if (error.keyword === 'oneOf' || (error.keyword !== 'not' && refusedPaths.has(error.instancePath))) continue;
    const list = byPath.get(error.instancePath) ?? [];
    list.push(error);
    byPath.set(error.instancePath, list);
  }
  const kept: ErrorObject[] = [];
  for (const list of byPath.values()) {
    // For a oneOf of "string or object", a wrong string is best explained by the string branch.
    const specific = list.filter((error) => error.keyword !== 'type');
    kept.push(...(specific.length > 0 ? dedupe(specific) : list.slice(0, 1)));
  }
  return kept;
}

function dedupe(errors: ErrorObject[]): ErrorObject[] {
  const seen = new Set<string>();
  return errors.filter((error) => {
    const key = `${error.keyword}|${error.instancePath}|${JSON.stringify(error.params)}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function toProblem(error: ErrorObject): SchemaProblem {
  const path = pointerToPath(error.instancePath);
  const name = displayPath(path);
  switch (error.keyword) {
    case 'additionalProperties': {
      const key = String(error.params.additionalProperty);
      const allowed = Object.keys((error.parentSchema as { properties?: object } | undefined)?.properties ?? {});
      return { rule: 'unknown-key', severity: 'error', path: [...path, key], part: 'key', ...unknownKey(key, allowed, name) };
    }
    case 'not': {
      const description = (error.parentSchema as { description?: string } | undefined)?.description;
      return {
        rule: 'failure-reports-refused',
        severity: 'error',
        path,
        part: 'key',
        message: `\`${name}\` is refused: ${description ?? 'dmarcops does not collect failure reports'}`,
        hint: 'Remove this key. To get data about failing mail, list mailboxes under `reports:` (aggregate reports).',
      };
    }
    case 'enum': {
      const allowed = (error.params.allowedValues as unknown[]).map(String);
      return { rule: 'invalid-value', severity: 'error', path, part: 'value', ...invalidEnum(name, allowed, error.data) };
    }
    case 'type':
      return {
        rule: 'invalid-type',
        severity: 'error',
        path,
        part: 'value',
        message: `\`${name}\` must be ${article(String(error.params.type))}, not ${describe(error.data)}`,
      };
    case 'required':
      return {
        rule: 'missing-key',
        severity: 'error',
        path,
        part: 'value',
        message: `\`${name || 'the file'}\` needs \`${String(error.params.missingProperty)}\``,
      };
    case 'pattern':
    case 'maxLength':
    case 'minLength':
      return {
        rule: 'invalid-value',
        severity: 'error',
        path,
        part: 'value',
        message: `\`${name}\`: ${JSON.stringify(error.data)} is not ${patternMeaning(path, error)}`,
      };
    case 'minimum':
    case 'maximum':
      return {
        rule: 'invalid-value',
        severity: 'error',
        path,
        part: 'value',
        message: `\`${name}\` must be ${error.keyword === 'minimum' ? 'at least' : 'at most'} ${String(error.params.limit)}, not ${String(error.data)}`,
      };
    case 'minItems':
      return {
        rule: 'invalid-value',
        severity: 'error',
        path,
        part: 'value',
        message: `\`${name}\` needs at least ${String(error.params.limit)} ${Number(error.params.limit) === 1 ? 'entry' : 'entries'}`,
      };
    case 'uniqueItems':
      return {
        rule: 'invalid-value',
        severity: 'error',
        path,
        part: 'value',
        message: `\`${name}\` lists the same entry twice (items ${String(error.params.j)} and ${String(error.params.i)})`,
      };
    default:
      return { rule: 'invalid-value', severity: 'error', path, part: 'value', message: `\`${name}\` ${error.message ?? 'is invalid'}` };
  }
}

function unknownKey(key: string, allowed: string[], parent: string): { message: string; hint?: string } {
  const where = parent ? ` in \`${parent}\`` : '';
  const alias = parent === '' ? TAG_ALIASES[key.toLowerCase()] : undefined;
  if (alias) return { message: `unknown key \`${key}\`${where}: this is a DMARC tag name; did you mean \`${alias}\`?` };
  const suggestion = suggest(key, allowed);
  return suggestion
    ? { message: `unknown key \`${key}\`${where}; did you mean \`${suggestion}\`?` }
    : { message: `unknown key \`${key}\`${where}`, hint: `Allowed keys: ${allowed.join(', ')}.` };
}

function invalidEnum(name: string, allowed: string[], data: unknown): { message: string; hint?: string } {
  const list = allowed.join(', ');
  const suggestion = typeof data === 'string' ? suggest(data, allowed) : undefined;
  const tail = suggestion ? `; did you mean \`${suggestion}\`?` : '';
  return { message: `\`${name}\` must be one of ${list}, not ${describe(data)}${tail}` };
}

/** The closest allowed word, when it is close enough to be a typo rather than another idea. */
export function suggest(word: string, candidates: string[]): string | undefined {
  if (candidates.length === 0) return undefined;
  const lower = word.toLowerCase();
  const match = closest(lower, candidates);
  return distance(lower, match) <= Math.max(2, Math.floor(match.length / 3)) ? match : undefined;
}

function patternMeaning(path: YamlPath, error: ErrorObject): string {
  const last = [...path].reverse().find((segment) => typeof segment === 'string');
  if (last === 'owners' || last === 'admins') return 'a GitHub user (@name) or team (@org/team)';
  if (last === 'max_size') return 'a size such as 10m (bytes, with an optional k, m, g or t)';
  if (last === 'ips') return 'an IP address or CIDR range';
  if (last === 'selector') return 'a DKIM selector';
  if (last === 'mailbox' || last === 'reports') return 'an e-mail address (optionally mailto:…)';
  if (last === 'tls_reports') return 'an e-mail address (optionally mailto:…) or an https:// URL';
  if (last === 'id' && path[0] === 'mta_sts') return 'an MTA-STS policy id (1 to 32 letters and digits)';
  if (path[0] === 'mta_sts' && last === 'mx') return 'an MX host name or *.domain pattern';
  const description = (error.parentSchema as { description?: string } | undefined)?.description;
  return description ? `valid (${description})` : 'a valid domain name';
}

function pointerToPath(pointer: string): YamlPath {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((segment) => segment.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((segment) => (/^\d+$/.test(segment) ? Number(segment) : segment));
}

export function displayPath(path: YamlPath): string {
  return path.reduce<string>(
    (text, segment) => (typeof segment === 'number' ? `${text}[${segment}]` : text ? `${text}.${segment}` : segment),
    '',
  );
}

function article(type: string): string {
  return type === 'integer' || type === 'array' || type === 'object' ? `an ${type === 'object' ? 'mapping' : type}` : `a ${type}`;
}

function describe(value: unknown): string {
  if (value === null) return 'empty';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') return `\`${value}\``;
  return `${typeof value} \`${String(value)}\``;
}
