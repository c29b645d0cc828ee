/**
 * Replayed keys → one DomainImpact per changed domain: sums per side (legitimate, unauthorised),
 * per generation of receivers, per category and per source, then the verdict lines. Sums stay
 * unrounded (RFC 7489 `pct` gives expected values) until `finish`, which rounds each figure once.
 */
import { plural } from '../lib/text.ts';
import type { Category } from '../reports/classify.ts';
import { CATEGORIES } from '../reports/classify.ts';
import { groupLabel } from '../site/rollups/common.ts';
import type { ImpactEntry } from './changes.ts';
import type {
  ChangeCounts,
  DispositionMix,
  DomainImpact,
  ImpactSource,
  KeyChange,
  LegitimateSplit,
  NextStep,
  OtherSources,
} from './model.ts';
import type { KeyOutcome, Mix, Movement } from './replay.ts';
import { isLegitimate } from './replay.ts';
import { domainVerdict, nextStepVerdict, receiverDifference } from './verdict.ts';
import type { Generation, SourceNames } from './verdict.ts';

/** Sources listed per domain; the rest are summed into `otherSources`. */
export const SOURCES_PER_DOMAIN = 10;
/** Legitimate sources named per next step. */
const NEXT_STEP_SOURCES = 5;

/** A source's key among a domain's: its group's number × 4 + its category's index. */
export const sourceKey = (group: number, category: Category): number => group * CATEGORIES.length + CATEGORIES.indexOf(category);

/** Whether an outcome makes its source worth listing: its mail changes disposition or side (legitimate or not). */
export function changesSomething(outcome: KeyOutcome): boolean {
  const { rfc9989, rfc7489 } = outcome.moved;
  return (
    changedMessages(rfc9989) > 0 ||
    changedMessages(rfc7489) > 0 ||
    (outcome.categoryBefore !== null && outcome.categoryBefore !== outcome.category)
  );
}

/** Whole messages from an expected value (the float noise of summing shares removed first). */
export const whole = (value: number): number => Math.round(Math.round(value * 1e6) / 1e6);

class Counts {
  messages = 0;
  newlyQuarantined = 0;
  newlyRejected = 0;
  relaxed = 0;

  add(messages: number, moved: Movement): void {
    this.messages += messages;
    this.newlyQuarantined += moved.newlyQuarantined * messages;
    this.newlyRejected += moved.newlyRejected * messages;
    this.relaxed += moved.relaxed * messages;
  }

  rounded(): ChangeCounts {
    return {
      messages: whole(this.messages),
      newlyQuarantined: whole(this.newlyQuarantined),
      newlyRejected: whole(this.newlyRejected),
      relaxed: whole(this.relaxed),
    };
  }
}

class Sides {
  legitimate = new Counts();
  unauthorised = new Counts();

  add(legitimate: boolean, messages: number, moved: Movement): void {
    (legitimate ? this.legitimate : this.unauthorised).add(messages, moved);
  }

  rounded(): LegitimateSplit {
    return { legitimate: this.legitimate.rounded(), unauthorised: this.unauthorised.rounded() };
  }
}

class MixSum {
  values = [0, 0, 0];

  add(mix: Mix, messages: number): void {
    for (let i = 0; i < 3; i++) this.values[i] = (this.values[i] ?? 0) + (mix[i] ?? 0) * messages;
  }

  rounded(): DispositionMix {
    return { none: whole(this.values[0] ?? 0), quarantine: whole(this.values[1] ?? 0), reject: whole(this.values[2] ?? 0) };
  }
}

interface SourceSums {
  groupKey: string;
  category: Category;
  messages: number;
  passBefore: number;
  passAfter: number;
  before9989: MixSum;
  after9989: MixSum;
  moved9989: Counts;
  before7489: MixSum;
  after7489: MixSum;
  moved7489: Counts;
  categoryBefore: Map<Category, number>;
}

/** Subdomain existence notes: version → (if it exists | if not) → From domain → failing messages. */
type ExistenceNotes = Map<'base' | 'head', Map<string, Map<string, number>>>;

export interface EntryStats {
  reporters: number;
  days: number;
}

export interface FinishContext {
  stats: EntryStats;
  /** Days the window spans, and its end (ISO), for the no-data verdict. */
  windowDays: number;
  windowTo: string | null;
  /** The head's next ramp rung for this domain (null: end of the ramp, or a removed file). */
  next: { step: string; changes: KeyChange[] } | null;
  sourcesPerDomain?: number;
}

