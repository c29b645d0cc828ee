/**
 * Why a payload is not a usable aggregate report. The code is stable (the ledger stores it as the
 * reason, and docs/errors.md lists it under "Report refusals"); the message names the input and what
 * is wrong, in words a report owner can act on.
 */
import { DmarcopsError } from '../../lib/errors.ts';

export type ParseErrorCode =
  | 'empty'
  | 'not-xml'
  | 'not-a-report'
  | 'dtd-forbidden'
  | 'malformed-xml'
  | 'element-too-large'
  | 'too-deep'
  | 'truncated'
  | 'header-not-found'
  | 'header-too-large';

export class ParseError extends DmarcopsError {
  declare readonly code: ParseErrorCode;
  /** The input's name, when the caller gave one. */
  readonly input: string | undefined;

  constructor(code: ParseErrorCode, message: string, input?: string) {
    // Messages quote names from the document: keep a hostile one short.
    const clipped = message.length > 500 ? `${message.slice(0, 500)}…` : message;
    super(code, input ? `${input}: ${clipped}` : clipped, input ? { location: { source: input } } : {});
    this.name = 'ParseError';
    this.input = input;
  }
}
