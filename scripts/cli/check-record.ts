import { lintPublishedRecord } from '../policy/record-lint.ts';
import { formatDmarcRecord, parseDmarcRecord } from '../policy/record.ts';
import { printable } from '../lib/escape.ts';
import type { Command } from './command.ts';
import { usageError } from '../lib/errors.ts';
import { EXIT, JSON_OPTION, withDescription } from './command.ts';
import { SEVERITY_STYLE } from './output.ts';

export const checkRecordCommand: Command = {
  name: 'check-record',
  summary: "lint a DMARC TXT record as published (checkdmarc's record checks and more)",
  arguments: [{ name: 'txt…', description: 'the record; several arguments are its character-strings, joined as receivers join them' }],
  description: [
    "Checks a record given as text: syntax, duplicate and invalid tags, removed tags, fo, URIs, string layout (all of checkdmarc's record checks, and more).",
  ],
  options: [withDescription(JSON_OPTION, 'the findings and the parsed record as JSON')],
  examples: [{ command: 'dmarcops check-record "v=DMARC1; p=reject; pct=50; rua=mailto:d@example.com"' }],
  exit: { 0: 'no errors', 1: 'errors' },
  async run(values, strings, { output }) {
    if (strings.length === 0) throw usageError('give the record text, e.g. "v=DMARC1; p=none"');
    const findings = lintPublishedRecord(strings);
    const parsed = parseDmarcRecord(strings);
    if (values.json) {
      output.out(
        JSON.stringify(
          {
            isDmarc: parsed.isDmarc,
            record: parsed.record,
            canonical: parsed.isDmarc ? formatDmarcRecord(parsed.record) : null,
            unknownTags: parsed.unknownTags,
            findings,
          },
          (_key, value) => (typeof value === 'bigint' ? value.toString() : value),
          2,
        ),
      );
    } else {
      for (const finding of findings) {
        const severity = output.style(SEVERITY_STYLE[finding.severity], finding.severity);
        output.out(`${severity}: ${printable(finding.message)} ${output.style('dim', `[${finding.id}]`)}`);
      }
      if (parsed.isDmarc) output.out(`canonical: ${printable(formatDmarcRecord(parsed.record))}`);
      if (findings.length === 0) output.out('no findings');
    }
    return findings.some((finding) => finding.severity === 'error') ? EXIT.findings : EXIT.ok;
  },
};
