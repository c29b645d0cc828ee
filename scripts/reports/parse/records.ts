/**
 * Element events of one `<record>` → a normalised `ReportRecord`, built directly (no intermediate
 * tree: this runs 100,000 times per big report). Both readers, the fast path and fast-xml-parser,
 * drive the same builder, so their output can only differ if their events differ.
 *
 * A small state machine over the record's known structure; each value is normalised as its element
 * closes, and missing elements are reported when their parent closes. Elements are matched by local
 * name in any order; `identities` is read as `identifiers`; a repeated single element keeps the first;
 * unknown elements directly under `<record>` are kept as `extensions` (RFC 9990), others are dropped
 * with a warning. Warnings wait in `pending` until `finish`, so a fast-path attempt that gives up
 * midway leaves no trace.
 */
import { isIP } from 'node:net';
import { Collector, container, isBlank } from './collect.ts';
import type { XmlSink } from './collect.ts';
import {
  APPLIED_DISPOSITIONS,
  type Ctx,
  DKIM_RESULTS,
  DMARC_RESULTS,
  OVERRIDES,
  SPF_ALIASES,
  SPF_RESULTS,
  SPF_SCOPES,
  type Warnings,
  canonical,
  isDigits,
  keep,
  lowerDomain,
  missing,
  optionalText,
  requiredEnum,
  requiredText,
} from './normalize.ts';
import type { DkimAuthResult, ReportRecord, SpfAuthResult, WarningCode } from './types.ts';
import { parseIpv4 } from '../../lib/ip.ts';

// Element states.
const TOP = 0;
const RECORD = 1;
const ROW = 2;
const EVALUATED = 3;
const REASON = 4;
const IDS = 5;
const AUTH = 6;
const DKIM = 7;
const SPF = 8;
const LEAF = 9;
const SKIP = 10;
const EXT = 11;

// What an element is, by parent and name. C_* and F_* appear once per parent (their bit in the
// parent's `seen` mask catches repeats); R_* repeat.
const C_ROW = 1;
const C_IDS = 2;
const C_AUTH = 3;
const C_EVALUATED = 4;
const F_SOURCE_IP = 5;
const F_COUNT = 6;
const F_DISPOSITION = 7;
const F_EVAL_DKIM = 8;
const F_EVAL_SPF = 9;
const F_TYPE = 10;
const F_COMMENT = 11;
const F_ENVELOPE_TO = 12;
const F_ENVELOPE_FROM = 13;
const F_HEADER_FROM = 14;
const F_DOMAIN = 15;
const F_SELECTOR = 16;
const F_SCOPE = 17;
const F_RESULT = 18;
const F_HUMAN_RESULT = 19;
const R_REASON = 20;
const R_DKIM = 21;
const R_SPF = 22;
const UNKNOWN = 0;

/** The state an element of each kind opens. */
const STATE_OF: readonly number[] = [SKIP, ROW, IDS, AUTH, EVALUATED, ...Array<number>(15).fill(LEAF), REASON, DKIM, SPF];

function kindOf(parent: number, name: string): number {
  switch (parent) {
    case RECORD:
      return name === 'row' ? C_ROW : name === 'identifiers' || name === 'identities' ? C_IDS : name === 'auth_results' ? C_AUTH : UNKNOWN;
    case ROW:
      return name === 'source_ip' ? F_SOURCE_IP : name === 'count' ? F_COUNT : name === 'policy_evaluated' ? C_EVALUATED : UNKNOWN;
    case EVALUATED:
      return name === 'disposition'
        ? F_DISPOSITION
        : name === 'dkim'
          ? F_EVAL_DKIM
          : name === 'spf'
            ? F_EVAL_SPF
            : name === 'reason'
              ? R_REASON
              : UNKNOWN;
    case REASON:
      return name === 'type' ? F_TYPE : name === 'comment' ? F_COMMENT : UNKNOWN;
    case IDS:
      return name === 'header_from'
        ? F_HEADER_FROM
        : name === 'envelope_from'
          ? F_ENVELOPE_FROM
          : name === 'envelope_to'
            ? F_ENVELOPE_TO
            : UNKNOWN;
    case AUTH:
      return name === 'dkim' ? R_DKIM : name === 'spf' ? R_SPF : UNKNOWN;
    case DKIM:
    case SPF:
      if (name === 'domain') return F_DOMAIN;
      if (name === 'result') return F_RESULT;
      if (name === 'human_result') return F_HUMAN_RESULT;
      if (name === 'selector' && parent === DKIM) return F_SELECTOR;
      return name === 'scope' && parent === SPF ? F_SCOPE : UNKNOWN;
    default:
      return UNKNOWN;
  }
}

