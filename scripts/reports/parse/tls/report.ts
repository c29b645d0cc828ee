/**
 * A JSON value → a `ParsedTlsReport` (RFC 8460 §4.4), checking every field and type. Structural faults
 * (a wrong type, a missing or unreadable date range, a count that is not a whole number ≥ 0) refuse the
 * whole report with the JSON path; real-world variants (missing optional fields, `policy-string` absent
 * for `no-policy-found`, zero counts, counts written as strings, case) are read with a warning each.
 */
import { isIP } from 'node:net';
import { canonicalIp } from '../../../lib/ip.ts';
import { TlsParseError } from './errors.ts';
import { DATE_RANGE_FIELDS, DETAIL_FIELDS, POLICY_ENTRY_FIELDS, POLICY_FIELDS, REPORT_FIELDS, SUMMARY_FIELDS } from './fields.ts';
import type {
  TlsFailureDetail,
  TlsParseLimits,
  TlsParseWarning,
  TlsPolicy,
  TlsPolicyType,
  TlsReportHeader,
  TlsResultType,
  TlsWarningCode,
} from './types.ts';
import { clip } from '../../../lib/text.ts';
import { isPlainObject } from '../../../lib/collections.ts';

const POLICY_TYPES: readonly TlsPolicyType[] = ['sts', 'tlsa', 'no-policy-found'];
const RESULT_TYPES: readonly TlsResultType[] = [
  'starttls-not-supported',
  'certificate-host-mismatch',
  'certificate-expired',
  'certificate-not-trusted',
  'validation-failure',
  'tlsa-invalid',
  'dnssec-invalid',
  'dane-required',
  'sts-policy-fetch-error',
  'sts-policy-invalid',
  'sts-webpki-invalid',
];
const MAX_WARNINGS = 100;
/** RFC 3339 §5.6 date-time, plus the variants seen in reports (space for T, no zone), read with a warning. */
const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})?$/;

type Json = Record<string, unknown>;

export interface ReadReport {
  header: TlsReportHeader;
  policies: TlsPolicy[];
  warnings: TlsParseWarning[];
}

export function readTlsReport(value: unknown, limits: TlsParseLimits, duplicateKeys: readonly string[], name?: string): ReadReport {
  const reader = new Reader(limits, name);
  for (const path of duplicateKeys) reader.warn('duplicate-key', `key ${path} appears twice in one object; the last value is used`);
  return reader.report(value);
}

class Reader {
  private readonly warnings = new Map<string, TlsParseWarning>();
  private readonly raw: Record<string, string> = {};
  private failureDetails = 0;
  private readonly limits: TlsParseLimits;
  private readonly name: string | undefined;

  constructor(limits: TlsParseLimits, name: string | undefined) {
    this.limits = limits;
    this.name = name;
  }