const sourceKind = (groupKey: string): ImpactSource['kind'] => {
  const kind = groupKey.slice(0, groupKey.indexOf(':'));
  return kind === 'sender' ? 'sender' : kind === 'service' ? 'service' : kind === 'base' ? 'host' : 'ip';
};
const affected = (c: { newlyQuarantined: number; newlyRejected: number }): number => c.newlyQuarantined + c.newlyRejected;
const changedMessages = (c: { newlyQuarantined: number; newlyRejected: number; relaxed: number }): number =>
  c.newlyQuarantined + c.newlyRejected + c.relaxed;

/** Everything one changed domain's replayed keys add up to. */
export class EntryAccumulator {
  readonly entry: ImpactEntry;
  #keys = 0;
  #rfc9989 = new Sides();
  #rfc7489 = new Sides();
  #categories = new Map<Category, Counts>(CATEGORIES.map((c) => [c, new Counts()]));
  #relabelled = { toLegitimate: 0, toUnauthorised: 0 };
  /** By source key: a group number × 4 + the category's index (see `sourceKey`). */
  #sources = new Map<number, SourceSums>();
  #existence: ExistenceNotes = new Map();
  #next9989 = new Sides();
  #next7489 = new Sides();
  /** Legitimate messages the next step would newly quarantine or reject, per source (worse generation per key). */
  #nextAffected = new Map<number, { groupKey: string; category: Category; messages: number }>();

  constructor(entry: ImpactEntry) {
    this.entry = entry;
  }

  /** All the window's messages of one replayed key (from every source). */
  addOutcome(from: string, outcome: KeyOutcome, messages: number): void {
    this.#keys += 1;
    const { base, head, category, moved, nextMoved } = outcome;
    const legitimate = isLegitimate(category);
    this.#rfc9989.add(legitimate, messages, moved.rfc9989);
    this.#rfc7489.add(legitimate, messages, moved.rfc7489);
    this.#categories.get(category)?.add(messages, moved.rfc9989);
    if (outcome.categoryBefore !== null && isLegitimate(outcome.categoryBefore) !== legitimate) {
      if (legitimate) this.#relabelled.toLegitimate += messages;
      else this.#relabelled.toUnauthorised += messages;
    }
    for (const [version, outcomeOf] of [
      ['base', base],
      ['head', head],
    ] as const) {
      if (outcomeOf.existence === null) continue;
      const notes = this.#existence.get(version) ?? new Map<string, Map<string, number>>();
      this.#existence.set(version, notes);
      const pair = `${outcomeOf.existence.ifExists}|${outcomeOf.existence.ifNot}`;
      const froms = notes.get(pair) ?? new Map<string, number>();
      notes.set(pair, froms);
      froms.set(from, (froms.get(from) ?? 0) + messages);
    }
    if (nextMoved !== null) {
      this.#next9989.add(legitimate, messages, nextMoved.rfc9989);
      this.#next7489.add(legitimate, messages, nextMoved.rfc7489);
    }
  }

  /**
   * The messages of one replayed key from one source group (a declared sender, service, host or IP).
   * `full`: the source may be listed (some of its mail changes disposition or label), so its spreads
   * and DMARC results are summed too; for the others, which are only counted, that is skipped.
   */
  addSource(outcome: KeyOutcome, key: number, groupKey: string, messages: number, full: boolean): void {
    const { base, head, category, moved, nextMoved } = outcome;
    let source = this.#sources.get(key);
    if (source === undefined) {
      source = {
        groupKey,
        category,
        messages: 0,
        passBefore: 0,
        passAfter: 0,
        before9989: new MixSum(),
        after9989: new MixSum(),
        moved9989: new Counts(),
        before7489: new MixSum(),
        after7489: new MixSum(),
        moved7489: new Counts(),
        categoryBefore: new Map(),
      };
      this.#sources.set(key, source);
    }
    source.messages += messages;
    if (full) {
      if (base.pass) source.passBefore += messages;
      if (head.pass) source.passAfter += messages;
      source.before9989.add(base.rfc9989, messages);
      source.after9989.add(head.rfc9989, messages);
      source.moved9989.add(messages, moved.rfc9989);
      source.before7489.add(base.rfc7489, messages);
      source.after7489.add(head.rfc7489, messages);
      source.moved7489.add(messages, moved.rfc7489);
      if (outcome.categoryBefore !== null)
        source.categoryBefore.set(outcome.categoryBefore, (source.categoryBefore.get(outcome.categoryBefore) ?? 0) + messages);
    }
    if (nextMoved !== null && isLegitimate(category)) {
      const worse = Math.max(affected(nextMoved.rfc9989), affected(nextMoved.rfc7489)) * messages;
      if (worse > 0) {
        const hit = this.#nextAffected.get(key) ?? { groupKey, category, messages: 0 };
        hit.messages += worse;
        this.#nextAffected.set(key, hit);
      }
    }
  }