const bit = (kind: number): number => 1 << kind;

/** Unknown elements under `<record>` are captured as plain data under `#ext`. */
const EXT_ROOT = container({}, { keepUnknown: true });

export class RecordBuilder implements XmlSink, Ctx {
  raw: Record<string, string> | undefined;
  private readonly w: Warnings;
  private index = 0;
  private record: ReportRecord | undefined;
  /** Warnings (code, message, code, message…) held until `finish`. */
  private readonly pending: string[] = [];
  private depth = 0;
  private readonly states: number[] = [];
  private readonly seen: number[] = [];
  private readonly names: string[] = [];
  private field = 0;
  private leafText = '';
  private identities = false;
  private deriveEnvelopeFrom = false;
  private reasonType: string | undefined;
  private reasonComment: string | undefined;
  private reasonText = '';
  private dkim: DkimAuthResult | undefined;
  private spf: SpfAuthResult | undefined;
  private ext: Collector | undefined;

  constructor(w: Warnings) {
    this.w = w;
  }

  /** Starts record number `index` (0-based), discarding anything half-built. */
  reset(index: number): void {
    this.index = index;
    this.record = undefined;
    this.raw = undefined;
    this.pending.length = 0;
    this.depth = 0;
    this.identities = false;
    this.ext?.reset();
  }

  /** The record, once its end tag was seen; its warnings go to the report. */
  finish(): ReportRecord | undefined {
    for (let i = 0; i < this.pending.length; i += 2) {
      this.w.add(this.pending[i] as WarningCode, this.pending[i + 1] as string, this.index);
    }
    this.pending.length = 0;
    return this.depth === 0 ? this.record : undefined;
  }

  warn(code: WarningCode, message: string): void {
    this.pending.push(code, message);
  }

  open(name: string): void {
    const d = this.depth;
    const parent = d === 0 ? TOP : (this.states[d - 1] as number);
    let state: number;
    let kind = UNKNOWN;
    if (parent === TOP) {
      state = name === 'record' ? RECORD : SKIP;
      if (state === RECORD) this.begin();
    } else if (parent === SKIP || parent === EXT) state = parent;
    else {
      kind = kindOf(parent, name);
      state = kind === UNKNOWN && parent === RECORD ? EXT : (STATE_OF[kind] as number);
      if (state === SKIP) this.warn('unknown-element', `unknown element <${this.path(d)}${name}> ignored`);
      else if (kind < R_REASON) {
        const seen = this.seen[d - 1] as number;
        if ((seen & bit(kind)) !== 0) {
          this.warn('duplicate-element', `repeated <${this.path(d)}${name}> ignored (the first one is kept)`);
          state = SKIP;
        } else this.seen[d - 1] = seen | bit(kind);
      }
    }
    this.states[d] = state;
    this.seen[d] = 0;
    this.names[d] = name;
    this.depth = d + 1;
    if (state === LEAF) {
      this.field = kind;
      this.leafText = '';
    } else if (state === REASON) {
      this.reasonType = this.reasonComment = undefined;
      this.reasonText = '';
    } else if (state === DKIM) {
      this.dkim = { domain: '', selector: undefined, result: null, humanResult: undefined };
    } else if (state === SPF) {
      this.spf = { domain: '', scope: undefined, result: null, humanResult: undefined };
    } else if (state === EXT) {
      this.ext ??= new Collector(EXT_ROOT);
      this.ext.open(name);
    } else if (state === IDS && name === 'identities') this.identities = true;
  }

  text(value: string): void {
    if (isBlank(value)) return; // as the fast path, which never sends whitespace-only pieces
    const state = this.states[this.depth - 1];
    if (state === LEAF) this.leafText += value;
    else if (state === REASON) this.reasonText += value;
    else if (state === EXT) this.ext?.text(value);
    else if (state !== SKIP && this.depth > 0) {
      this.warn('unexpected-text', `text directly inside <${this.names[this.depth - 1]}> ignored`);
    }
  }

