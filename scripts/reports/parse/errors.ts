/**
 * Why a payload is not a usable aggregate report. The code is stable (the ledger stores it as the
 * reason); the message names the input and what is wrong, in words a report owner can act on.
 */
export type ParseErrorCode =
  | 'empty'
  | 'not-xml'
  | 'not-a-report'
  | 'dtd-forbidden'
  | 'malformed-xml'
  | 'element-too-large'
  | 'too-deep'
  | 'truncated'
  | 'header-not-found';

export class ParseError extends Error {
  readonly code: ParseErrorCode;
  /** The input's name, when the caller gave one. */
  readonly input: string | undefined;

  constructor(code: ParseErrorCode, message: string, input?: string) {
    // Messages quote names from the document: keep a hostile one short.
    const clipped = message.length > 500 ? `${message.slice(0, 500)}…` : message;
    super(input ? `${input}: ${clipped}` : clipped);
    this.name = 'ParseError';
    this.code = code;
    this.input = input;
  }
}
