/**
 * Byte sources and streaming decompression (node:zlib for gzip, fflate for the rest), with the size
 * and ratio limits checked on every chunk of output, so a bomb is refused after a few megabytes
 * instead of after it has filled the memory.
 */
import { createReadStream } from 'node:fs';
import { crc32, createGunzip } from 'node:zlib';
import { Gunzip, Inflate, Unzlib } from 'fflate';
import { RATIO_FLOOR, UnpackError } from './types.ts';
import type { UnpackLimits } from './types.ts';
import { formatBytes } from '../../lib/text.ts';

/** A re-openable byte stream: every call streams again from the first byte. */
export type ByteSource = () => AsyncIterable<Uint8Array>;

/** What a stream needs to enforce limits and report where it is. */
export interface StreamContext {
  limits: UnpackLimits;
  trail: string[];
  /** Records a harmless oddity (e.g. junk after a gzip member). */
  note(message: string): void;
}

const READ_CHUNK = 64 * 1024;
// Compressed bytes per decoder push. Deflate expands at most ~1032:1, so one push never produces
// more than ~8 MiB before the limits are checked again (and 8 KiB pushes cost little speed).
const PUSH_SLICE = 8 * 1024;

export function bytesSource(bytes: Uint8Array): ByteSource {
  return async function* () {
    for (let i = 0; i < bytes.length; i += READ_CHUNK) yield bytes.subarray(i, i + READ_CHUNK);
  };
}

export function fileSource(path: string): ByteSource {
  return () => createReadStream(path, { highWaterMark: READ_CHUNK }) as AsyncIterable<Buffer>;
}

export type Codec = 'gzip' | 'zlib' | 'deflate';

/**
 * Decompresses `input` chunk by chunk. gzip: concatenated members are appended, junk after the last
 * one is ignored with a note, and each member's CRC32 is checked against its trailer (fflate does
 * not): a trailer whose size field matches the member but whose CRC32 does not means altered data
 * and is refused as corrupt; a trailer that matches nothing (damaged or missing) keeps the data with
 * a note, and the XML parser judges it.
 */
export async function* inflateStream(input: AsyncIterable<Uint8Array>, codec: Codec, ctx: StreamContext): AsyncGenerator<Uint8Array> {
  const ready: Uint8Array[] = [];
  let consumed = 0;
  let produced = 0;
  let member = 1; // number of the current gzip member
  let memberStart = 0; // output offset where the current gzip member began
  let memberCrc = 0; // CRC32 of the current gzip member's output so far
  // Recent input (gzip only): a member's trailer is read from here once fflate says where it was.
  const recent = codec === 'gzip' ? new InputWindow(TRAILER_WINDOW) : undefined;
  let junk = false;

  const onData = (chunk: Uint8Array): void => {
    produced += chunk.length;
    checkOutput(ctx, `${codec} data`, consumed, produced, true);
    if (chunk.length > 0) {
      if (recent) memberCrc = crc32(chunk, memberCrc);
      ready.push(chunk);
    }
  };
  const decoder = codec === 'gzip' ? new Gunzip(onData) : codec === 'zlib' ? new Unzlib(onData) : new Inflate(onData);
  if (decoder instanceof Gunzip) {
    // Called once the next member's header is complete, with the input offset where that header
    // starts, and after all the previous member's output: its trailer is the 8 bytes before `offset`.
    decoder.onmember = (offset: number) => {
      const trailer = recent?.read(offset - 8, 8);
      const verdict = trailer ? trailerVerdict(trailer, produced - memberStart, memberCrc) : 'unread';
      if (verdict === 'bad-crc') throw corruptMember(ctx, member, produced - memberStart, memberCrc, trailer!);
      if (verdict === 'mismatch') ctx.note(TRAILER_MISMATCH);
      if (verdict === 'unread')
        ctx.note(`could not check gzip member ${member} against its trailer (the next member's header is too long); data kept`);
      member++;
      memberStart = produced;
      memberCrc = 0;
    };
  }
  const push = (slice: Uint8Array, final: boolean): void => {
    try {
      decoder.push(slice, final);
    } catch (error) {
      if (error instanceof UnpackError) throw error;
      // fflate checks the magic of a further member once a member is complete; if that fails after
      // output, what follows is junk rather than damage (seen in real reports: 2 bytes after the member).
      if (codec === 'gzip' && fflateCode(error) === 6 && produced > 0) {
        junk = true;
        return;
      }
      throw new UnpackError(
        'corrupt',
        `${where(ctx.trail)}: damaged ${codec} data after ${formatBytes(produced)} of output (${errorMessage(error)})`,
        ctx.trail,
        { cause: error },
      );
    }
  };

  reading: for await (const chunk of input) {
    for (let i = 0; i < chunk.length; i += PUSH_SLICE) {
      const slice = chunk.subarray(i, i + PUSH_SLICE);
      consumed += slice.length;
      recent?.add(slice);
      push(slice, false);
      yield* ready.splice(0);
      if (junk) break reading; // stops reading the source too
    }
  }
  if (!junk) push(new Uint8Array(0), true);
  yield* ready.splice(0);

  if (!recent) return;
  const size = produced - memberStart;
  if (junk) {
    // fflate does not say where the junk began (4 bytes or more, read up to the slice that showed
    // it): the trailer is the last 8 recent bytes that match the member whole, or else its size
    // (a chance match of the 4-byte size is ~2^-32 per position).
    const kept = recent.read(recent.start, recent.end - recent.start)!;
    lastMemberTrailer(ctx, kept, kept.length - 12, 0, member, size, memberCrc);
    ctx.note('ignored data after the gzip member that is not another gzip member');
  } else {
    // fflate silently skips up to 3 junk bytes: find them by where the trailer sits.
    const kept = recent.read(Math.max(recent.start, recent.end - 11), Math.min(11, recent.end - recent.start))!;
    const extra = lastMemberTrailer(ctx, kept, kept.length - 8, kept.length - 11, member, size, memberCrc);
    if (extra === undefined) ctx.note(TRAILER_MISMATCH);
    else if (extra > 0) ctx.note(`ignored ${extra} byte(s) of junk after the gzip member`);
  }
}