  close(): void {
    const d = --this.depth;
    const seen = this.seen[d] as number;
    switch (this.states[d]) {
      case LEAF:
        this.assign(this.field, this.leafText);
        break;
      case REASON:
        this.closeReason();
        break;
      case DKIM:
        this.closeDkim(seen);
        break;
      case SPF:
        this.closeSpf(seen);
        break;
      case EVALUATED:
        if ((seen & bit(F_DISPOSITION)) === 0) missing(this, 'policy_evaluated/disposition');
        if ((seen & bit(F_EVAL_DKIM)) === 0) missing(this, 'policy_evaluated/dkim');
        if ((seen & bit(F_EVAL_SPF)) === 0) missing(this, 'policy_evaluated/spf');
        break;
      case ROW:
        if ((seen & bit(F_SOURCE_IP)) === 0) missing(this, 'row/source_ip');
        if ((seen & bit(F_COUNT)) === 0) missing(this, 'row/count');
        if ((seen & bit(C_EVALUATED)) === 0) missing(this, 'row/policy_evaluated');
        break;
      case IDS:
        if ((seen & bit(F_HEADER_FROM)) === 0) missing(this, 'identifiers/header_from');
        if (this.identities) this.warn('identities-element', '<identities> read as <identifiers>');
        // Derived when the record closes: SPF results may come after the identifiers.
        this.deriveEnvelopeFrom = (seen & bit(F_ENVELOPE_FROM)) === 0;
        break;
      case RECORD:
        if ((seen & bit(C_ROW)) === 0) missing(this, 'record/row');
        if ((seen & bit(C_IDS)) === 0) missing(this, 'record/identifiers');
        if ((seen & bit(C_AUTH)) === 0) missing(this, 'record/auth_results');
        this.closeRecord();
        break;
      case EXT:
        this.ext?.close();
        break;
    }
  }

  private begin(): void {
    this.deriveEnvelopeFrom = false;
    this.record = {
      sourceIp: '',
      count: null,
      disposition: null,
      evalDkim: null,
      evalSpf: null,
      reasons: [],
      headerFrom: '',
      envelopeFrom: undefined,
      envelopeFromDerived: undefined,
      envelopeTo: undefined,
      dkim: [],
      spf: [],
      extensions: undefined,
      raw: undefined,
    };
  }

  private assign(field: number, text: string): void {
    const record = this.record as ReportRecord;
    switch (field) {
      case F_SOURCE_IP: {
        const ip = requiredText(this, text, 'row/source_ip');
        if (ip !== '' && parseIpv4(ip) === -1 && isIP(ip) === 0)
          this.warn('invalid-source-ip', `<row/source_ip> "${ip}" is not an IP address; kept as written`);
        record.sourceIp = ip;
        break;
      }
      case F_COUNT: {
        const count = requiredText(this, text, 'row/count');
        if (isDigits(count)) record.count = Number(count);
        else if (count !== '') {
          keep(this, 'row/count', count);
          this.warn('invalid-number', `<row/count> "${count}" is not a whole number; read as null`);
        }
        break;
      }
      case F_DISPOSITION:
        record.disposition = requiredEnum(this, text, APPLIED_DISPOSITIONS, 'policy_evaluated/disposition');
        break;
      case F_EVAL_DKIM:
        record.evalDkim = requiredEnum(this, text, DMARC_RESULTS, 'policy_evaluated/dkim');
        break;
      case F_EVAL_SPF:
        record.evalSpf = requiredEnum(this, text, DMARC_RESULTS, 'policy_evaluated/spf');
        break;
      case F_TYPE:
        this.reasonType = text.trim();
        break;
      case F_COMMENT:
        this.reasonComment = text.trim() || undefined;
        break;
      case F_HEADER_FROM:
        record.headerFrom = lowerDomain(requiredText(this, text, 'identifiers/header_from'));
        break;
      case F_ENVELOPE_FROM:
        // RFC 9990: present but empty means a null reverse-path; keep it empty.
        record.envelopeFrom = lowerDomain(text.trim());
        break;
      case F_ENVELOPE_TO: {
        const to = optionalText(this, text, 'identifiers/envelope_to');
        record.envelopeTo = to === undefined ? undefined : lowerDomain(to);
        break;
      }
      default:
        this.assignAuth(field, text);
    }
  }

