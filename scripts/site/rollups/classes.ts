/**
 * 3. Classification per distinct class hash: classify() runs once per distinct combination of what it
 * reads, not once per row. Each class gets its category, declared sender, fix hint, From domain and
 * failing authentication results, appended back into DuckDB.
 */
import type { DomainPolicy } from '../../policy/model.ts';
import { classify, matchSender } from '../../reports/classify.ts';
import type { ClassifyRow, DkimResultRow, OverrideReasonRow, SpfResultRow } from '../../reports/classify.ts';
import { alignmentMode, domainsAligned } from '../../reports/derive.ts';
import type { AuthDetail } from '../model.ts';
import { CAT, CLASS_HASH, CLIP, num, rowJoins, shownText } from './common.ts';
import type { Context } from './common.ts';
import { normaliseName } from '../../lib/dns-name.ts';

/** What classify() reads of one class (JSON of the `inputs` struct of `class_keys`). */
interface ClassInputs {
  dom: number;
  header_from: string | null;
  policy_domain: string | null;
  dmarc_pass: boolean | null;
  dkim_aligned: boolean | null;
  spf_aligned: boolean | null;
  dkim_results: DkimResultRow[] | null;
  spf_results: SpfResultRow[] | null;
  override_reasons: OverrideReasonRow[] | null;
  policy_adkim: string | null;
  policy_aspf: string | null;
  source_ip: string | null;
  base: string | null;
  asn: number | null;
  name: string | null;
  forwarder: boolean;
}

export type AuthResult = Omit<AuthDetail, 'series'>;

/** What the classes hold that stays in JS. */
export interface ClassMap {
  /** class_id → classify()'s fix hint, for authorised-failing classes */
  hints: Map<number, string>;
  /** from_id → From domain ('' when the report had none) */
  headerFroms: string[];
  /** auth_id → failing authentication result */
  details: AuthResult[];
}

/** A failing authentication result as one sortable string (also its identity). */
export const detailLabel = (d: AuthResult): string => `${d.kind} ${d.domain} ${d.qualifier ?? ''} ${d.result} ${d.aligned}`;

/** A result as shown: lower case, `none` when missing. */
const normResult = (result: string | null | undefined): string => (result ?? '').trim().toLowerCase() || 'none';

/** Classes classified per batch, so that a dataset with millions of distinct classes never holds them all in JS. */
const CLASSIFY_BATCH = 50_000;
/** `authenticated`: some DKIM or SPF result passed, aligned or not. */
const CLASS_COLUMNS = [
  ['class_hash', 'UBIGINT'],
  ['class_id', 'INTEGER'],
  ['category', 'INTEGER'],
  ['sender', 'VARCHAR'],
  ['from_id', 'INTEGER'],
  ['authenticated', 'BOOLEAN'],
] as const;
const CLASS_AUTH_COLUMNS = [
  ['class_id', 'INTEGER'],
  ['auth_id', 'INTEGER'],
] as const;

/**
 * `class_keys` (one row per class hash of our domains' rows, with the inputs) → `classes_ungrouped`
 * (class_hash → class_id, category, sender, from_id, authenticated), `class_auth` (class_id → auth_id,
 * the failing results of non-compliant classes) and `auth_labels` (auth_id → detailLabel).
 */