/** Input bytes kept to find a gzip trailer: more than any real member header, which sits between a trailer and fflate's onmember. */
const TRAILER_WINDOW = 128 * 1024;
const TRAILER_MISMATCH = 'gzip trailer does not match the data (damaged or missing trailer); data kept';

/** The recent input of a stream, as whole slices covering at least its last `size` bytes. */
class InputWindow {
  private readonly slices: Uint8Array[] = [];
  private readonly size: number;
  /** Input offset of the first byte kept. */
  start = 0;
  /** Input offset just past the last byte kept (the bytes read so far). */
  end = 0;

  constructor(size: number) {
    this.size = size;
  }

  add(slice: Uint8Array): void {
    this.slices.push(slice);
    this.end += slice.length;
    while (this.slices.length > 1 && this.end - this.start - this.slices[0]!.length >= this.size) {
      this.start += this.slices.shift()!.length;
    }
  }

  /** `length` bytes from input offset `from`, or undefined when they are not (or no longer) kept. */
  read(from: number, length: number): Uint8Array | undefined {
    if (from < this.start || from + length > this.end) return undefined;
    const out = new Uint8Array(length);
    let offset = this.start;
    let filled = 0;
    for (const slice of this.slices) {
      const begin = Math.max(from + filled - offset, 0);
      if (begin < slice.length && filled < length) {
        const part = slice.subarray(begin, begin + length - filled);
        out.set(part, filled);
        filled += part.length;
      }
      offset += slice.length;
      if (filled === length) break;
    }
    return out;
  }
}

/** A gzip trailer (CRC32 and ISIZE, little endian) against a member's output: 'bad-crc' only when its size matches. */
function trailerVerdict(trailer: Uint8Array, size: number, crc: number): 'ok' | 'bad-crc' | 'mismatch' {
  if (readUint32(trailer, 4) !== size >>> 0) return 'mismatch'; // ISIZE is the size modulo 2^32
  return readUint32(trailer, 0) === crc >>> 0 ? 'ok' : 'bad-crc';
}

/**
 * Looks for the last gzip member's trailer in `bytes` (the end of the input) at offsets `from` down
 * to `to`: the first that matches the member whole wins; when none does but one matches its size,
 * the data was altered and is refused. Returns how many bytes follow the trailer, or undefined
 * when nothing matches (damaged or missing trailer).
 */