  private assignAuth(field: number, text: string): void {
    const record = this.record as ReportRecord;
    if (this.states[this.depth - 1] === DKIM) {
      const entry = this.dkim as DkimAuthResult;
      if (field === F_DOMAIN) entry.domain = lowerDomain(requiredText(this, text, 'auth_results/dkim/domain'));
      else if (field === F_SELECTOR) entry.selector = optionalText(this, text, 'auth_results/dkim/selector');
      else if (field === F_RESULT) entry.result = requiredEnum(this, text, DKIM_RESULTS, 'auth_results/dkim/result', record.dkim.length);
      else entry.humanResult = optionalText(this, text, 'auth_results/dkim/human_result');
      return;
    }
    const entry = this.spf as SpfAuthResult;
    const index = record.spf.length;
    if (field === F_DOMAIN) entry.domain = lowerDomain(requiredText(this, text, 'auth_results/spf/domain'));
    else if (field === F_SCOPE) {
      const scope = optionalText(this, text, 'auth_results/spf/scope');
      entry.scope = scope === undefined ? undefined : canonical(this, scope, SPF_SCOPES, 'auth_results/spf/scope', index);
    } else if (field === F_RESULT) {
      entry.result = requiredEnum(this, text, SPF_RESULTS, 'auth_results/spf/result', index, SPF_ALIASES);
    } else entry.humanResult = optionalText(this, text, 'auth_results/spf/human_result');
  }

  private closeReason(): void {
    const record = this.record as ReportRecord;
    let type = this.reasonType ?? '';
    const text = this.reasonText.trim();
    if (type === '' && text !== '') {
      this.warn('text-reason', `<policy_evaluated/reason> holds text "${text}" instead of <type>; read as the type`);
      type = text;
    }
    if (type === '' && this.reasonComment === undefined) {
      this.warn('empty-reason', '<policy_evaluated/reason> with empty <type> and <comment> dropped');
      return;
    }
    if (type === '') missing(this, 'policy_evaluated/reason/type');
    const index = record.reasons.length;
    record.reasons.push({
      type: type === '' ? null : canonical(this, type, OVERRIDES, 'policy_evaluated/reason/type', index),
      comment: this.reasonComment,
    });
  }

  private closeDkim(seen: number): void {
    if ((seen & bit(F_DOMAIN)) === 0) missing(this, 'auth_results/dkim/domain');
    if ((seen & bit(F_RESULT)) === 0) missing(this, 'auth_results/dkim/result');
    (this.record as ReportRecord).dkim.push(this.dkim as DkimAuthResult);
  }

  private closeSpf(seen: number): void {
    if ((seen & bit(F_DOMAIN)) === 0) missing(this, 'auth_results/spf/domain');
    if ((seen & bit(F_RESULT)) === 0) missing(this, 'auth_results/spf/result');
    if ((seen & bit(F_SCOPE)) === 0) {
      this.warn('spf-scope-missing', '<auth_results/spf/scope> is missing (required by RFC 7489, optional in RFC 9990); left empty');
    }
    (this.record as ReportRecord).spf.push(this.spf as SpfAuthResult);
  }

  private closeRecord(): void {
    const record = this.record as ReportRecord;
    if (this.deriveEnvelopeFrom) {
      // parsedmarc's backfill (the last SPF domain), preferring an `mfrom`-scoped result.
      const from = envelopeFromSpf(record.spf);
      if (from !== undefined) {
        record.envelopeFrom = from;
        record.envelopeFromDerived = true;
        this.warn('envelope-from-derived', '<identifiers/envelope_from> is missing; taken from the SPF result (envelopeFromDerived)');
      }
    }
    const ext = this.ext?.root['#ext'];
    if (ext !== undefined) record.extensions = ext as Record<string, unknown>;
    record.raw = this.raw;
  }

  private path(upto: number): string {
    let path = '';
    for (let i = 1; i < upto; i++) path += `${this.names[i]}/`;
    return path;
  }
}

function envelopeFromSpf(spf: SpfAuthResult[]): string | undefined {
  let fallback: string | undefined;
  for (let i = spf.length - 1; i >= 0; i--) {
    const { domain, scope } = spf[i] as SpfAuthResult;
    if (domain === '') continue;
    if (scope === 'mfrom') return domain;
    fallback ??= domain;
  }
  return fallback;
}
