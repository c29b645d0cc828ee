/**
 * PARSE stage for SMTP TLS reports (RFC 8460): the JSON of one report (as `application/tlsrpt+json`,
 * or gzip-compressed as `application/tlsrpt+gzip`) → a typed report, its warnings and its dataset rows.
 *
 *   const report = await parseTlsReportStream(payload.open(), { name: payload.name });
 *   if (report.policyDomains.some(isOurs)) store(tlsReportKey(report), tlsReportRows(report));
 *
 * TLS reports are small (one JSON object per sender, domain and day), so a report is read whole, within
 * `maxBytes`. A document that is not a usable report throws `TlsParseError` with a stable `code` and a
 * message naming the input and the JSON path; nothing is returned half-read.
 */
import { TlsParseError } from './errors.ts';
import { DEFAULT_TLS_LIMITS, readJsonDocument } from './json.ts';
import { readTlsReport } from './report.ts';
import type { ParsedTlsReport, TlsParseLimits, TlsParseOptions } from './types.ts';

export { TlsParseError } from './errors.ts';
export type { TlsParseErrorCode } from './errors.ts';
export { DEFAULT_TLS_LIMITS } from './json.ts';
export { tlsReportKey, tlsReportRows } from './rows.ts';
export type * from './types.ts';

/** One report from its bytes (JSON, or gzip of JSON) or from text already decoded. */
export function parseTlsReport(input: Uint8Array | string, options: TlsParseOptions = {}): ParsedTlsReport {
  const limits = limitsOf(options);
  const name = options.name ?? 'TLS report';
  const document = readJsonDocument(input, limits, options.name);
  const read = readTlsReport(document.value, limits, document.duplicateKeys, options.name);
  if (document.byteOrderMark)
    read.warnings.unshift({
      code: 'byte-order-mark',
      message: 'the JSON starts with a byte order mark (RFC 8259 §8.1: must not); ignored',
      count: 1,
    });
  const policyDomains = [...new Set(read.policies.map((policy) => policy.policyDomain))].sort();
  let failureDetails = 0;
  let successfulSessions = 0;
  let failedSessions = 0;
  for (const policy of read.policies) {
    failureDetails += policy.failureDetails.length;
    successfulSessions += policy.successfulSessions ?? 0;
    failedSessions += policy.failedSessions ?? 0;
  }
  return {
    name,
    header: read.header,
    policies: read.policies,
    policyDomains,
    warnings: read.warnings,
    stats: {
      bytes: document.bytes,
      gzip: document.gzip,
      policies: read.policies.length,
      failureDetails,
      successfulSessions,
      failedSessions,
    },
  };
}

/**
 * One report from a stream of chunks (an unpacked payload's `open()`), read up to `maxBytes` (of the
 * bytes as they come: a gzip stream is bounded again after decompression).
 */
export async function parseTlsReportStream(
  chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  options: TlsParseOptions = {},
): Promise<ParsedTlsReport> {
  const limits = limitsOf(options);
  const parts: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of chunks) {
    size += chunk.length;
    if (size > limits.maxBytes)
      throw new TlsParseError('too-large', `is more than ${limits.maxBytes} bytes (the limit for one report)`, options.name);
    parts.push(chunk);
  }
  return parseTlsReport(Buffer.concat(parts), options);
}

function limitsOf(options: TlsParseOptions): TlsParseLimits {
  const limits = { ...DEFAULT_TLS_LIMITS };
  for (const key of Object.keys(DEFAULT_TLS_LIMITS) as (keyof TlsParseLimits)[]) {
    const value = options[key];
    if (value !== undefined) {
      if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`${key} must be a positive whole number, not ${value}`);
      limits[key] = value;
    }
  }
  return limits;
}
