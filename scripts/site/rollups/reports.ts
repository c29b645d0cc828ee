/** The Reports pages: the list of reports, the ledger's story and the rows of single reports on demand. */
import { CATEGORIES } from '../../reports/classify.ts';
import { committedLedgerFiles } from '../../reports/store/index.ts';
import { sqlList } from '../../reports/store/layout.ts';
import type { LedgerSummary, ReportDetail, ReportedPolicy, ReportRow, ReportSummary } from '../model.ts';
import { scrubWarning } from '../redact.ts';
import { CLASS_HASH, CLIP, REDACTED, num, precutSql, rowJoins, shownText, str } from './common.ts';
import type { Context } from './common.ts';
import type { Row } from './duckdb.ts';
import { clip } from '../../lib/text.ts';

const LEDGER_OUTCOMES = ['stored', 'duplicate', 'foreign', 'invalid', 'unsupported'];
/** Not-stored ledger inputs listed. */
const SET_ASIDE_LISTED = 50;
/** Errors and warnings of a report listed (the rest counted): a report may hold any number of `<error>` elements. */
const LISTED_PER_REPORT = 20;
/**
 * The rows a report page shows: the first `max` rows, and no more once their text (From, envelope,
 * DKIM, SPF, source) passes `text` characters. A real report's rows are short: a thousand of them fit;
 * a forged report's rows may carry kilobytes each, or number a hundred thousand.
 */
export const REPORT_ROWS = { max: 1_000, text: 150_000 } as const;

const ISO = (column: string): string => `strftime(${column}, '%Y-%m-%dT%H:%M:%SZ')`;

/** Our domains' reports, newest first; the first `reportPages` have a page. */
export async function listReports(ctx: Context): Promise<ReportSummary[]> {
  // Free text a reporter wrote may quote addresses (redacted builds hide them), and be of any length.
  const text = (value: unknown, max: number): string => shownText(str(value) ?? '', max, ctx.redact);
  const errors = `list_filter(report_errors, lambda e: e IS NOT NULL)`;
  const rows =
    await ctx.sql.rows(`SELECT report_key, ${precutSql('org_name', CLIP.org)} AS org_name, ${precutSql('report_id', CLIP.id)} AS report_id,
      left(policy_domain, ${CLIP.name + 1}) AS policy_domain, ${ISO('date_begin')} AS b, ${ISO('date_end')} AS e, records, messages, passing,
      list_transform(report_warnings[1:${LISTED_PER_REPORT}],
        lambda w: {code: left(w.code, ${CLIP.token + 1}), message: ${precutSql('w.message', CLIP.text)}}) AS warnings,
      len(coalesce(report_warnings, [])) AS warning_count,
      list_transform(${errors}[1:${LISTED_PER_REPORT}], lambda e: ${precutSql('e', CLIP.text)}) AS errors, len(coalesce(${errors}, [])) AS error_count,
      left(report_schema, ${CLIP.token + 1}) AS report_schema
    FROM reports WHERE dom IS NOT NULL ORDER BY date_end DESC NULLS LAST, report_key`);
  return rows.map((r, index): ReportSummary => {
    const warnings = ((r.warnings as { code: string | null; message: string | null }[] | null) ?? [])
      .map((w) => ({ code: w.code ?? '', message: w.message ?? '' }))
      .map((w) => (ctx.redact ? scrubWarning(w) : w))
      .map((w) => ({ code: clip(w.code, CLIP.token), message: clip(w.message, CLIP.text) }));
    const errors = ((r.errors as (string | null)[] | null) ?? []).map((e) => text(e, CLIP.text));
    return {
      key: String(r.report_key),
      org: text(r.org_name, CLIP.org),
      reportId: text(r.report_id, CLIP.id),
      domain: clip(str(r.policy_domain) ?? '', CLIP.name),
      begin: str(r.b) ?? '',
      end: str(r.e) ?? '',
      records: num(r.records),
      messages: num(r.messages),
      passing: num(r.passing),
      warnings,
      moreWarnings: num(r.warning_count) - warnings.length,
      errors,
      moreErrors: num(r.error_count) - errors.length,
      schema: clip(str(r.report_schema) ?? '', CLIP.token),
      hasPage: index < ctx.options.reportPages,
    };
  });
}

