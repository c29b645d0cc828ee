/**
 * The fast path: a hand-written reader for the plain markup that nearly every `<record>` uses:
 * start tags without attributes, end tags, self-closing tags, text without entity references.
 * Anything else (attributes, comments, CDATA, processing instructions, `&…;`, mismatched or odd tags)
 * makes it give up, and the scanner hands the element to fast-xml-parser instead.
 * It is differential-tested against that reader on the whole corpus (test/reports/parse.diff.test.ts).
 */
import { isBlank } from './collect.ts';
import type { XmlSink } from './collect.ts';
import { ParseError } from './errors.ts';

/** DMARC needs 5 levels; anything past this is hostile. Shared with the fast-xml-parser reader. */
export const MAX_DEPTH = 32;

const RESERVED: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);
const open: string[] = [];

/** `readFast` results other than an end index. */
export const UNRECOGNISED = -1;
export const INCOMPLETE = -2;

/**
 * Feeds the element that starts at `xml[start]` (a `<record>`) to `sink`, reading straight from the
 * scanner's buffer. Returns the index just past its end tag; `INCOMPLETE` if the buffer ends first;
 * `UNRECOGNISED` when the markup needs the full parser. In the last two cases the sink may have
 * received a prefix of the events: reset it.
 */
export function readFast(xml: string, start: number, sink: XmlSink): number {
  open.length = 0;
  const n = xml.length;
  let pos = start;
  while (pos < n) {
    const lt = xml.indexOf('<', pos);
    if (lt === -1) return INCOMPLETE;
    if (lt > pos && !isBlank(xml, pos, lt)) {
      const text = xml.slice(pos, lt);
      if (text.indexOf('&') !== -1) return UNRECOGNISED;
      sink.text(text);
    }
    if (lt + 1 >= n) return INCOMPLETE;
    if (xml.charCodeAt(lt + 1) === 47 /* / */) {
      const name = open.pop() as string;
      const end = lt + 2 + name.length;
      if (end >= n) return INCOMPLETE;
      if (xml.charCodeAt(end) !== 62 /* > */ || !xml.startsWith(name, lt + 2)) return UNRECOGNISED;
      sink.close();
      if (open.length === 0) return end + 1;
      pos = end + 1;
      continue;
    }
    const gt = xml.indexOf('>', lt + 1);
    if (gt === -1) return INCOMPLETE;
    const selfClosing = xml.charCodeAt(gt - 1) === 47;
    const nameEnd = selfClosing ? gt - 1 : gt;
    let local = knownName(xml, lt + 1, nameEnd);
    let qname = local;
    if (local === undefined) {
      const colon = nameColon(xml, lt + 1, nameEnd);
      if (colon === -2) return UNRECOGNISED;
      qname = xml.slice(lt + 1, nameEnd);
      local = colon === -1 ? qname : (knownName(xml, colon + 1, nameEnd) ?? xml.slice(colon + 1, nameEnd));
      // fast-xml-parser refuses these names; give it the element so both readers agree.
      if (RESERVED.has(local)) return UNRECOGNISED;
    }
    // A nested element named like the root would end the scanner's slice early: let the full parser judge.
    if (open.length > 0 && local === 'record') return UNRECOGNISED;
    sink.open(local);
    if (selfClosing) {
      sink.close();
      if (open.length === 0) return gt + 1;
    } else {
      if (open.length >= MAX_DEPTH) throw new ParseError('too-deep', `elements nested deeper than ${MAX_DEPTH} levels`);
      open.push(qname as string);
    }
    pos = gt + 1;
  }
  return INCOMPLETE;
}

/**
 * The record's element names, by length and first letter. A known name comes back as this very
 * string: no validation, no new string, and the builder compares it by identity.
 */
const KNOWN: string[][] = [];
const ELEMENT_NAMES =
  'record row source_ip count policy_evaluated disposition dkim spf reason type comment identifiers identities ' +
  'envelope_to envelope_from header_from auth_results domain selector scope result human_result';
for (const name of ELEMENT_NAMES.split(' ')) {
  (KNOWN[name.length * 128 + name.charCodeAt(0)] ??= []).push(name);
}

function knownName(xml: string, from: number, to: number): string | undefined {
  const candidates = KNOWN[(to - from) * 128 + xml.charCodeAt(from)];
  if (candidates !== undefined) for (const name of candidates) if (xml.startsWith(name, from)) return name;
  return undefined;
}

/**
 * Checks that `s[from, to)` is a plain XML name (ASCII letters, digits, `_ - .`, one inner `:`).
 * Returns the colon's index, -1 without a prefix, or -2 when it is not such a name.
 */
function nameColon(s: string, from: number, to: number): number {
  if (to <= from) return -2;
  let colon = -1;
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    const letter = (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 95;
    if (letter) continue;
    if (i === from) return -2;
    if ((c >= 48 && c <= 57) || c === 45 || c === 46) continue;
    if (c === 58 && colon === -1 && i + 1 < to) {
      colon = i;
      continue;
    }
    return -2;
  }
  return colon;
}
