/**
 * Checks on a DMARC record as published in DNS (any TXT value, ours or someone else's): every check
 * checkdmarc makes on a record (https://github.com/domainaware/checkdmarc, checkdmarc/dmarc.py), and
 * what it leaves out: `adkim`/`aspf` values, `v=DMARC1` case (RFC 9989 §4.7), the character-string
 * layout (RFC 1035 §3.3.14), the size-suffix grammar (RFC 7489 §6.4) and the length of the
 * `_report._dmarc` name (RFC 9990 §4). The domain-file linter covers what dmarcops generates; this
 * covers what is actually out there (and the DNS stage's live diff).
 */
import type { Severity } from './model.ts';
import { parseDmarcRecord, reportUriHosts } from './record.ts';
import { splitCharacterStrings } from '../lib/dns-txt.ts';
import { utf8Length } from '../lib/text.ts';

export interface RecordFinding {
  id: string;
  severity: Severity;
  message: string;
  tag?: string;
}

const STRENGTH = { none: 0, quarantine: 1, reject: 2 } as const;

/** Lint a published record. `strings` are the TXT's character-strings when known (to check their layout). */
export function lintPublishedRecord(input: string | string[]): RecordFinding[] {
  const strings = Array.isArray(input) ? input : [input];
  const parsed = parseDmarcRecord(strings);
  const findings: RecordFinding[] = parsed.problems.map((problem) => ({
    id: `record-${problem.code}`,
    severity:
      problem.code === 'duplicate-tag' ||
      problem.code === 'invalid-size' ||
      problem.code === 'size-overflow' ||
      problem.code === 'invalid-uri' ||
      problem.code === 'invalid-value' ||
      !parsed.isDmarc
        ? 'error'
        : 'warning',
    message: problem.message,
    ...(problem.tag ? { tag: problem.tag } : {}),
  }));
  if (!parsed.isDmarc) {
    if (/^\s*v\s*=\s*spf1/i.test(parsed.text))
      findings.push({
        id: 'record-spf-at-dmarc',
        severity: 'error',
        message: 'this is an SPF record: a wildcard or a mistake put it at _dmarc',
      });
    return findings;
  }
  const { record, tags } = parsed;
  const add = (id: string, severity: Severity, message: string, tag?: string) =>
    findings.push(tag ? { id, severity, message, tag } : { id, severity, message });

  if (record.p === undefined && !findings.some((finding) => finding.tag === 'p'))
    add(
      'record-p-missing',
      'warning',
      'no p tag: RFC 9989 receivers treat the record as p=none; RFC 7489 receivers ignore the record unless rua is valid',
      'p',
    );
  if (tags[1] && tags[1].tag !== 'p' && record.p !== undefined)
    add('record-p-not-second', 'info', 'p does not follow v: RFC 7489 required that order (RFC 9989 does not)', 'p');
  if (record.p === 'none') add('record-p-none', 'info', 'p=none only monitors: failing mail is delivered', 'p');
  if (record.p && record.sp && STRENGTH[record.sp] < STRENGTH[record.p])
    add('record-sp-weaker', 'warning', `sp=${record.sp} is weaker than p=${record.p}`, 'sp');
  if (record.np && STRENGTH[record.np] < STRENGTH[record.sp ?? record.p ?? 'none'])
    add('record-np-weaker', 'warning', `np=${record.np} is weaker than the policy for existing subdomains`, 'np');
  if (record.pct !== undefined)
    add(
      'record-pct-removed',
      'warning',
      record.pct === 0
        ? 'pct=0 turns enforcement off at RFC 7489 receivers; RFC 9989 removed pct: use t=y'
        : 'pct was removed by RFC 9989; use t=y for testing',
      'pct',
    );
  if (record.rf !== undefined) add('record-rf-removed', 'warning', 'rf was removed by RFC 9989', 'rf');
  if (record.ri !== undefined) add('record-ri-removed', 'warning', 'ri was removed by RFC 9989; receivers send daily', 'ri');
  if (record.t === 'y' && record.p === 'reject')
    add(
      'record-testing-with-reject',
      'warning',
      't=y with p=reject: RFC 9989 receivers quarantine instead, RFC 7489 receivers ignore t',
      't',
    );
  if (record.fo !== undefined) {
    const options = record.fo.split(':');
    if (options.includes('0') && options.includes('1'))
      add('record-fo-0-and-1', 'warning', 'fo has both 0 and 1: 1 already includes 0', 'fo');
    if (record.ruf === undefined)
      add('record-fo-without-ruf', 'warning', 'fo without ruf has no effect (RFC 9989: its content MUST be ignored)', 'fo');
  }
  if (record.ruf !== undefined)
    add('record-ruf', 'info', 'ruf requests failure reports, which carry personal data; many receivers never send them', 'ruf');
  if (!record.rua || record.rua.length === 0) add('record-no-rua', 'warning', 'no rua: receivers send no aggregate reports', 'rua');
  for (const list of [record.rua ?? [], record.ruf ?? []]) {
    if (list.length > 2) add('record-too-many-uris', 'info', `${list.length} report URIs: RFC 7489 receivers need only support two`, 'rua');
    const seen = new Set<string>();
    for (const entry of list) {
      if (!/^mailto:/i.test(entry.uri))
        add('record-uri-not-mailto', 'warning', `${entry.uri}: only mailto: URIs are widely supported`, 'rua');
      if (reportUriHosts(entry.uri).length === 0) add('record-uri-no-host', 'error', `${entry.uri}: no mailbox domain`, 'rua');
      if (entry.size)
        add('record-size-obsolete', 'warning', `${entry.uri}!${entry.size.raw}: the size limit is obsolete in RFC 9989`, 'rua');
      if (seen.has(entry.uri.toLowerCase())) add('record-duplicate-uri', 'warning', `${entry.uri} is listed twice`, 'rua');
      seen.add(entry.uri.toLowerCase());
    }
  }
  const octets = strings.map(utf8Length);
  if (octets.some((length) => length > 255))
    add('record-string-too-long', 'error', 'a character-string is longer than 255 octets: DNS cannot carry it; split it', 'v');
  if (strings.length > 1 && strings.slice(0, -1).some((text) => !/;\s*$/.test(text)))
    add(
      'record-split-mid-tag',
      'info',
      'the record is split in the middle of a tag: valid (receivers join the strings) but hard to read',
      'v',
    );
  if (strings.length === 1 && octets[0]! > 255)
    add('record-needs-split', 'info', `split it as ${splitCharacterStrings(strings[0]!).length} strings`, 'v');
  return findings;
}
