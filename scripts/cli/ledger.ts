import { findReports } from '../reports/store/index.ts';
import type { InputKind, LedgerOutcome, LedgerRow } from '../reports/store/index.ts';
import type { Command } from './command.ts';
import { usageError } from '../lib/errors.ts';
import { DATA_OPTION, EXIT, JSON_OPTION, withDescription } from './command.ts';
import { printable } from '../lib/escape.ts';

const OUTCOMES = ['stored', 'duplicate', 'foreign', 'invalid', 'unsupported'];
const KINDS = ['aggregate', 'tls', 'failure', 'other'];

export const ledgerCommand: Command = {
  name: 'ledger',
  summary: 'answer "did we get <org>\'s report for <day>?" from the ingest ledger',
  description: [
    'Lists every input the ledger knows that matches: stored reports, duplicates, foreign and invalid inputs ' +
      '(with reasons: docs/errors.md, "Report refusals"). DMARC aggregate reports and SMTP TLS reports alike; --kind tls keeps the TLS reports.',
  ],
  options: [
    { name: 'org', type: 'string', value: 'text', description: 'reporter name contains this text (case-insensitive), e.g. google' },
    { name: 'domain', type: 'string', value: 'domain', description: 'policy domain of the report' },
    { name: 'day', type: 'string', value: 'YYYY-MM-DD', description: 'the report period covers this UTC day' },
    { name: 'outcome', type: 'string', value: 'name', description: `one of ${OUTCOMES.join(', ')}` },
    {
      name: 'kind',
      type: 'string',
      value: 'name',
      description: `one of ${KINDS.join(', ')} (tls: SMTP TLS reports; failure: ARF failure reports, never read)`,
    },
    DATA_OPTION,
    withDescription(JSON_OPTION, 'the ledger rows as JSON'),
  ],
  examples: [
    { command: 'dmarcops ledger --org google --day 2026-06-12', description: "did we get Google's report for the 12th?" },
    { command: 'dmarcops ledger --kind tls --outcome invalid', description: 'the TLS reports that could not be read, with reasons' },
  ],
  exit: { 0: 'at least one match', 1: 'none' },
  async run(values, _positionals, { output }) {
    if (typeof values.day === 'string' && !/^\d{4}-\d{2}-\d{2}$/.test(values.day))
      throw usageError(`--day must be YYYY-MM-DD, not ${values.day}`);
    if (typeof values.outcome === 'string' && !OUTCOMES.includes(values.outcome))
      throw usageError(`--outcome must be one of ${OUTCOMES.join(', ')}`);
    if (typeof values.kind === 'string' && !KINDS.includes(values.kind)) throw usageError(`--kind must be one of ${KINDS.join(', ')}`);
    const query: Parameters<typeof findReports>[1] = {};
    if (typeof values.org === 'string') query.org = values.org;
    if (typeof values.domain === 'string') query.domain = values.domain;
    if (typeof values.day === 'string') query.day = values.day;
    if (typeof values.outcome === 'string') query.outcome = values.outcome as LedgerOutcome;
    if (typeof values.kind === 'string') query.kind = values.kind as InputKind;
    const rows = await findReports(String(values.data), query);
    if (values.json) output.out(JSON.stringify(rows, null, 2));
    else if (rows.length === 0) output.out('no matching report in the ledger');
    else for (const row of rows) output.out(describeRow(row));
    return rows.length > 0 ? EXIT.ok : EXIT.findings;
  },
};

function describeRow(row: LedgerRow): string {
  const day = (date: Date | null) => (date ? date.toISOString().slice(0, 16).replace('T', ' ') : '?');
  const who = row.orgName ? `${row.orgName} ${row.reportId ?? ''}`.trim() : (row.sourceName ?? row.sourceRef);
  const period = row.dateBegin ? ` ${day(row.dateBegin)} → ${day(row.dateEnd)} UTC` : '';
  const tls = row.kind === 'tls';
  const records = row.records === null ? '' : ` · ${row.records} ${tls ? 'rows' : 'records'}`;
  const sessions = tls && row.messages !== null ? ` · ${row.messages} sessions` : '';
  const reason = row.reason ? ` · ${row.reason}` : '';
  return printable(
    `${row.outcome.padEnd(11)} ${tls ? 'TLS ' : ''}${row.policyDomain ?? '-'}  ${who}${period}${records}${sessions}${reason}  (run ${row.ingestRun})`,
  );
}