export async function readLedger(ctx: Context): Promise<LedgerSummary> {
  const outcomes: Record<string, number> = Object.fromEntries(LEDGER_OUTCOMES.map((o) => [o, 0]));
  const files = committedLedgerFiles(ctx.options.dataDir);
  if (files.length === 0) return { outcomes, setAside: [] };
  const ledger = `read_parquet(${sqlList(files)}, union_by_name = true)`;
  for (const row of await ctx.sql.rows(`SELECT outcome, count(*)::INTEGER AS n FROM ${ledger} GROUP BY outcome`)) {
    outcomes[String(row.outcome)] = num(row.n);
  }
  const setAside = await ctx.sql.rows(`SELECT ${ISO('ingested_at')} AS at, outcome, source_ref, reason FROM ${ledger}
    WHERE outcome <> 'stored' ORDER BY ingested_at DESC NULLS LAST, ingest_run DESC, seq DESC LIMIT ${SET_ASIDE_LISTED}`);
  return {
    outcomes,
    setAside: setAside.map((r) => {
      const reason = str(r.reason);
      return {
        at: str(r.at) ?? '',
        outcome: String(r.outcome),
        source: str(r.source_ref) ?? '',
        reason: reason === null ? null : shownText(reason, CLIP.text, ctx.redact),
      };
    }),
  };
}

// ---------------------------------------------------------------------------------------------
// Report details

/** What report details read of each record: the class hash's columns and what the page shows. */
const DETAIL_RECORD_COLUMNS = [
  'report_key',
  'record_index',
  'source_ip',
  'source_ptr',
  'message_count',
  'disposition',
  'header_from',
  'envelope_from',
  'envelope_from_derived',
  'dkim_results',
  'spf_results',
  'dkim_aligned',
  'spf_aligned',
  'dmarc_pass',
  'override_reasons',
  'policy_domain',
  'policy_adkim',
  'policy_aspf',
].join(', ');

/** A result as shown: lower case, `none` when missing. */
const resultSql = (e: string): string => `coalesce(nullif(lower(trim(${e}.result)), ''), 'none')`;

/** `d=example.com s=google pass; d=esp.net fail` (in SQL: strings cross into JS far faster than lists of structs). */
function dkimTextSql(x: string): string {
  return `coalesce(array_to_string(list_transform(${x}.dkim_results, lambda e:
    'd=' || coalesce(e.domain, '') || CASE WHEN coalesce(e.selector, '') <> '' THEN ' s=' || e.selector ELSE '' END || ' ' || ${resultSql('e')}), '; '), '')`;
}

/** An SPF result's scope, lower case ('' when none). */
const scopeSql = (e: string): string => `lower(trim(coalesce(${e}.scope, '')))`;

/**
 * The envelope domain; redacted builds hide one the parser took from an SPF HELO result (a host
 * name: RFC 7208 section 2.3), as they hide the HELO result itself.
 */
function envelopeFromSql(x: string, redact: boolean): string {
  if (!redact) return `${x}.envelope_from`;
  return `CASE WHEN coalesce(${x}.envelope_from_derived, false)
      AND list_contains(list_transform(list_filter(${x}.spf_results, lambda e: ${scopeSql('e')} = 'helo'), lambda e: e.domain), ${x}.envelope_from)
    THEN '${REDACTED}' ELSE ${x}.envelope_from END`;
}

/** `mfrom example.com softfail`; HELO names are host names, so redacted builds hide them. */
function spfTextSql(x: string, redact: boolean): string {
  const scope = scopeSql('e');
  const domain = redact ? `CASE WHEN ${scope} = 'helo' THEN '${REDACTED}' ELSE coalesce(e.domain, '') END` : `coalesce(e.domain, '')`;
  return `coalesce(array_to_string(list_transform(${x}.spf_results, lambda e:
    CASE WHEN ${scope} = '' THEN '' ELSE ${scope} || ' ' END || ${domain} || ' ' || ${resultSql('e')}), '; '), '')`;
}

interface ReportInfo {
  summary: ReportSummary;
  /** Used when the report's header is not known (cannot happen for a listed report; a safe default). */
  policy: ReportedPolicy;
}