function lastMemberTrailer(
  ctx: StreamContext,
  bytes: Uint8Array,
  from: number,
  to: number,
  member: number,
  size: number,
  crc: number,
): number | undefined {
  let altered: Uint8Array | undefined;
  for (let at = from; at >= Math.max(to, 0); at--) {
    const trailer = bytes.subarray(at, at + 8);
    const verdict = trailerVerdict(trailer, size, crc);
    if (verdict === 'ok') return bytes.length - at - 8;
    if (verdict === 'bad-crc') altered ??= trailer;
  }
  if (altered) throw corruptMember(ctx, member, size, crc, altered);
  return undefined;
}

function corruptMember(ctx: StreamContext, member: number, size: number, crc: number, trailer: Uint8Array): UnpackError {
  return new UnpackError(
    'corrupt',
    `${where(ctx.trail)}: gzip data is corrupt: CRC32 of member ${member} (${formatBytes(size)}) ` +
      `is ${hex32(crc)}, expected ${hex32(readUint32(trailer, 0))} from its trailer; refused`,
    ctx.trail,
  );
}

function readUint32(bytes: Uint8Array, at: number): number {
  return (bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16) | (bytes[at + 3]! << 24)) >>> 0;
}

function hex32(n: number): string {
  return `0x${(n >>> 0).toString(16).padStart(8, '0')}`;
}

/** node:zlib's output chunk (its default, 16 KiB, costs 2.5× the time in thread-pool round trips). */
const ZLIB_CHUNK = 256 * 1024;
/**
 * Pieces passed on, as file reads are: the parser decodes each into a string, and one past V8's
 * ~128 KiB regular-object limit goes to the large-object space, which only a full GC frees
 * (256 KiB pieces: +80 MiB peak on a 75 MB report).
 */
const PIECE = 64 * 1024;
/** How far node:zlib may run ahead of the consumer: slices of input in flight, bytes of output waiting. */
const AHEAD_SLICES = 8;
const AHEAD_BYTES = 2 * 1024 * 1024;

/**
 * gzip through node:zlib, which inflates on libuv's thread pool: the JS thread only passes chunks
 * (fflate's streaming Gunzip spent ~0.45 s of it on a 75 MB report), and zlib inflates ahead
 * while the consumer parses. Limits are checked on every output chunk against the input counted
 * by slice, as in inflateStream (the slice being inflated counts whole), so messages are the same.
 *
 * node:zlib is stricter than fflate in some places (CRC and length checks, junk after a member)
 * and silent in others (trailing zero bytes). So whenever it objects or leaves input unread, the
 * input is decoded again by inflateStream, the output already delivered is skipped, and fflate has
 * the last word: junk notes, damaged or missing trailers and corrupt data are judged as before,
 * and a member whose CRC32 does not match its trailer (fflate does not check it) is refused there.
 */
export async function* gunzipStream(source: ByteSource, ctx: StreamContext): AsyncGenerator<Uint8Array> {
  const zlib = createGunzip({ chunkSize: ZLIB_CHUNK });
  // Output waits until its slice is wholly inflated: it has then passed the limits (as with
  // fflate's push), so a bomb is refused even by a caller that only peeks at the start.
  const ready: Uint8Array[] = [];
  let releasable = 0; // how many chunks at the front of `ready` came from inflated slices
  const inFlight: number[] = []; // sizes of the slices written and not inflated yet, oldest first
  let inflated = 0; // input bytes inflated
  let produced = 0;
  let waiting = 0; // output bytes in `ready`
  let delivered = 0;
  let limit: UnpackError | undefined;
  let failed = false;
  let ended = false;
  let wake: (() => void) | undefined;
  const signal = (): void => {
    const resume = wake;
    wake = undefined;
    resume?.();
  };
  const event = (): Promise<void> => new Promise((resolve) => (wake = resolve));
  zlib.on('data', (chunk: Buffer) => {
    produced += chunk.length;
    try {
      checkOutput(ctx, 'gzip data', inflated + (inFlight[0] ?? 0), produced, true);
    } catch (error) {
      limit = error as UnpackError;
      zlib.destroy();
    }
    for (let at = 0; at < chunk.length; at += PIECE) ready.push(chunk.subarray(at, at + PIECE));
    waiting += chunk.length;
    signal();
  });
  zlib.on('error', () => {
    failed = true;
    signal();
  });
  zlib.on('end', () => {
    ended = true;
    releasable = ready.length;
    signal();
  });
  const stopped = (): boolean => limit !== undefined || failed;
  const take = (): Uint8Array => {
    const piece = ready.shift() as Uint8Array;
    releasable--;
    waiting -= piece.length;
    delivered += piece.length;
    return piece;
  };
  try {
    reading: for await (const chunk of source()) {
      for (let i = 0; i < chunk.length; i += PUSH_SLICE) {
        while (!stopped() && (inFlight.length >= AHEAD_SLICES || waiting >= AHEAD_BYTES)) {
          if (releasable > 0) yield take();
          else await event();
        }
        if (stopped()) break reading;
        const slice = chunk.subarray(i, i + PUSH_SLICE);
        inFlight.push(slice.length);
        zlib.write(slice, () => {
          inflated += inFlight.shift() ?? 0;
          releasable = ready.length;
          signal();
        });
        while (releasable > 0 && !stopped()) yield take();
      }
    }
    if (!stopped()) zlib.end();
    while (!stopped() && !(ended && ready.length === 0)) {
      if (releasable > 0) yield take();
      else await event();
    }
    if (limit !== undefined) throw limit;
    if (!failed && zlib.bytesWritten === inflated) return;
  } finally {
    zlib.destroy();
  }
  yield* skipBytes(inflateStream(source(), 'gzip', ctx), delivered);
}

