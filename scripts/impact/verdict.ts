/**
 * The one-line verdicts: per domain ("no legitimate mail affected in 30 days of data from 6
 * reporters", "1,050 legitimate messages from Newsletters, Office printers would be rejected …")
 * and per next ramp step. A domain without reports in the window is never called safe: "no data:
 * cannot predict". Pure; plain text (the renderers escape it).
 */
import type { ImpactEntry } from './changes.ts';
import type { ChangeCounts, DomainImpact, ImpactSource, LegitimateSplit, NextStep } from './model.ts';

const count = (n: number): string => n.toLocaleString('en-US');
const plural = (n: number, word: string, many = `${word}s`): string => `${count(n)} ${n === 1 ? word : many}`;

/** Up to three names, then "and N more sources". */
function nameList(names: readonly string[]): string {
  const shown = names.slice(0, 3);
  const rest = names.length - shown.length;
  return `${shown.join(', ')}${rest > 0 ? ` and ${plural(rest, 'more source')}` : ''}`;
}

/** Why RFC 7489 receivers do something else with this domain's mail, from what its files say; null when nothing differs. */
export function receiverDifference(entry: ImpactEntry): string | null {
  const policies = [entry.base?.policy, entry.head?.policy].filter((p) => p !== undefined);
  const testing = policies.some((p) => p.testing);
  const pcts = [...new Set(policies.map((p) => p.pct).filter((pct) => pct !== undefined && pct !== 100))];
  const reasons: string[] = [];
  if (testing) reasons.push('ignore t=y');
  if (pcts.length > 0) reasons.push(`apply pct=${pcts.join('/')} as sampling`);
  return reasons.length === 0 ? null : `which ${reasons.join(' and ')}`;
}

type Generation = 'rfc9989' | 'rfc7489';

function sideCounts(source: ImpactSource, generation: Generation): { newlyQuarantined: number; newlyRejected: number; relaxed: number } {
  return generation === 'rfc9989' ? source : source.rfc7489;
}

/**
 * "1,050 legitimate messages from Newsletters, Office printers would be rejected", or with both
 * "… would be rejected (1,000) or quarantined (50)"; null when none would.
 */
function movedPhrase(counts: { newlyQuarantined: number; newlyRejected: number }, side: 'legitimate' | 'unauthorised', names: readonly string[]): string | null {
  const total = counts.newlyQuarantined + counts.newlyRejected;
  if (total === 0) return null;
  const what = counts.newlyRejected > 0 && counts.newlyQuarantined > 0
    ? `rejected (${count(counts.newlyRejected)}) or quarantined (${count(counts.newlyQuarantined)})`
    : counts.newlyRejected > 0 ? 'rejected' : 'quarantined';
  return `${plural(total, `${side} message`)}${names.length === 0 ? '' : ` from ${nameList(names)}`} would be ${what}`;
}

/** movedPhrase for one side of a domain, naming the legitimate sources behind it (for that generation). */
export function describeAffected(counts: ChangeCounts, sources: readonly ImpactSource[], side: 'legitimate' | 'unauthorised', generation: Generation): string | null {
  const names = side === 'unauthorised' ? [] : sources.filter((s) => s.legitimate).filter((s) => {
    const c = sideCounts(s, generation);
    return c.newlyQuarantined + c.newlyRejected > 0;
  }).map((s) => s.name);
  return movedPhrase(counts, side, names);
}

/** "300 unauthorised messages would no longer be blocked" style addenda for relaxed mail. */
function describeRelaxed(counts: ChangeCounts, side: 'legitimate' | 'unauthorised'): string | null {
  if (counts.relaxed === 0) return null;
  return `${plural(counts.relaxed, `${side} message`)} would be handled less strictly`;
}

function dataContext(impact: DomainImpact): string {
  return `${plural(impact.days, 'day')} of data from ${plural(impact.reporters, 'reporter')}`;
}