  report(value: unknown): ReadReport {
    if (!isPlainObject(value)) throw this.fail('not-a-report', `is JSON ${describe(value)}, not an RFC 8460 report object`);
    if (!('policies' in value) && !('organization-name' in value) && !('date-range' in value)) {
      throw this.fail('not-a-report', 'is JSON without organization-name, date-range or policies: not an RFC 8460 TLS report');
    }
    if ('version' in value) this.version(value.version);
    this.unknownFields(value, REPORT_FIELDS.concat('version'), '');

    const range = value['date-range'];
    if (!isPlainObject(range))
      throw this.fail(
        range === undefined ? 'invalid-date' : 'invalid-field',
        range === undefined ? 'has no date-range: the report cannot be placed in time' : `date-range is ${describe(range)}, not an object`,
      );
    this.unknownFields(range, DATE_RANGE_FIELDS, 'date-range');
    let begin = this.dateTime(range['start-datetime'], 'date-range/start-datetime');
    let end = this.dateTime(range['end-datetime'], 'date-range/end-datetime');
    if (end < begin) {
      this.warn('date-range-reversed', 'date-range ends before it starts; start and end are swapped');
      this.raw['date-range/start-datetime'] ??= String(range['start-datetime']);
      this.raw['date-range/end-datetime'] ??= String(range['end-datetime']);
      [begin, end] = [end, begin];
    }

    const header: TlsReportHeader = {
      orgName: this.requiredString(value, 'organization-name', ''),
      reportId: this.requiredString(value, 'report-id', ''),
      dateBegin: begin,
      dateEnd: end,
    };
    const contact = this.optionalString(value, 'contact-info', '', true);
    if (contact !== undefined) header.contactInfo = contact;

    const list = value.policies;
    let policies: TlsPolicy[] = [];
    if (list === undefined) this.warn('no-policies', 'the report has no policies: it holds no session counts');
    else if (!Array.isArray(list)) throw this.fail('invalid-field', `policies is ${describe(list)}, not a list`);
    else {
      if (list.length === 0) this.warn('no-policies', 'the report has an empty policies list: it holds no session counts');
      if (list.length > this.limits.maxPolicies)
        throw this.fail('too-many-items', `has ${list.length} policies, more than ${this.limits.maxPolicies}`);
      policies = list.map((entry, index) => this.policy(entry, index));
    }
    const domains = new Set(policies.map((policy) => policy.policyDomain));
    if (domains.size > 1)
      this.warn(
        'several-policy-domains',
        `the report covers ${domains.size} policy domains (${[...domains].sort().join(', ')}); RFC 8460 reports cover one`,
      );
    if (Object.keys(this.raw).length > 0) header.raw = { ...this.raw };
    return { header, policies, warnings: [...this.warnings.values()] };
  }

  private version(version: unknown): void {
    // RFC 8460 reports have no version field; one that names another version is a format we do not know.
    if (version === 'TLSRPTv1') {
      this.warn('version-field', 'the report has a version field ("TLSRPTv1"), which RFC 8460 does not define; ignored');
      return;
    }
    throw this.fail(
      'unsupported-version',
      `declares a version other than TLSRPTv1 (${describe(version)}): dmarcops reads RFC 8460 (TLSRPTv1) reports, which have no version field`,
    );
  }

