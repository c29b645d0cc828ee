/**
 * PARSE stage: XML bytes of one DMARC aggregate report → a typed header and batches of records.
 *
 *   const report = await parseReport(payload.open(), { name: payload.name });
 *   for await (const batch of report.records) appender.add(report.header, batch);
 *   ledger.note(report.stats, report.warnings);
 *
 * A document that is not a usable report throws `ParseError` (with a stable `code`), either from
 * `parseReport` (before the first record) or while iterating `records`: a consumer must only commit
 * a report's rows once iteration has completed.
 */
import { ReportParser } from './report.ts';
import type { ParseOptions, ParsedReport, ReportRecord, ReportStream } from './types.ts';

export { ParseError } from './errors.ts';
export type { ParseErrorCode } from './errors.ts';
export type * from './types.ts';

/** Reads the header (buffering records only if it comes late), then streams the records. */
export async function parseReport(
  chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  options: ParseOptions = {},
): Promise<ReportStream> {
  const parser = new ReportParser(options);
  const batchSize = Math.max(1, options.batchSize ?? 512);
  const source = iterate(chunks);
  let finished = false;
  try {
    while (parser.header === undefined) {
      const next = await source.next();
      if (next.done) {
        parser.end();
        finished = true;
      } else parser.push(next.value);
    }
  } catch (error) {
    await source.return?.();
    throw error;
  }
  const header = parser.header;

  let started = false;
  async function* batches(): AsyncGenerator<ReportRecord[], void, undefined> {
    if (started) throw new Error(`${parser.name}: records can only be iterated once`);
    started = true;
    let pending: ReportRecord[] = [];
    try {
      while (!finished) {
        const next = await source.next();
        if (next.done) {
          parser.end();
          finished = true;
        } else parser.push(next.value);
        if (!finished && parser.readyCount + pending.length < batchSize) continue;
        pending = yield* cut(pending.concat(parser.take()), batchSize, finished);
      }
      yield* cut(pending.concat(parser.take()), batchSize, true);
    } finally {
      if (!finished) await source.return?.();
    }
  }

  return {
    name: parser.name,
    header,
    warnings: parser.warnings,
    stats: parser.stats,
    records: {
      [Symbol.asyncIterator]: () =>
        closable(batches(), async () => {
          // A consumer that stops before the first batch (a duplicate report) must still release the source:
          // a generator that never started skips its finally block.
          if (!started && !finished) {
            finished = true;
            await source.return?.();
          }
        }),
    },
  };
}

/** The whole report at once, for small inputs and tests. A string is taken as already decoded. */
export function parseReportBytes(input: Uint8Array | string, options: ParseOptions = {}): ParsedReport {
  const parser = new ReportParser(options);
  if (typeof input === 'string') {
    parser.pushText(input);
    parser.endText();
  } else {
    parser.push(input);
    parser.end();
  }
  return {
    name: parser.name,
    header: parser.header as NonNullable<typeof parser.header>,
    records: parser.take(),
    warnings: parser.warnings,
    stats: parser.stats,
  };
}

/** Yields full batches; the rest is returned, or yielded too when `all`. */
function* cut(records: ReportRecord[], size: number, all: boolean): Generator<ReportRecord[], ReportRecord[]> {
  let i = 0;
  for (; records.length - i >= size; i += size) yield records.slice(i, i + size);
  const rest = i === 0 ? records : records.slice(i);
  if (all && rest.length > 0) {
    yield rest;
    return [];
  }
  return rest;
}

function iterate(chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): AsyncIterator<Uint8Array> | Iterator<Uint8Array> {
  return Symbol.asyncIterator in chunks ? chunks[Symbol.asyncIterator]() : chunks[Symbol.iterator]();
}

/** The generator, with `onReturn` run first when the consumer calls return(). */
function closable<T>(generator: AsyncGenerator<T, void, undefined>, onReturn: () => Promise<void>): AsyncGenerator<T, void, undefined> {
  const originalReturn = generator.return.bind(generator);
  generator.return = async (value) => {
    await onReturn();
    return originalReturn(value);
  };
  return generator;
}
