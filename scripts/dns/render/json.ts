/**
 * The plan as JSON (`dmarcops plan --format json`, `--out plan.json`): the `Plan` object itself, keys in
 * a fixed order, documented in docs/plan.md. `readPlanJson` reads one back for `dmarcops apply --plan`
 * and `dmarcops comment --plan`, checking its shape and that its checksum matches its changes. `base`
 * (with `plan --base`) follows `zones`; the checksum does not cover it.
 */
import { IDENTITY_LENGTH, planChecksum } from '../checksum.ts';
import type { Plan, RecordChange } from '../types.ts';
import { isPlainObject } from '../../lib/collections.ts';
import { DmarcopsError } from '../../lib/errors.ts';

export function renderPlanJson(plan: Plan): string {
  const ordered: Plan = {
    version: plan.version,
    checksum: plan.checksum,
    generatedAt: plan.generatedAt,
    changes: plan.changes.map((change) => ({
      action: change.action,
      provider: change.provider,
      zone: change.zone,
      name: change.name,
      type: change.type,
      before: change.before,
      after: change.after,
      ttlBefore: change.ttlBefore,
      ttlAfter: change.ttlAfter,
      reason: change.reason,
      risky: change.risky,
    })),
    notices: plan.notices.map((notice) => ({ level: notice.level, zone: notice.zone, name: notice.name, message: notice.message })),
    zones: plan.zones.map((zone) => ({ provider: zone.provider, zone: zone.zone, names: zone.names })),
  };
  if (plan.base !== undefined) ordered.base = { commit: plan.base.commit, pending: [...plan.base.pending] };
  return `${JSON.stringify(ordered, null, 2)}\n`;
}

/** Parses a plan file; throws with a sentence saying what is wrong. */
export function readPlanJson(text: string, source = 'the plan file'): Plan {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw new DmarcopsError('plan-file-invalid', `${source} is not JSON: ${(error as Error).message}`, { cause: error });
  }
  const fail = (what: string): never => {
    throw new DmarcopsError('plan-file-invalid', `${source} is not a dmarcops plan: ${what}`);
  };
  if (!isPlainObject(data)) return fail('expected an object');
  if (data.version !== 1) fail(`version must be 1, not ${JSON.stringify(data.version)}`);
  if (typeof data.checksum !== 'string' || !/^[0-9a-f]{64}$/.test(data.checksum)) fail('checksum must be 64 hex digits');
  if (typeof data.generatedAt !== 'string') fail('generatedAt must be a string');
  if (!Array.isArray(data.changes)) return fail('changes must be a list');
  if (!Array.isArray(data.notices)) return fail('notices must be a list');
  if (!Array.isArray(data.zones)) return fail('zones must be a list');
  data.changes.forEach((change, index) => {
    if (!isChange(change)) fail(`changes[${index}] is not a change`);
  });
  data.notices.forEach((notice, index) => {
    if (!isPlainObject(notice) || typeof notice.name !== 'string' || typeof notice.message !== 'string')
      fail(`notices[${index}] is not a notice`);
  });
  if (data.base !== undefined) {
    const base = data.base;
    const ids = isPlainObject(base) && Array.isArray(base.pending) ? base.pending : undefined;
    if (
      !isPlainObject(base) ||
      typeof base.commit !== 'string' ||
      !/^[0-9a-f]{40,64}$/.test(base.commit) ||
      ids === undefined ||
      !ids.every((id) => typeof id === 'string' && IDENTITY.test(id))
    ) {
      fail('base must be {commit: a full sha, pending: change identities}');
    }
  }
  const plan = data as unknown as Plan;
  if (planChecksum(plan.changes) !== plan.checksum) fail('its checksum does not match its changes (edited or damaged)');
  return plan;
}

function isChange(value: unknown): value is RecordChange {
  if (!isPlainObject(value)) return false;
  const strings = (list: unknown) => list === null || (Array.isArray(list) && list.every((item) => typeof item === 'string'));
  const ttl = (item: unknown) => item === null || typeof item === 'number';
  return (
    ['create', 'update', 'delete'].includes(value.action as string) &&
    typeof value.provider === 'string' &&
    typeof value.zone === 'string' &&
    typeof value.name === 'string' &&
    value.type === 'TXT' &&
    strings(value.before) &&
    strings(value.after) &&
    ttl(value.ttlBefore) &&
    ttl(value.ttlAfter) &&
    typeof value.reason === 'string' &&
    typeof value.risky === 'boolean'
  );
}

const IDENTITY = new RegExp(`^[A-Za-z0-9+/]{${IDENTITY_LENGTH}}$`);
