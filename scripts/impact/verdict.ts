/**
 * The one-line verdicts: per domain ("no legitimate mail affected in 30 days of data from 6
 * reporters", "1,050 legitimate messages from Newsletters, Office printers would be rejected …")
 * and per next ramp step. A domain without reports in the window is never called safe: "no data:
 * cannot predict". Pure; plain text (the renderers escape it).
 */
import { formatCount, plural } from '../lib/text.ts';
import type { ImpactEntry } from './changes.ts';
import type { ChangeCounts, DomainImpact, LegitimateSplit, NextStep } from './model.ts';

/** Who is behind a figure: declared senders and services by name, forwarders counted (their mail is ours, re-sent). */
export interface SourceNames {
  /** Non-forwarded sources, most affected messages first. */
  names: readonly string[];
  /** Forwarding sources, and how many of the messages they carry. */
  forwarders: number;
  forwardedMessages: number;
}

export const NO_SOURCES: SourceNames = { names: [], forwarders: 0, forwardedMessages: 0 };

/** "Newsletters, Office printers and 2 more sources", "… and 3 forwarders". */
function sourceList({ names, forwarders }: SourceNames): string {
  const shown = names.slice(0, 3);
  const parts = [shown.join(', ')].filter((p) => p !== '');
  const rest = names.length - shown.length;
  if (rest > 0) parts.push(plural(rest, 'more source'));
  if (forwarders > 0) parts.push(plural(forwarders, 'forwarder'));
  return parts.length <= 1 ? (parts[0] ?? '') : `${parts.slice(0, -1).join(', ')} and ${parts.at(-1)}`;
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

export type Generation = 'rfc9989' | 'rfc7489';

/**
 * "1,050 legitimate messages from Newsletters, Office printers would be rejected", or with both
 * "… would be rejected (1,000) or quarantined (50)"; null when none would.
 */
function movedPhrase(
  counts: { newlyQuarantined: number; newlyRejected: number },
  side: 'legitimate' | 'unauthorised',
  sources: SourceNames,
): string | null {
  const total = counts.newlyQuarantined + counts.newlyRejected;
  if (total === 0) return null;
  const what =
    counts.newlyRejected > 0 && counts.newlyQuarantined > 0
      ? `rejected (${formatCount(counts.newlyRejected)}) or quarantined (${formatCount(counts.newlyQuarantined)})`
      : counts.newlyRejected > 0
        ? 'rejected'
        : 'quarantined';
  const list = sourceList(sources);
  const forwarded =
    sources.forwardedMessages > 0
      ? ` (${formatCount(Math.min(total, sources.forwardedMessages))} of them forwarded: receivers that trust ARC often deliver those)`
      : '';
  return `${plural(total, `${side} message`)}${list === '' ? '' : ` from ${list}`} would be ${what}${forwarded}`;
}

/** "300 unauthorised messages would be handled less strictly": the addendum for relaxed mail. */
function describeRelaxed(counts: ChangeCounts, side: 'legitimate' | 'unauthorised'): string | null {
  if (counts.relaxed === 0) return null;
  return `${plural(counts.relaxed, `${side} message`)} would be handled less strictly`;
}

function dataContext(impact: DomainImpact): string {
  return `${plural(impact.days, 'day')} of data from ${plural(impact.reporters, 'reporter')}`;
}

function noData(domain: string, windowDays: number, windowTo: string | null): string {
  const where =
    windowTo === null
      ? 'the dataset holds no reports'
      : `no reports for ${domain} in the ${plural(windowDays, 'day')} to ${windowTo.slice(0, 10)}`;
  return `no data: cannot predict (${where})`;
}

export interface VerdictContext {
  windowDays: number;
  windowTo: string | null;
  /** receiverDifference(entry). */
  difference: string | null;
  /** Every legitimate source whose mail would be newly quarantined or rejected, most first, per generation (listed or not). */
  legitimateSources: Record<Generation, SourceNames>;
}

export function domainVerdict(impact: DomainImpact, context: VerdictContext): string {
  if (impact.status === 'no-data') return noData(impact.domain, context.windowDays, context.windowTo);
  const data = dataContext(impact);
  const relabel = [
    impact.relabelled.toLegitimate > 0
      ? `the senders change re-labels ${plural(impact.relabelled.toLegitimate, 'message')} as legitimate`
      : null,
    impact.relabelled.toUnauthorised > 0
      ? `the senders change re-labels ${plural(impact.relabelled.toUnauthorised, 'message')} as unauthorised`
      : null,
  ].filter((s) => s !== null);
  if (impact.status === 'no-effect') {
    return [`no change in what receivers do with the ${plural(impact.messages, 'message')} of ${data}`, ...relabel].join('; ');
  }

  const split9989 = { legitimate: impact.legitimate, unauthorised: impact.unauthorised };
  /** The legitimate part first (the point of the verdict), then what happens to unauthorised mail. */
  const phrase = (generation: Generation): { legitimate: string; rest: string[] } => {
    const split = generation === 'rfc9989' ? split9989 : impact.rfc7489;
    const rest = [
      movedPhrase(split.unauthorised, 'unauthorised', NO_SOURCES),
      describeRelaxed(split.legitimate, 'legitimate'),
      describeRelaxed(split.unauthorised, 'unauthorised'),
    ].filter((s) => s !== null);
    return {
      legitimate: movedPhrase(split.legitimate, 'legitimate', context.legitimateSources[generation]) ?? 'no legitimate mail affected',
      rest,
    };
  };
  const rfc9989 = phrase('rfc9989');
  const rfc7489 = phrase('rfc7489');
  const why = context.difference ?? 'which ignore t=y and apply pct';
  const rest9989 = rfc9989.rest.join('; ');
  const rest7489 = rfc7489.rest.join('; ');
  let main: string;
  if (rfc9989.legitimate !== rfc7489.legitimate) {
    main =
      `RFC 9989 receivers: ${[rfc9989.legitimate, ...rfc9989.rest].join('; ')}; ` +
      `RFC 7489 receivers (${why}): ${[rfc7489.legitimate, ...rfc7489.rest].join('; ')} (${data})`;
  } else if (rest9989 === rest7489) {
    main = [`${rfc9989.legitimate} in ${data}`, ...rfc9989.rest].join('; ');
  } else {
    // The legitimate part is the same for both generations; only what happens to the rest differs.
    main =
      `${rfc9989.legitimate} in ${data}; RFC 9989 receivers: ${rest9989 || 'nothing else changes'}; ` +
      `RFC 7489 receivers (${why}): ${rest7489 || 'nothing else changes'}`;
  }
  return [main, ...relabel].join('; ');
}

export function nextStepVerdict(step: NextStep, impact: DomainImpact, difference: string | null): string {
  if (step.status === 'end-of-ramp') return 'the end of the ramp: p=reject without testing, strict alignment';
  if (step.status === 'no-data') return 'no data: cannot predict';
  const data = dataContext(impact);
  const forwarded = step.affectedSources.filter((s) => s.category === 'forwarded');
  const names: SourceNames = {
    names: step.affectedSources.filter((s) => s.category !== 'forwarded').map((s) => s.name),
    forwarders: forwarded.length,
    forwardedMessages: forwarded.reduce((sum, s) => sum + s.messages, 0),
  };
  const phrase = (split: LegitimateSplit): { legitimate: string; rest: string[] } => ({
    legitimate: movedPhrase(split.legitimate, 'legitimate', names) ?? 'no legitimate mail affected',
    rest: [movedPhrase(split.unauthorised, 'unauthorised', NO_SOURCES)].filter((p) => p !== null),
  });
  const rfc9989 = phrase({ legitimate: step.legitimate, unauthorised: step.unauthorised });
  const rfc7489 = phrase(step.rfc7489);
  if (rfc9989.legitimate === rfc7489.legitimate && rfc9989.rest.join() === rfc7489.rest.join())
    return [`${rfc9989.legitimate} in ${data}`, ...rfc9989.rest].join('; ');
  return (
    `RFC 9989 receivers: ${[rfc9989.legitimate, ...rfc9989.rest].join('; ')}; ` +
    `RFC 7489 receivers (${difference ?? 'which ignore t=y'}): ${[rfc7489.legitimate, ...rfc7489.rest].join('; ')} (${data})`
  );
}