export async function buildClasses(ctx: Context): Promise<ClassMap> {
  const { sql } = ctx;
  await sql.run(`CREATE TEMP TABLE class_keys AS
    SELECT class_hash, any_value(inputs) AS inputs FROM (
      SELECT ${CLASS_HASH} AS class_hash,
        {dom: r.dom, header_from: x.header_from, policy_domain: x.policy_domain, dmarc_pass: x.dmarc_pass,
         dkim_aligned: x.dkim_aligned, spf_aligned: x.spf_aligned, dkim_results: x.dkim_results, spf_results: x.spf_results,
         override_reasons: x.override_reasons, policy_adkim: x.policy_adkim, policy_aspf: x.policy_aspf,
         source_ip: x.source_ip, base: i.base, asn: i.asn::DOUBLE, name: i.name, forwarder: i.forwarder} AS inputs
      ${rowJoins(ctx.records)}
      WHERE r.dom IS NOT NULL)
    GROUP BY class_hash`);
  const [count] = await sql.rows(`SELECT count(*)::INTEGER AS n FROM class_keys`);
  await sql.load('classes_ungrouped', CLASS_COLUMNS, []);
  await sql.load('class_auth', CLASS_AUTH_COLUMNS, []);

  const hints = new Map<number, string>();
  const froms = new Numbering<string>();
  const authResults = new Numbering<AuthResult>();

  // A fresh table's rowids are 0…n-1: they number the classes (class_id) and cut the batches.
  for (let start = 0; start < num(count?.n); start += CLASSIFY_BATCH) {
    // As JSON text: converting lists of structs into JS values costs three times as much as JSON.parse.
    const [classIds, hashes, texts] = await sql.columns<[number[], bigint[], string[]]>(
      `SELECT rowid::INTEGER AS class_id, class_hash, to_json(inputs)::VARCHAR AS inputs FROM class_keys
       WHERE rowid >= ${start} AND rowid < ${start + CLASSIFY_BATCH}`,
    );
    const classRows: unknown[][] = [];
    const authRows: [number, number][] = [];
    for (let i = 0; i < classIds.length; i++) {
      const classId = classIds[i]!;
      const inputs = JSON.parse(texts[i]!) as ClassInputs;
      const policy = ctx.policies[inputs.dom];
      if (policy === undefined) throw new Error(`internal: no domain file #${inputs.dom}`);
      const row = classifyRow(inputs);
      // Every IP of this class has the same forwarder verdict (it is part of the hash).
      const result = classify(row, { policy, isKnownForwarder: () => inputs.forwarder });
      // classify names the sender of failing mail only; its passing mail belongs to the same group.
      const sender = result.sender ?? (result.category === 'compliant' ? (matchSender(row, policy.senders)?.sender.name ?? null) : null);
      // A hint quotes the report's DKIM and SPF domains and selectors (any text, any number of them).
      if (result.category === 'authorised-failing' && result.hint !== undefined)
        hints.set(classId, shownText(result.hint, CLIP.sentence, ctx.redact));
      const from = normaliseName(inputs.header_from);
      const fromId = froms.idOf(from, from);
      const authenticated = [...(inputs.dkim_results ?? []), ...(inputs.spf_results ?? [])].some((r) => normResult(r.result) === 'pass');
      classRows.push([hashes[i]!, classId, CAT[result.category], sender, fromId, authenticated]);

      if (result.category !== 'compliant') {
        // A message with two identical signatures counts once for that result.
        const authIds = new Set(failingResults(inputs, from, policy).map((d) => authResults.idOf(detailLabel(d), d)));
        for (const authId of authIds) authRows.push([classId, authId]);
      }
    }
    await sql.append('classes_ungrouped', CLASS_COLUMNS, classRows);
    await sql.append('class_auth', CLASS_AUTH_COLUMNS, authRows);
  }
  await sql.run(`DROP TABLE class_keys`);
  // A sortable label per result, so rankings break ties the same way on every build.
  await sql.load(
    'auth_labels',
    [
      ['auth_id', 'INTEGER'],
      ['label', 'VARCHAR'],
    ],
    authResults.values.map((d, authId) => [authId, detailLabel(d)]),
  );
  return { hints, headerFroms: froms.values, details: authResults.values };
}

/** Numbers values by a label, in the order they are first seen. */
class Numbering<T> {
  readonly values: T[] = [];
  #ids = new Map<string, number>();

  idOf(label: string, value: T): number {
    let id = this.#ids.get(label);
    if (id === undefined) {
      id = this.values.length;
      this.#ids.set(label, id);
      this.values.push(value);
    }
    return id;
  }
}

function classifyRow(inputs: ClassInputs): ClassifyRow {
  return {
    dmarc_pass: inputs.dmarc_pass,
    dkim_aligned: inputs.dkim_aligned,
    spf_aligned: inputs.spf_aligned,
    dkim_results: inputs.dkim_results,
    spf_results: inputs.spf_results,
    override_reasons: inputs.override_reasons,
    header_from: inputs.header_from,
    policy_domain: inputs.policy_domain,
    policy_adkim: inputs.policy_adkim,
    policy_aspf: inputs.policy_aspf,
    source_ip: inputs.source_ip,
    source_base_domain: inputs.base,
    source_asn: inputs.asn,
    source_name: inputs.name,
  };
}

/** The DKIM and SPF results of a non-compliant class, with their alignment to its From domain (canonical, '' when none). */
function failingResults(inputs: ClassInputs, from: string, policy: DomainPolicy): AuthResult[] {
  const alignTo = from || normaliseName(inputs.policy_domain);
  const adkim = alignmentMode(inputs.policy_adkim, policy.adkim);
  const aspf = alignmentMode(inputs.policy_aspf, policy.aspf);
  return [
    ...(inputs.dkim_results ?? []).map((sig) => ({
      kind: 'dkim' as const,
      domain: normaliseName(sig.domain),
      qualifier: sig.selector?.trim() || null,
      result: normResult(sig.result),
      aligned: domainsAligned(sig.domain ?? undefined, alignTo, adkim),
    })),
    ...(inputs.spf_results ?? []).map((spf) => ({
      kind: 'spf' as const,
      domain: normaliseName(spf.domain),
      qualifier: spf.scope?.trim().toLowerCase() || null,
      result: normResult(spf.result),
      aligned: domainsAligned(spf.domain ?? undefined, alignTo, aspf),
    })),
  ];
}

/** The alignment mode the report says was published, else the domain file's. */