  private policy(entry: unknown, index: number): TlsPolicy {
    const at = `policies[${index}]`;
    if (!isPlainObject(entry)) throw this.fail('invalid-field', `${at} is ${describe(entry)}, not an object`);
    this.unknownFields(entry, POLICY_ENTRY_FIELDS, at, index);
    const policy = entry.policy;
    if (!isPlainObject(policy))
      throw this.fail(
        'invalid-field',
        `${at}/policy is ${policy === undefined ? 'missing' : describe(policy)}: each entry needs a policy object`,
      );
    this.unknownFields(policy, POLICY_FIELDS, `${at}/policy`, index);

    const typeText = this.requiredString(policy, 'policy-type', `${at}/policy`, index);
    const policyType = this.keyword(typeText, POLICY_TYPES, `${at}/policy/policy-type`, index);
    const domainText = this.requiredString(policy, 'policy-domain', `${at}/policy`, index);
    if (domainText === '')
      throw this.fail('invalid-field', `${at}/policy/policy-domain is missing or empty: the report cannot be matched to a domain`);
    const policyDomain = this.domainName(domainText, `${at}/policy/policy-domain`, index);
    const result: TlsPolicy = { policyType, policyDomain, successfulSessions: null, failedSessions: null, failureDetails: [] };

    const strings = this.stringList(policy, 'policy-string', `${at}/policy`, index);
    if (strings !== undefined) result.policyString = strings;
    else if (policyType === 'no-policy-found')
      this.warn(
        'missing-field',
        'a no-policy-found policy has no policy-string (RFC 8460 §4.4 lists it; receivers leave it out as there is no policy)',
        index,
      );
    else this.warn('missing-field', `a ${policyType} policy has no policy-string: the policy the sender saw is unknown`, index);
    const mx = this.stringList(policy, 'mx-host', `${at}/policy`, index, true);
    if (mx !== undefined) result.mxHost = mx.map((pattern) => pattern.toLowerCase());
    else if (policyType === 'sts') this.warn('missing-field', 'an sts policy has no mx-host list', index);

    const summary = entry.summary;
    if (summary === undefined) this.warn('missing-field', `${at} has no summary: its session totals are unknown`, index);
    else if (!isPlainObject(summary)) throw this.fail('invalid-field', `${at}/summary is ${describe(summary)}, not an object`);
    else {
      this.unknownFields(summary, SUMMARY_FIELDS, `${at}/summary`, index);
      result.successfulSessions = this.count(summary, 'total-successful-session-count', `${at}/summary`, index);
      result.failedSessions = this.count(summary, 'total-failure-session-count', `${at}/summary`, index);
      if (result.successfulSessions === 0 && result.failedSessions === 0)
        this.warn('zero-sessions', 'a policy reports 0 successful and 0 failed sessions', index);
    }

    const details = entry['failure-details'];
    if (details !== undefined) {
      if (!Array.isArray(details)) throw this.fail('invalid-field', `${at}/failure-details is ${describe(details)}, not a list`);
      this.failureDetails += details.length;
      if (this.failureDetails > this.limits.maxFailureDetails)
        throw this.fail('too-many-items', `has more than ${this.limits.maxFailureDetails} failure details`);
      result.failureDetails = details.map((detail, detailIndex) => this.detail(detail, `${at}/failure-details[${detailIndex}]`, index));
      const seen = new Set<string>();
      for (const detail of result.failureDetails) {
        const key = JSON.stringify(detail);
        if (seen.has(key))
          this.warn('duplicate-failure-detail', 'the same failure detail is listed twice in a policy; both are kept', index);
        seen.add(key);
      }
    }
    const listed = result.failureDetails.reduce((sum, detail) => sum + detail.failedSessions, 0);
    if (result.failedSessions !== null && result.failureDetails.length > 0 && listed !== result.failedSessions) {
      this.warn(
        'count-mismatch',
        `total-failure-session-count is ${result.failedSessions} but the failure details add up to ${listed}; both are kept as reported`,
        index,
      );
    }
    return result;
  }

  private detail(entry: unknown, at: string, policy: number): TlsFailureDetail {
    if (!isPlainObject(entry)) throw this.fail('invalid-field', `${at} is ${describe(entry)}, not an object`);
    this.unknownFields(entry, DETAIL_FIELDS, at, policy);
    const typeText = this.requiredString(entry, 'result-type', at, policy);
    if (typeText === '') throw this.fail('invalid-field', `${at}/result-type is missing: a failure detail without its kind says nothing`);
    const failed = this.count(entry, 'failed-session-count', at, policy);
    if (failed === null) throw this.fail('invalid-count', `${at}/failed-session-count is missing`);
    if (failed === 0) this.warn('zero-sessions', 'a failure detail reports 0 failed sessions', policy);
    const detail: TlsFailureDetail = {
      resultType: this.keyword(typeText, RESULT_TYPES, `${at}/result-type`, policy),
      failedSessions: failed,
    };
    const sending = this.ip(entry, 'sending-mta-ip', at, policy);
    if (sending !== undefined) detail.sendingMtaIp = sending;
    const mx = this.optionalString(entry, 'receiving-mx-hostname', at, false, policy);
    if (mx !== undefined) detail.receivingMxHostname = this.domainName(mx, `${at}/receiving-mx-hostname`, policy);
    const helo = this.optionalString(entry, 'receiving-mx-helo', at, false, policy);
    if (helo !== undefined) detail.receivingMxHelo = helo;
    const receiving = this.ip(entry, 'receiving-ip', at, policy);
    if (receiving !== undefined) detail.receivingIp = receiving;
    const info = this.optionalString(entry, 'additional-information', at, false, policy);
    if (info !== undefined) detail.additionalInformation = info;
    const reason = this.optionalString(entry, 'failure-reason-code', at, false, policy);
    if (reason !== undefined) detail.failureReasonCode = reason;
    return detail;
  }

  // ----------------------------------------------------------------------------------------------
  // Fields

