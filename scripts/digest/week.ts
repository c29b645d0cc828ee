/**
 * ISO 8601 weeks (`2026-W10`): Monday to Sunday, week 1 being the week with the year's first
 * Thursday. Days are UTC, as everywhere in the dataset.
 */
import { addDays } from '../alerts/window.ts';

export interface IsoWeek {
  /** `YYYY-Www` */
  label: string;
  year: number;
  week: number;
  /** Monday and Sunday (ISO dates). */
  start: string;
  end: string;
}

const DAY_MS = 86_400_000;

/** Monday of ISO week 1 of `year`. */
function week1Monday(year: number): number {
  const jan4 = Date.UTC(year, 0, 4);
  const weekday = (new Date(jan4).getUTCDay() + 6) % 7; // Monday = 0
  return jan4 - weekday * DAY_MS;
}

/** 52 or 53. */
export function weeksInYear(year: number): number {
  return Math.round((week1Monday(year + 1) - week1Monday(year)) / (7 * DAY_MS));
}

function weekAt(year: number, week: number): IsoWeek {
  const start = new Date(week1Monday(year) + (week - 1) * 7 * DAY_MS).toISOString().slice(0, 10);
  return { label: `${year}-W${String(week).padStart(2, '0')}`, year, week, start, end: addDays(start, 6) };
}

/** `2026-W10` → the week; throws a sentence when it is not one. */
export function parseIsoWeek(text: string): IsoWeek {
  const match = /^(\d{4})-W(\d{2})$/.exec(text);
  if (match === null) throw new Error(`${JSON.stringify(text)} is not an ISO week: write YYYY-Www, e.g. 2026-W10`);
  const year = Number(match[1]);
  const week = Number(match[2]);
  const weeks = weeksInYear(year);
  if (week < 1 || week > weeks) throw new Error(`${text}: ${year} has weeks 01 to ${weeks}`);
  return weekAt(year, week);
}

/** The ISO week holding a day. */
export function isoWeekOf(day: string): IsoWeek {
  const ms = Date.parse(`${day}T00:00:00Z`);
  // The week's Thursday decides its year.
  const thursday = ms + (3 - ((new Date(ms).getUTCDay() + 6) % 7)) * DAY_MS;
  const year = new Date(thursday).getUTCFullYear();
  return weekAt(year, Math.floor((thursday - week1Monday(year)) / (7 * DAY_MS)) + 1);
}

/** The last full week before `now`: the ISO week before the one `now` (UTC) falls in. */
export function lastFullWeek(now: Date): IsoWeek {
  return isoWeekOf(addDays(isoWeekOf(now.toISOString().slice(0, 10)).start, -1));
}

/** The week before. */
export function previousWeek(week: IsoWeek): IsoWeek {
  return isoWeekOf(addDays(week.start, -1));
}