function noData(domain: string, windowDays: number, windowTo: string | null): string {
  const where = windowTo === null ? 'the dataset holds no reports' : `no reports for ${domain} in the ${plural(windowDays, 'day')} to ${windowTo.slice(0, 10)}`;
  return `no data: cannot predict (${where})`;
}

export interface VerdictContext {
  windowDays: number;
  windowTo: string | null;
  /** receiverDifference(entry). */
  difference: string | null;
}

export function domainVerdict(impact: DomainImpact, context: VerdictContext): string {
  if (impact.status === 'no-data') return noData(impact.domain, context.windowDays, context.windowTo);
  const data = dataContext(impact);
  const relabel = [
    impact.relabelled.toLegitimate > 0 ? `the senders change re-labels ${plural(impact.relabelled.toLegitimate, 'message')} as legitimate` : null,
    impact.relabelled.toUnauthorised > 0 ? `the senders change re-labels ${plural(impact.relabelled.toUnauthorised, 'message')} as unauthorised` : null,
  ].filter((s) => s !== null);
  if (impact.status === 'no-effect') {
    return [`no change in what receivers do with the ${plural(impact.messages, 'message')} of ${data}`, ...relabel].join('; ');
  }

  const split9989 = { legitimate: impact.legitimate, unauthorised: impact.unauthorised };
  /** The legitimate part first (the point of the verdict), then what happens to unauthorised mail. */
  const phrase = (generation: Generation): { legitimate: string; rest: string[] } => {
    const split = generation === 'rfc9989' ? split9989 : impact.rfc7489;
    const rest = [
      describeAffected(split.unauthorised, impact.sources, 'unauthorised', generation),
      describeRelaxed(split.legitimate, 'legitimate'),
      describeRelaxed(split.unauthorised, 'unauthorised'),
    ].filter((s) => s !== null);
    return { legitimate: describeAffected(split.legitimate, impact.sources, 'legitimate', generation) ?? 'no legitimate mail affected', rest };
  };
  const rfc9989 = phrase('rfc9989');
  const rfc7489 = phrase('rfc7489');
  const same = rfc9989.legitimate === rfc7489.legitimate && rfc9989.rest.join() === rfc7489.rest.join();
  const main = same
    ? [`${rfc9989.legitimate} in ${data}`, ...rfc9989.rest].join('; ')
    : `RFC 9989 receivers: ${[rfc9989.legitimate, ...rfc9989.rest].join('; ')}; ` +
      `RFC 7489 receivers (${context.difference ?? 'which ignore t=y and apply pct'}): ${[rfc7489.legitimate, ...rfc7489.rest].join('; ')} (${data})`;
  return [main, ...relabel].join('; ');
}

export function nextStepVerdict(step: NextStep, impact: DomainImpact, difference: string | null): string {
  if (step.status === 'end-of-ramp') return 'the end of the ramp: p=reject without testing, strict alignment';
  if (step.status === 'no-data') return 'no data: cannot predict';
  const data = dataContext(impact);
  const names = step.affectedSources.map((s) => s.name);
  const phrase = (split: LegitimateSplit): { legitimate: string; rest: string[] } => ({
    legitimate: movedPhrase(split.legitimate, 'legitimate', names) ?? 'no legitimate mail affected',
    rest: [movedPhrase(split.unauthorised, 'unauthorised', [])].filter((p) => p !== null),
  });
  const rfc9989 = phrase({ legitimate: step.legitimate, unauthorised: step.unauthorised });
  const rfc7489 = phrase(step.rfc7489);
  if (rfc9989.legitimate === rfc7489.legitimate && rfc9989.rest.join() === rfc7489.rest.join()) return [`${rfc9989.legitimate} in ${data}`, ...rfc9989.rest].join('; ');
  return `RFC 9989 receivers: ${[rfc9989.legitimate, ...rfc9989.rest].join('; ')}; ` +
    `RFC 7489 receivers (${difference ?? 'which ignore t=y'}): ${[rfc7489.legitimate, ...rfc7489.rest].join('; ')} (${data})`;
}