  private requiredString(object: Json, key: string, at: string, policy?: number): string {
    const value = this.optionalString(object, key, at, false, policy);
    if (value === undefined) {
      this.warn('missing-field', `${join(at, key)} is missing`, policy);
      return '';
    }
    return value;
  }

  /** A string field: trimmed; absent → undefined (with a warning when `expected`); empty → undefined with a warning. */
  private optionalString(object: Json, key: string, at: string, expected: boolean, policy?: number): string | undefined {
    const value = object[key];
    const path = join(at, key);
    if (value === undefined || value === null) {
      if (expected) this.warn('missing-field', `${path} is missing`, policy);
      return undefined;
    }
    if (typeof value !== 'string') throw this.fail('invalid-field', `${path} is ${describe(value)}, not a string`);
    const trimmed = value.trim();
    if (trimmed === '') {
      this.warn('empty-value', `${path} is empty`, policy);
      return undefined;
    }
    return trimmed;
  }

  private stringList(object: Json, key: string, at: string, policy: number, allowString = false): string[] | undefined {
    const value = object[key];
    const path = join(at, key);
    if (value === undefined || value === null) return undefined;
    if (typeof value === 'string' && allowString) {
      this.warn('value-shape', `${key} is one string, not a list; read as a list of one`, policy);
      this.raw[path] = value;
      return [value.trim()];
    }
    if (!Array.isArray(value)) throw this.fail('invalid-field', `${path} is ${describe(value)}, not a list of strings`);
    if (value.length > this.limits.maxListItems)
      throw this.fail('too-many-items', `${path} has ${value.length} entries, more than ${this.limits.maxListItems}`);
    return value.map((item, index) => {
      if (typeof item !== 'string') throw this.fail('invalid-field', `${path}[${index}] is ${describe(item)}, not a string`);
      return item.trim();
    });
  }

  /** A session count: a whole number ≥ 0; a string of digits is read with a warning; absent → null. */
  private count(object: Json, key: string, at: string, policy: number): number | null {
    const value = object[key];
    const path = join(at, key);
    if (value === undefined || value === null) {
      this.warn('missing-field', `${path} is missing`, policy);
      return null;
    }
    let number: number;
    if (typeof value === 'number') number = value;
    else if (typeof value === 'string' && /^\s*\d{1,15}\s*$/.test(value)) {
      this.warn('value-shape', `${key} is written as a string; read as a number`, policy);
      this.raw[path] = value;
      number = Number(value);
    } else throw this.fail('invalid-count', `${path} is ${describe(value)}, not a number of sessions`);
    if (!Number.isSafeInteger(number) || number < 0) {
      const what = number < 0 ? 'negative' : Number.isInteger(number) ? 'too large' : 'a fraction';
      throw this.fail('invalid-count', `${path} is ${what}, not a whole number of sessions ≥ 0`);
    }
    return number;
  }

  private ip(object: Json, key: string, at: string, policy: number): string | undefined {
    const text = this.optionalString(object, key, at, false, policy);
    if (text === undefined) return undefined;
    const canonical = isIP(text) === 0 ? null : canonicalIp(text);
    if (canonical === null) {
      this.warn('invalid-ip', `${key} ${clip(JSON.stringify(text))} is not an IP address; kept as written`, policy);
      return text;
    }
    if (canonical !== text) this.raw[join(at, key)] = text;
    return canonical;
  }

  private keyword<T extends string>(text: string, allowed: readonly T[], path: string, policy?: number): T | (string & {}) {
    const lower = text.toLowerCase();
    if (lower !== text) {
      this.warn(
        'value-case',
        `${path.replace(/\[\d+\]/g, '[]')} ${clip(JSON.stringify(text))} is not in lower case; read as ${JSON.stringify(lower)}`,
        policy,
      );
      this.raw[path] = text;
    }
    if (!allowed.includes(lower as T))
      this.warn(
        'nonstandard-value',
        `${path.replace(/\[\d+\]/g, '[]')} ${clip(JSON.stringify(lower))} is not one RFC 8460 defines; kept as written`,
        policy,
      );
    return lower;
  }

