/**
 * The impact as JSON (the contract in ../model.ts, documented in docs/impact.md), and reading it
 * back for `dmarcops comment --impact`: a file that is not an impact report (or one of another
 * version) is refused with its name, never half-rendered.
 */
import { isPlainObject } from '../../lib/collections.ts';
import { DmarcopsError } from '../../lib/errors.ts';
import { IMPACT_VERSION } from '../model.ts';
import type { ImpactReport } from '../model.ts';

export function renderImpactJson(report: ImpactReport): string {
  return `${JSON.stringify(report, null, 2)}\n`;
}

const isCount = (value: unknown): boolean => typeof value === 'number' && Number.isInteger(value) && value >= 0;

function checkCounts(value: unknown, where: string, fail: (what: string) => never): void {
  if (!isPlainObject(value) || !['messages', 'newlyQuarantined', 'newlyRejected', 'relaxed'].every((key) => isCount(value[key]))) {
    fail(`${where} must hold whole message counts (messages, newlyQuarantined, newlyRejected, relaxed)`);
  }
}

/** Parses and checks an impact report; throws an `impact-file-invalid` error naming `file` and what is wrong. */
export function readImpactJson(text: string, file: string): ImpactReport {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw new DmarcopsError('impact-file-invalid', `${file} is not JSON: ${(error as Error).message}`, { cause: error });
  }
  const fail = (what: string): never => {
    throw new DmarcopsError('impact-file-invalid', `${file} is not a dmarcops impact report: ${what}`);
  };
  if (!isPlainObject(data)) return fail('expected an object');
  if (data.version !== IMPACT_VERSION)
    return fail(`version ${JSON.stringify(data.version)}, expected ${IMPACT_VERSION} (made by another dmarcops version?)`);
  if (typeof data.changed !== 'boolean') fail('`changed` must be true or false');
  if (!isPlainObject(data.window) || !Number.isInteger(data.window.days)) fail('`window` must have `days`');
  if (!Array.isArray(data.domains)) return fail('`domains` must be a list');
  if (!Array.isArray(data.caveats) || !data.caveats.every((c) => typeof c === 'string')) fail('`caveats` must be a list of text');
  for (const [index, domain] of (data.domains as unknown[]).entries()) {
    const where = `domains[${index}]`;
    if (!isPlainObject(domain)) return fail(`${where} must be an object`);
    if (typeof domain.domain !== 'string' || typeof domain.verdict !== 'string' || typeof domain.status !== 'string')
      fail(`${where} needs domain, status and verdict`);
    for (const key of ['changed', 'changes', 'sources', 'assumptions'] as const)
      if (!Array.isArray(domain[key])) fail(`${where}.${key} must be a list`);
    checkCounts(domain.legitimate, `${where}.legitimate`, fail);
    checkCounts(domain.unauthorised, `${where}.unauthorised`, fail);
    if (!isPlainObject(domain.rfc7489)) return fail(`${where}.rfc7489 must be an object`);
    checkCounts(domain.rfc7489.legitimate, `${where}.rfc7489.legitimate`, fail);
    checkCounts(domain.rfc7489.unauthorised, `${where}.rfc7489.unauthorised`, fail);
    for (const [i, source] of (domain.sources as unknown[]).entries()) {
      if (!isPlainObject(source) || typeof source.name !== 'string' || typeof source.category !== 'string' || !isCount(source.messages)) {
        fail(`${where}.sources[${i}] needs name, category and messages`);
      }
    }
  }
  return data as unknown as ImpactReport;
}