async function* skipBytes(input: AsyncIterable<Uint8Array>, count: number): AsyncGenerator<Uint8Array> {
  let skip = count;
  for await (const chunk of input) {
    if (skip >= chunk.length) skip -= chunk.length;
    else {
      yield skip > 0 ? chunk.subarray(skip) : chunk;
      skip = 0;
    }
  }
}

/** Passes bytes through unchanged, enforcing maxPayloadBytes (plain XML files, stored zip entries). */
export async function* meteredStream(input: AsyncIterable<Uint8Array>, ctx: StreamContext): AsyncGenerator<Uint8Array> {
  let size = 0;
  for await (const chunk of input) {
    size += chunk.length;
    checkOutput(ctx, 'data', size, size, false);
    yield chunk;
  }
}

export function checkOutput(ctx: StreamContext, what: string, input: number, output: number, compressed: boolean): void {
  const { maxPayloadBytes, maxRatio } = ctx.limits;
  if (output > maxPayloadBytes) {
    throw new UnpackError(
      'limit-size',
      `${where(ctx.trail)}: ${what} grew past ${formatBytes(maxPayloadBytes)} (maxPayloadBytes) ` +
        `after ${formatBytes(input)} of input; refused (decompression bomb?)`,
      ctx.trail,
    );
  }
  if (compressed && output > RATIO_FLOOR && output > input * maxRatio) {
    throw new UnpackError(
      'limit-ratio',
      `${where(ctx.trail)}: ${what} expanded ${formatBytes(input)} into ${formatBytes(output)} ` +
        `(ratio ${Math.round(output / Math.max(input, 1))}:1 > maxRatio ${maxRatio}); refused (decompression bomb?)`,
      ctx.trail,
    );
  }
}

/** Up to `size` leading bytes of a source (stops reading there). */
export async function peek(source: ByteSource, size: number): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let have = 0;
  for await (const chunk of source()) {
    const take = chunk.subarray(0, size - have);
    parts.push(take);
    have += take.length;
    if (have >= size) break;
  }
  return concat(parts, have);
}

/** The whole source in memory, refused past maxPayloadBytes (zip archives and mail need random access). */
export async function collect(source: ByteSource, ctx: StreamContext): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of source()) {
    size += chunk.length;
    checkOutput(ctx, 'data', size, size, false);
    parts.push(chunk);
  }
  return concat(parts, size);
}

/** Reads a source to the end, discarding the bytes: validates a small payload up front. */
export async function drain(source: ByteSource): Promise<number> {
  let size = 0;
  for await (const chunk of source()) size += chunk.length;
  return size;
}

function concat(parts: Uint8Array[], size: number): Uint8Array {
  if (parts.length === 1 && parts[0]!.length === size) return parts[0]!;
  const out = new Uint8Array(size);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

function fflateCode(error: unknown): unknown {
  return typeof error === 'object' && error !== null && 'code' in error ? error.code : undefined;
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export function where(trail: readonly string[]): string {
  return trail.join(' › ');
}