/**
 * Report rows on demand. Each scan of the dataset reads every report_key, so the rows of all the
 * reports that have a page are read once, on the first call, and kept (`detail_rows`); other keys
 * cost a scan per call.
 */
export class DetailReader {
  #ctx: Context;
  #info = new Map<string, ReportInfo>();
  #pages: Set<string>;
  #cached = false;

  constructor(ctx: Context, reports: ReportSummary[]) {
    this.#ctx = ctx;
    for (const summary of reports) this.#info.set(summary.key, { summary, policy: emptyPolicy(summary) });
    this.#pages = new Set(reports.filter((r) => r.hasPage).map((r) => r.key));
  }

  async read(keys: readonly string[]): Promise<ReportDetail[]> {
    const wanted = [...new Set(keys)].filter((key) => this.#info.has(key));
    if (wanted.length === 0) return [];
    if (!this.#cached && wanted.some((key) => this.#pages.has(key))) await this.#cachePages();
    const rowsByKey = await this.#rows(wanted);
    const headers = await this.#headers(wanted);
    return wanted.flatMap((key): ReportDetail[] => {
      const info = this.#info.get(key);
      if (info === undefined) return [];
      const header = headers.get(key);
      const policy: ReportedPolicy =
        header === undefined
          ? info.policy
          : {
              p: str(header.p),
              sp: str(header.sp),
              np: str(header.np),
              adkim: str(header.adkim),
              aspf: str(header.aspf),
              pct: header.pct == null ? null : num(header.pct),
              testing: str(header.testing),
              lastSeen: str(header.day) ?? info.policy.lastSeen,
              reports: 1,
            };
      const { redact } = this.#ctx;
      const generator = str(header?.generator);
      const email = str(header?.org_email);
      return [
        {
          ...info.summary,
          email: redact || email === null ? null : clip(email, CLIP.address),
          generator: generator === null ? null : shownText(generator, CLIP.text, redact),
          policy,
          rows: rowsByKey.get(key) ?? [],
        },
      ];
    });
  }

  /** The rows of the reports whose keys are in `keysTable` that their pages show (REPORT_ROWS), as the pages show them. */
  #selectRows(keysTable: string): string {
    // Only the wanted reports' rows go through the joins and the class hash.
    const wantedRows = `SELECT ${DETAIL_RECORD_COLUMNS} FROM (${this.#ctx.records}) WHERE report_key IN (SELECT report_key FROM ${keysTable})`;
    const { redact } = this.#ctx;
    const rows = `SELECT x.report_key, x.record_index, ${redact ? `'${REDACTED}'` : precutSql('x.source_ip', CLIP.ip)} AS source_ip,
        ${redact ? 'NULL' : 'x.source_ptr'} AS source_ptr, i.asn::DOUBLE AS asn, i.as_name, i.country, x.message_count::DOUBLE AS count,
        left(x.disposition, ${CLIP.token + 1}) AS disposition, ${precutSql('x.header_from', CLIP.name)} AS header_from,
        ${precutSql(envelopeFromSql('x', redact), CLIP.name)} AS envelope_from, ${precutSql(dkimTextSql('x'), CLIP.results)} AS dkim,
        ${precutSql(spfTextSql('x', redact), CLIP.results)} AS spf,
        coalesce(x.dkim_aligned, false) AS dkim_aligned, coalesce(x.spf_aligned, false) AS spf_aligned, c.category
      ${rowJoins(wantedRows)} LEFT JOIN classes c ON c.class_hash = ${CLASS_HASH}`;
    // What each row's text will weigh once clipped (#rows), summed along the report.
    const weight = [
      ['header_from', CLIP.name],
      ['envelope_from', CLIP.name],
      ['dkim', CLIP.results],
      ['spf', CLIP.results],
      ['source_ip', CLIP.ip],
    ]
      .map(([column, max]) => `least(length(coalesce(${column}, '')), ${max})`)
      .join(' + ');
    return `SELECT * EXCLUDE (row_no, text_so_far) FROM (
        SELECT *, row_number() OVER w AS row_no, sum(${weight}) OVER w AS text_so_far FROM (${rows})
        WINDOW w AS (PARTITION BY report_key ORDER BY record_index ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW))
      WHERE row_no <= ${REPORT_ROWS.max} AND (row_no = 1 OR text_so_far <= ${REPORT_ROWS.text})`;
  }

  async #cachePages(): Promise<void> {
    const { sql } = this.#ctx;
    await sql.load(
      'page_keys',
      [['report_key', 'VARCHAR']],
      [...this.#pages].map((key) => [key]),
    );
    await sql.run(`CREATE TEMP TABLE detail_rows AS ${this.#selectRows('page_keys')}`);
    this.#cached = true;
  }

  /** Rows per report key: from `detail_rows` when cached, else by a scan. */
  async #rows(wanted: string[]): Promise<Map<string, ReportRow[]>> {
    const { sql, redact } = this.#ctx;
    // Identifiers are whatever the report says (a spoofer's From may be an address literal), of any length.
    const identifier = (value: unknown, max: number): string | null => {
      const text = str(value);
      return text === null ? null : shownText(text, max, redact);
    };
    const rowsByKey = new Map<string, ReportRow[]>();
    // Column by column: a detail page build asks for ~10^5–10^6 rows at once.
    const collect = async (query: string): Promise<void> => {
      const c = await sql.columnsObject(`${query} ORDER BY report_key, record_index`);
      const keysColumn = (c.report_key ?? []) as string[];
      for (let i = 0; i < keysColumn.length; i++) {
        const key = keysColumn[i]!;
        let list = rowsByKey.get(key);
        if (list === undefined) rowsByKey.set(key, (list = []));
        list.push({
          sourceIp: clip(str(c.source_ip?.[i]) ?? '', CLIP.ip),
          ptr: str(c.source_ptr?.[i]),
          asn: c.asn?.[i] == null ? null : num(c.asn[i]),
          asName: str(c.as_name?.[i]),
          country: str(c.country?.[i]),
          count: num(c.count?.[i]),
          disposition: identifier(c.disposition?.[i], CLIP.token),
          headerFrom: identifier(c.header_from?.[i], CLIP.name),
          envelopeFrom: identifier(c.envelope_from?.[i], CLIP.name),
          dkim: identifier(c.dkim?.[i], CLIP.results) ?? '',
          spf: identifier(c.spf?.[i], CLIP.results) ?? '',
          dkimAligned: c.dkim_aligned?.[i] === true,
          spfAligned: c.spf_aligned?.[i] === true,
          // Every row of a listed report has a class (`classes` covers all rows of our domains).
          category: CATEGORIES[num(c.category?.[i])] ?? 'unauthorised',
        });
      }
    };
    const cachedKeys = this.#cached ? wanted.filter((key) => this.#pages.has(key)) : [];
    const scanKeys = this.#cached ? wanted.filter((key) => !this.#pages.has(key)) : wanted;
    if (cachedKeys.length > 0) {
      await sql.load(
        'want_keys',
        [['report_key', 'VARCHAR']],
        cachedKeys.map((key) => [key]),
      );
      await collect(`SELECT * FROM detail_rows WHERE report_key IN (SELECT report_key FROM want_keys)`);
    }
    if (scanKeys.length > 0) {
      await sql.load(
        'want_keys',
        [['report_key', 'VARCHAR']],
        scanKeys.map((key) => [key]),
      );
      await collect(`SELECT * FROM (${this.#selectRows('want_keys')})`);
    }
    return rowsByKey;
  }

  /** The report headers (reporter, published policy) per key. */
  async #headers(wanted: string[]): Promise<Map<string, Row>> {
    const { sql } = this.#ctx;
    await sql.load(
      'want_keys',
      [['report_key', 'VARCHAR']],
      wanted.map((key) => [key]),
    );
    const rows =
      await sql.rows(`SELECT report_key, org_email, generator, p, sp, np, adkim, aspf, pct::DOUBLE AS pct, testing, strftime(date_begin, '%Y-%m-%d') AS day
      FROM reports WHERE report_key IN (SELECT report_key FROM want_keys)`);
    return new Map(rows.map((r) => [String(r.report_key), r]));
  }
}

function emptyPolicy(summary: ReportSummary): ReportedPolicy {
  return {
    p: null,
    sp: null,
    np: null,
    adkim: null,
    aspf: null,
    pct: null,
    testing: null,
    lastSeen: summary.begin.slice(0, 10),
    reports: 1,
  };
}