  /** A domain or host name: lower case (domain names are case-insensitive), no trailing dot (with a warning). */
  private domainName(text: string, path: string, policy: number): string {
    const name = text.toLowerCase().replace(/\.$/, '');
    if (name !== text.toLowerCase()) {
      this.warn('value-shape', `${path.replace(/\[\d+\]/g, '[]')} ends with a dot; read without it`, policy);
      this.raw[path] = text;
    }
    return name;
  }

  private dateTime(value: unknown, path: string): number {
    if (typeof value !== 'string')
      throw this.fail(
        'invalid-date',
        `${path} is ${value === undefined ? 'missing' : describe(value)}: the report cannot be placed in time`,
      );
    const match = DATE_TIME.exec(value.trim());
    if (match === null) throw this.fail('invalid-date', `${path} (${describe(value)}) is not an RFC 3339 date-time`);
    const [, year, month, day, hour, minute, second, fraction, zone] = match;
    const normalised = `${year}-${month}-${day}T${hour}:${minute}:${second}${zone === undefined ? 'Z' : zone.toUpperCase()}`;
    if (zone === undefined) {
      this.warn('date-without-zone', `${path} has no time zone; read as UTC`);
      this.raw[path] = value;
    }
    if (fraction !== undefined && Number(fraction) !== 0) {
      this.warn('fractional-date', `${path} has a fraction of a second; the date is kept to the second`);
      this.raw[path] = value;
    }
    const milliseconds = Date.parse(normalised);
    // Date.parse rolls 2024-02-30 over into March: the calendar date must exist as written.
    const calendar = new Date(Date.UTC(Number(year), Number(month) - 1, Number(day)));
    const exists = calendar.getUTCMonth() === Number(month) - 1 && calendar.getUTCDate() === Number(day);
    if (!Number.isFinite(milliseconds) || !exists || Number(hour) > 23 || Number(minute) > 59 || Number(second) > 60) {
      throw this.fail('invalid-date', `${path} is not a real date-time (no such day or time of day)`);
    }
    return Math.floor(milliseconds / 1000);
  }

  private unknownFields(object: Json, known: readonly string[], at: string, policy?: number): void {
    for (const key of Object.keys(object)) {
      if (!known.includes(key))
        this.warn('unknown-field', `${join(at.replace(/\[\d+\]/g, '[]'), clip(key, 80))} is not an RFC 8460 field; ignored`, policy);
    }
  }

  // ----------------------------------------------------------------------------------------------

  /** Record a warning once per report (same code and message), counting repeats. */
  warn(code: TlsWarningCode, message: string, policy?: number): void {
    const key = `${code}\u0000${message}`;
    const existing = this.warnings.get(key);
    if (existing !== undefined) {
      existing.count += 1;
      return;
    }
    if (this.warnings.size === MAX_WARNINGS) {
      this.warnings.set('too-many-warnings', {
        code: 'too-many-warnings',
        message: `more than ${MAX_WARNINGS} different warnings; the rest are counted here`,
        count: 1,
      });
      return;
    }
    if (this.warnings.size > MAX_WARNINGS) {
      const overflow = this.warnings.get('too-many-warnings');
      if (overflow !== undefined) overflow.count += 1;
      return;
    }
    this.warnings.set(key, policy === undefined ? { code, message, count: 1 } : { code, message, policy, count: 1 });
  }

  private fail(code: ConstructorParameters<typeof TlsParseError>[0], message: string): TlsParseError {
    return new TlsParseError(code, message, this.name);
  }
}

function join(at: string, key: string): string {
  return at === '' ? key : `${at}/${key}`;
}

/**
 * What a value is, without repeating it: refusals become ledger reasons, which never quote an input's
 * content (a refused document may be anyone's JSON, see privacy.ts).
 */
function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'string') return value === '' ? 'an empty string' : `a string of ${value.length} characters`;
  if (typeof value === 'boolean') return `the boolean ${value}`;
  return `a ${typeof value}`;
}
