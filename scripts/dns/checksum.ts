/**
 * The plan checksum: sha256 over canonical JSON of the changes, `before` state included, so a plan
 * reviewed in a pull request can be applied only while DNS and the domain files still give exactly
 * that plan (octoDNS's `--checksum`, computed always). `generatedAt`, notices and zone counts are
 * not covered: they change nothing in DNS.
 */
import { createHash } from 'node:crypto';
import type { RecordChange } from './types.ts';

/** Bumped if what the checksum covers ever changes, so old and new checksums never collide. */
const CHECKSUM_FORMAT = 'dmarcops-plan-v1';

/** 64 lower-case hex digits. The order of `changes` does not matter. */
export function planChecksum(changes: readonly RecordChange[]): string {
  const canonical = changes.map((change) => canonicalJson(change)).sort();
  return createHash('sha256')
    .update(`${CHECKSUM_FORMAT}\n[${canonical.join(',')}]`)
    .digest('hex');
}

/**
 * JSON with object keys sorted at every level and no whitespace: one value, one string. `undefined`
 * members are dropped (as JSON.stringify does); arrays keep their order (the planner sorts
 * `before` values, so a provider's listing order does not reach the checksum).
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    const json = JSON.stringify(value);
    if (json === undefined) throw new TypeError(`cannot put ${typeof value} in canonical JSON`);
    return json;
  }
  if (Array.isArray(value)) return `[${value.map((item) => (item === undefined ? 'null' : canonicalJson(item))).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, member]) => member !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([key, member]) => `${JSON.stringify(key)}:${canonicalJson(member)}`).join(',')}}`;
}

/** Bumped if what a change identity covers ever changes. */
const IDENTITY_FORMAT = 'dmarcops-change-v1';
/** Characters of one identity: base64 of 16 bytes without padding. */
export const IDENTITY_LENGTH = 22;

/**
 * What one change does, as a short fixed-width string: sha256 over canonical JSON of the change
 * without `reason` and `risky` (words and a verdict derived from the rest), cut to 128 bits and
 * written in base64 without padding (22 characters of A–Z a–z 0–9 + /, none of which can end an HTML
 * comment). `before` is covered, so the same edit against other records in DNS is another change.
 * The review record of a pull request lists these (docs/plan.md, "The review record").
 */
export function changeIdentity(change: RecordChange): string {
  const { reason: _reason, risky: _risky, ...what } = change;
  const digest = createHash('sha256')
    .update(`${IDENTITY_FORMAT}\n${canonicalJson(what)}`)
    .digest();
  return digest.subarray(0, 16).toString('base64').slice(0, IDENTITY_LENGTH);
}
