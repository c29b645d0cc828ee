/**
 * The event interface both readers (fast path, fast-xml-parser) speak, and a generic collector:
 * element events → a "draft" of plain objects of raw strings shaped by a schema (used for the
 * header, see schema.ts, and for extension elements). The draft keeps only what the schema knows;
 * unknown elements are noted (and dropped) or, where the schema allows extensions, kept as plain
 * data under `#ext`. Records, read 100,000 times per big report, have their own builder (records.ts).
 */
import type { WarningCode } from './types.ts';

/** What a reader tells the collector. Names are local names (namespace prefix removed). */
export interface XmlSink {
  open(name: string): void;
  /**
   * Character data, entities already resolved; may come in several pieces. Sinks ignore
   * whitespace-only pieces (the fast path does not send them).
   */
  text(value: string): void;
  close(): void;
}

export interface Shape {
  /** Known children; absent for a text-only leaf. */
  readonly kids?: ReadonlyMap<string, Shape>;
  /** The element repeats: values collect into an array. */
  readonly many?: boolean;
  /** Unknown children are kept as plain data under `#ext` instead of dropped with a warning. */
  readonly keepUnknown?: boolean;
  /** Anything goes below: kept as plain data. */
  readonly any?: boolean;
}

export type Draft = Record<string, unknown>;

export interface Note {
  code: WarningCode;
  message: string;
}

/** A container whose children are given by name. */
export function container(kids: Record<string, Shape>, extra: Omit<Shape, 'kids'> = {}): Shape {
  return { ...extra, kids: new Map(Object.entries(kids)) };
}
export const LEAF: Shape = {};
export const LEAVES: Shape = { many: true };
export const ANY: Shape = { any: true };
/** Frames of elements being skipped. */
const SKIP: Shape = {};
/** Frames of unknown elements kept under `#ext` (see `keepUnknown`). */
const EXT: Shape = { any: true };

export class Collector implements XmlSink {
  /** The draft of everything collected since the last `reset`. */
  root: Draft = {};
  /** Structural surprises (unknown, duplicate elements, stray text) since the last `reset`. */
  notes: Note[] = [];
  private readonly rootShape: Shape;
  // One entry per open element, in parallel arrays to avoid an object per element.
  private depth = 0;
  private readonly shapes: Shape[] = [];
  private readonly nodes: Draft[] = [];
  private readonly names: string[] = [];
  private readonly texts: string[] = [];

  constructor(rootShape: Shape) {
    this.rootShape = rootShape;
    this.reset();
  }

  reset(): void {
    this.root = {};
    this.notes = [];
    this.depth = 1;
    this.shapes[0] = this.rootShape;
    this.nodes[0] = this.root;
    this.names[0] = '';
    this.texts[0] = '';
  }

  open(name: string): void {
    const d = this.depth;
    const parent = this.shapes[d - 1] as Shape;
    let shape: Shape;
    if (parent === SKIP) shape = SKIP;
    else if (parent.any) shape = ANY;
    else {
      const known = parent.kids?.get(name);
      if (known === undefined) {
        if (parent.keepUnknown) shape = EXT;
        else {
          this.note('unknown-element', `unknown element <${this.path(d - 1)}${name}> ignored`);
          shape = SKIP;
        }
      } else if (!known.many && (this.nodes[d - 1] as Draft)[name] !== undefined) {
        this.note('duplicate-element', `repeated <${this.path(d - 1)}${name}> ignored (the first one is kept)`);
        shape = SKIP;
      } else shape = known;
    }
    this.shapes[d] = shape;
    this.names[d] = name;
    this.texts[d] = '';
    if (shape.kids !== undefined || shape.any) this.nodes[d] = shape.any ? Object.create(null) : {};
    this.depth = d + 1;
  }

  text(value: string): void {
    const d = this.depth - 1;
    // Whitespace-only pieces are dropped, as the fast path never sends them.
    if (this.shapes[d] !== SKIP && !isBlank(value)) this.texts[d] += value;
  }

  close(): void {
    const d = --this.depth;
    const shape = this.shapes[d] as Shape;
    if (shape === SKIP) return;
    const name = this.names[d] as string;
    const text = this.texts[d] as string;
    let parent = this.nodes[d - 1] as Draft;
    let value: unknown;
    if (shape.any) {
      const node = this.nodes[d] as Draft;
      const trimmed = text.trim();
      let empty = true;
      for (const _ in node) {
        empty = false;
        break;
      }
      if (empty) value = trimmed;
      else {
        if (trimmed !== '') node['#text'] = trimmed;
        value = node;
      }
      // The first unknown element under a known one opens the `#ext` bag.
      if (shape === EXT) parent = (parent['#ext'] ??= Object.create(null)) as Draft;
      const previous = parent[name];
      if (previous === undefined) parent[name] = value;
      else if (Array.isArray(previous)) previous.push(value);
      else parent[name] = [previous, value];
      return;
    }
    if (shape.kids === undefined) value = text;
    else {
      const node = this.nodes[d] as Draft;
      if (text !== '') this.note('unexpected-text', `text directly inside <${this.path(d).slice(0, -1)}> ignored`);
      value = node;
    }
    if (shape.many) ((parent[name] ??= []) as unknown[]).push(value);
    else parent[name] = value;
  }

  private note(code: WarningCode, message: string): void {
    this.notes.push({ code, message });
  }

  /** `a/b/` for the open elements 1..upto. */
  private path(upto: number): string {
    let path = '';
    for (let i = 1; i <= upto; i++) path += `${this.names[i]}/`;
    return path;
  }
}

/** True when `s[from, to)` is only XML whitespace. */
export function isBlank(s: string, from = 0, to = s.length): boolean {
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (c !== 32 && c !== 10 && c !== 9 && c !== 13) return false;
  }
  return true;
}
