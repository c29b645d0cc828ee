/**
 * Small text formatting shared by every stage: counts with their noun, byte sizes, clipped values,
 * UTF-8 lengths, and the styling interface text renderers take. Pure and browser-safe (no Node
 * built-ins at run time), so the dashboard can use it too.
 */
import type { styleText } from 'node:util';

/**
 * How a renderer styles terminal text (bold, colours). The command line's `Output` provides it, plain
 * when colours are off (no TTY, NO_COLOR); stages take this instead of importing the command line.
 */
export interface Styler {
  style(format: Parameters<typeof styleText>[0], text: string): string;
}

/**
 * `1 change`, `3 changes`, `12,000 entries`: the count (thousands separated, as `formatCount`) and the
 * noun, plural unless the count is one; `many` for a noun whose plural is not just an `s`.
 */
export function plural(count: number, word: string, many = `${word}s`): string {
  return `${formatCount(count)} ${count === 1 ? word : many}`;
}

const BYTE_UNITS = ['KiB', 'MiB', 'GiB', 'TiB'];

/**
 * A size in binary (IEC) units, 1 KiB = 1024 bytes: `512 B`, `1.5 KiB`, `300 KiB`, `2.4 MiB`. One
 * decimal, dropped when it is zero, so a page of 300.4 KiB never reads as its 300 KiB budget.
 */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < BYTE_UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(1).replace(/\.0$/, '')} ${BYTE_UNITS[unit]}`;
}

/**
 * Characters of a name taken from a report (a reporter's `org_name`) that an alert or the digest shows,
 * in titles, sentences, tables and mail; the rest is clipped (`clip`). A forged report's name may be
 * tens of thousands of characters (a header of up to 48 KiB), and these texts go into issue titles
 * (256 characters), issue bodies (65,536) and mail; real reporters' names are far shorter. One bound,
 * so an alert and the digest show a name alike.
 */
export const SHOWN_NAME_MAX = 100;

/**
 * `text` cut to at most `max` characters (UTF-16 units), the last one an ellipsis when it was cut. The
 * cut never leaves half of a surrogate pair (an emoji, say): a lone surrogate is no valid UTF-8, shows
 * as U+FFFD and can make an API refuse the text.
 */
export function clip(text: string, max = 60): string {
  if (text.length <= max) return text;
  const end = /[\uD800-\uDBFF]/.test(text.charAt(max - 2)) ? max - 2 : max - 1;
  return `${text.slice(0, end)}…`;
}

/** `text` with its first character in upper case: a verdict or a title that starts a sentence. */
export function capitalise(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** Octets of `text` in UTF-8 (a lone surrogate counts as U+FFFD, 3 octets, as TextEncoder writes it). */
export function utf8Length(text: string): number {
  let octets = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80) octets += 1;
    else if (code < 0x800) octets += 2;
    else if (code >= 0xd800 && code <= 0xdbff && i + 1 < text.length && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      octets += 4;
      i++;
    } else octets += 3;
  }
  return octets;
}

// ---------------------------------------------------------------------------------------------
// Numbers for people (fixed locale, so a build, a browser and a mail print the same thing)

const INTEGER = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

/** A count with thousands separators, rounded: `1,234,567`. */
export const formatCount = (n: number): string => INTEGER.format(n);

/** A share as a percentage with one decimal; "<0.1%" / ">99.9%" rather than a rounded 0 or 100 that hides a few messages. */
export function formatPercent(part: number, whole: number): string {
  if (whole <= 0) return '–';
  const p = (part / whole) * 100;
  if (part > 0 && p < 0.1) return '<0.1%';
  if (part < whole && p > 99.9) return '>99.9%';
  return `${p.toFixed(1)}%`;
}

/**
 * A share as the readiness verdicts and alerts state it: one decimal rounded down ("99.9%", "100%"), so
 * failing mail is never rounded up to a clean 100%; "< 0.1%" for a tiny non-zero share, "0%" of nothing.
 */
export function formatShare(part: number, whole: number): string {
  if (whole <= 0) return '0%';
  const share = part / whole;
  if (share > 0 && share < 0.001) return '< 0.1%';
  return `${Math.floor(share * 1000) / 10}%`;
}

/** Signed change as a percentage ("+12.0%", "−3.4%", "new" when there was nothing before). */
export function formatChange(now: number, before: number): string {
  if (before <= 0) return now > 0 ? 'new' : '–';
  const change = ((now - before) / before) * 100;
  const sign = change > 0 ? '+' : change < 0 ? '−' : '±';
  return `${sign}${Math.abs(change).toFixed(1)}%`;
}
