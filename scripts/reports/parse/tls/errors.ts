/**
 * Why a payload is not a usable TLS report (RFC 8460). The code is stable (the ledger stores it with the
 * message as the reason, and docs/errors.md lists it under "Report refusals"); the message names the
 * input, the JSON path and what is wrong, and quotes nothing of the document: values are described
 * (`a string of 12 characters`), keys the format does not define are not named, JSON syntax errors
 * give a line and column. A refused document may be anyone's JSON, and the ledger never keeps an
 * input's content (docs/dataset.md, Quarantine).
 */
import { DmarcopsError } from '../../../lib/errors.ts';

export type TlsParseErrorCode =
  | 'empty'
  | 'too-large'
  | 'corrupt-gzip'
  | 'invalid-utf8'
  | 'malformed-json'
  | 'too-deep'
  | 'string-too-long'
  | 'too-many-items'
  | 'forbidden-key'
  | 'not-a-report'
  | 'unsupported-version'
  | 'invalid-field'
  | 'invalid-date'
  | 'invalid-count';

export class TlsParseError extends DmarcopsError {
  declare readonly code: TlsParseErrorCode;
  /** The input's name, when the caller gave one. */
  readonly input: string | undefined;

  constructor(code: TlsParseErrorCode, message: string, input?: string) {
    // The input's name (an attachment's file name) comes from the mail: keep a hostile one short.
    const clipped = message.length > 500 ? `${message.slice(0, 500)}…` : message;
    super(code, input ? `${input}: ${clipped}` : clipped, input ? { location: { source: input } } : {});
    this.name = 'TlsParseError';
    this.input = input;
  }
}