  finish(context: FinishContext): DomainImpact {
    const { entry } = this;
    const rfc9989 = this.#rfc9989.rounded();
    const rfc7489 = this.#rfc7489.rounded();
    const messages = rfc9989.legitimate.messages + rfc9989.unauthorised.messages;
    const { sources, otherSources } = this.#listSources(context.sourcesPerDomain ?? SOURCES_PER_DOMAIN);
    // Both generations are shown only where their figures differ.
    const receiversDiffer = JSON.stringify(rfc9989) !== JSON.stringify(rfc7489);
    const categories = Object.fromEntries(CATEGORIES.map((c) => [c, (this.#categories.get(c) ?? new Counts()).rounded()])) as Record<
      Category,
      ChangeCounts
    >;
    const anyMovement = [rfc9989, rfc7489].some((split) => changedMessages(split.legitimate) + changedMessages(split.unauthorised) > 0);
    const legitimateHit = Math.max(affected(rfc9989.legitimate), affected(rfc7489.legitimate)) > 0;
    const status: DomainImpact['status'] =
      this.#keys === 0 ? 'no-data' : !anyMovement ? 'no-effect' : legitimateHit ? 'legitimate-impact' : 'no-legitimate-impact';
    const relabelled = { toLegitimate: whole(this.#relabelled.toLegitimate), toUnauthorised: whole(this.#relabelled.toUnauthorised) };

    const impact: DomainImpact = {
      domain: entry.domain,
      file: { before: entry.base?.policy.file ?? null, after: entry.head?.policy.file ?? null },
      changed: entry.changes.map((c) => c.key),
      changes: entry.changes,
      status,
      messages,
      reporters: context.stats.reporters,
      days: context.stats.days,
      legitimate: rfc9989.legitimate,
      unauthorised: rfc9989.unauthorised,
      rfc7489,
      receiversDiffer,
      categories,
      relabelled,
      sources,
      otherSources,
      assumptions: this.#assumptions(),
      verdict: '',
      nextStep: null,
    };
    const difference = receiverDifference(entry);
    impact.verdict = domainVerdict(impact, {
      windowDays: context.windowDays,
      windowTo: context.windowTo,
      difference,
      legitimateSources: this.#legitimateSources(),
    });
    if (entry.head !== undefined) impact.nextStep = this.#nextStep(impact, context, difference);
    return impact;
  }

  #listSources(limit: number): { sources: ImpactSource[]; otherSources: OtherSources | null } {
    const candidates = [...this.#sources.values()]
      .map((s) => {
        const before = [...s.categoryBefore].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))[0]?.[0];
        const moved = Math.max(changedMessages(s.moved9989), changedMessages(s.moved7489));
        return { s, categoryBefore: before !== undefined && before !== s.category ? before : undefined, moved };
      })
      .filter(({ moved, categoryBefore }) => whole(moved) > 0 || categoryBefore !== undefined)
      .sort(
        (a, b) =>
          b.moved - a.moved ||
          b.s.messages - a.s.messages ||
          a.s.groupKey.localeCompare(b.s.groupKey) ||
          a.s.category.localeCompare(b.s.category),
      );
    const listed = candidates.slice(0, Math.max(0, limit));
    const rest = candidates.slice(listed.length);
    const sources = listed.map(({ s, categoryBefore }): ImpactSource => {
      const moved9989 = s.moved9989.rounded();
      const moved7489 = s.moved7489.rounded();
      const source: ImpactSource = {
        name: groupLabel(s.groupKey, false),
        kind: sourceKind(s.groupKey),
        category: s.category,
        legitimate: isLegitimate(s.category),
        messages: whole(s.messages),
        dmarcPass: { before: whole(s.passBefore), after: whole(s.passAfter) },
        before: s.before9989.rounded(),
        after: s.after9989.rounded(),
        newlyQuarantined: moved9989.newlyQuarantined,
        newlyRejected: moved9989.newlyRejected,
        relaxed: moved9989.relaxed,
        rfc7489: {
          before: s.before7489.rounded(),
          after: s.after7489.rounded(),
          newlyQuarantined: moved7489.newlyQuarantined,
          newlyRejected: moved7489.newlyRejected,
          relaxed: moved7489.relaxed,
        },
      };
      if (categoryBefore !== undefined) source.categoryBefore = categoryBefore;
      return source;
    });
    if (rest.length === 0) return { sources, otherSources: null };
    const sum = new Counts();
    for (const { s } of rest) {
      sum.messages += s.messages;
      sum.newlyQuarantined += s.moved9989.newlyQuarantined;
      sum.newlyRejected += s.moved9989.newlyRejected;
      sum.relaxed += s.moved9989.relaxed;
    }
    return { sources, otherSources: { sources: rest.length, ...sum.rounded() } };
  }

  /** The legitimate sources whose mail would be newly quarantined or rejected, most first, per generation. */
  #legitimateSources(): Record<Generation, SourceNames> {
    const of = (moved: (s: SourceSums) => Counts): SourceNames => {
      const hit = [...this.#sources.values()]
        .filter((s) => isLegitimate(s.category) && whole(affected(moved(s))) > 0)
        .sort((a, b) => affected(moved(b)) - affected(moved(a)) || a.groupKey.localeCompare(b.groupKey));
      const forwarded = hit.filter((s) => s.category === 'forwarded');
      return {
        names: [...new Set(hit.filter((s) => s.category !== 'forwarded').map((s) => groupLabel(s.groupKey, false)))],
        forwarders: new Set(forwarded.map((s) => s.groupKey)).size,
        forwardedMessages: whole(forwarded.reduce((sum, s) => sum + affected(moved(s)), 0)),
      };
    };
    return { rfc9989: of((s) => s.moved9989), rfc7489: of((s) => s.moved7489) };
  }

  #assumptions(): string[] {
    const lines: string[] = [];
    for (const version of ['head', 'base'] as const) {
      for (const [pair, froms] of this.#existence.get(version) ?? []) {
        const [ifExists, ifNot] = pair.split('|');
        const names = [...froms].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
        const failing = whole(names.reduce((sum, [, n]) => sum + n, 0));
        if (failing === 0) continue;
        const shown = names.slice(0, 3).map(([name]) => name);
        const more = names.length > shown.length ? ` and ${names.length - shown.length} more` : '';
        const one = names.length === 1;
        lines.push(
          `${version === 'head' ? 'After' : 'Before'} the change, ${shown.join(', ')}${more} (${plural(failing, 'failing message')}) ` +
            `${one ? 'is' : 'are'} taken to exist, so sp applies (${ifExists}); if ${one ? 'it does' : 'one does'} not exist, np applies (${ifNot}).`,
        );
      }
    }
    return lines;
  }

  #nextStep(impact: DomainImpact, context: FinishContext, difference: string | null): NextStep {
    const empty: ChangeCounts = { messages: 0, newlyQuarantined: 0, newlyRejected: 0, relaxed: 0 };
    const next9989 = this.#next9989.rounded();
    const next7489 = this.#next7489.rounded();
    const affectedSources = [...this.#nextAffected.values()]
      .map((a) => ({ name: groupLabel(a.groupKey, false), category: a.category, messages: whole(a.messages) }))
      .filter((a) => a.messages > 0)
      .sort((a, b) => b.messages - a.messages || a.name.localeCompare(b.name))
      .slice(0, NEXT_STEP_SOURCES);
    if (context.next === null) {
      const split = { legitimate: empty, unauthorised: empty };
      const step: NextStep = { step: null, changes: [], status: 'end-of-ramp', ...split, rfc7489: split, affectedSources: [], verdict: '' };
      step.verdict = nextStepVerdict(step, impact, difference);
      return step;
    }
    const legitimateHit = Math.max(affected(next9989.legitimate), affected(next7489.legitimate)) > 0;
    const step: NextStep = {
      step: context.next.step,
      changes: context.next.changes,
      status: impact.status === 'no-data' ? 'no-data' : legitimateHit ? 'affects-legitimate' : 'safe',
      legitimate: next9989.legitimate,
      unauthorised: next9989.unauthorised,
      rfc7489: next7489,
      affectedSources,
      verdict: '',
    };
    // The rung itself may bring t=y in (or take it out): RFC 7489 receivers ignore it either way.
    const testing = context.next.changes.some((c) => c.key === 'testing') || this.entry.head?.policy.testing === true;
    step.verdict = nextStepVerdict(step, impact, testing ? 'which ignore t=y' : difference);
    return step;
  }
}
