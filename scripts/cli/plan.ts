import { readdir, writeFile } from 'node:fs/promises';
import { resolve as resolvePath } from 'node:path';
import { DEFAULT_MAX_DELETES, evaluateGates, FORCE_LABEL, mergeGates } from '../dns/apply.ts';
import { makePlan } from '../dns/plan.ts';
import type { LookupOptions, PlanRun, ProviderResolver } from '../dns/plan.ts';
import { providerResolver } from '../dns/providers/index.ts';
import { formerTransportNames, removedDomainsFromGit } from '../dns/removed.ts';
import { renderPlanJson } from '../dns/render/json.ts';
import { renderPlanMarkdown } from '../dns/render/markdown.ts';
import { renderPlanText } from '../dns/render/text.ts';
import { makePlanWithBase } from '../dns/review.ts';
import type { BaseInputs } from '../dns/review.ts';
import type { Plan } from '../dns/types.ts';
import { pullRequestFromEvent } from '../github/event.ts';
import { appendJobSummary } from '../github/summary.ts';
import { committedFolder, loadDomainsAtRef } from '../policy/git.ts';
import { isDomainFileName, loadDomainDir } from '../policy/load.ts';
import type { LoadResult } from '../policy/load.ts';
import { lintDomains } from '../policy/lint.ts';
import type { ManagedRecord } from '../policy/model.ts';
import { managedRecords } from '../policy/record.ts';
import { compare } from '../lib/collections.ts';
import { printable } from '../lib/escape.ts';
import type { Command, CommandContext } from './command.ts';
import { DmarcopsError, usageError } from '../lib/errors.ts';
import type { OptionSpec } from './command.ts';
import { DOMAINS_OPTION, EXIT } from './command.ts';
import { loadValidDomains } from './load-valid.ts';

/** `--detailed-exitcode`: the plan has changes (Terraform uses 2, which is dmarcops's usage error). */
export const EXIT_CHANGES = 3;

/** What tests replace: the providers and the clock. */
export interface DnsCommandDeps {
  resolve?: ProviderResolver;
  now?: Date;
  /** Replaces reading git history for removed domain files. */
  removedDomains?: string[];
  /** Replaces reading the base from git: the plan is made with this base, as with --base. */
  base?: BaseInputs;
  /** Replaces reading git history for MTA-STS / TLS reporting names published before (`formerTransportNames`). */
  formerNames?: string[];
}

export interface PlanInputs {
  domains: string;
  deleteUnrelated: boolean;
  concurrency: number;
  /** A git ref whose domain files tell which changes are already pending there (`--base`). */
  base?: string;
  /**
   * A folder of domain files as the base (`--base-domains`), committed in the git checkout that holds it;
   * `domains` may then lie outside any repository (a fork's files extracted as data): git history is
   * read for this folder, and files it has that `domains` lacks count as removed.
   */
  baseDomains?: string;
}

/** Domain files → desired records → a plan from the providers. Shared by plan, apply and comment. */
export async function planFromDomains(
  inputs: PlanInputs,
  context: CommandContext,
  deps: DnsCommandDeps,
): Promise<PlanRun & { desired: ManagedRecord[] }> {
  if (inputs.base !== undefined && inputs.baseDomains !== undefined) throw usageError('give --base or --base-domains, not both');
  const desired = await desiredFromDomains(inputs.domains, context);
  const resolve = deps.resolve ?? providerResolver(context.env);
  const history = await historyOptions(inputs.baseDomains ?? inputs.domains, desired, context, deps);
  if (inputs.baseDomains !== undefined && deps.removedDomains === undefined) {
    // What the merge will delete: after it, git history shows these files removed, as apply will read it.
    const gone = await removedBetween(inputs.baseDomains, inputs.domains, context);
    history.removedDomains = [...new Set([...(history.removedDomains ?? []), ...gone])].sort(compare);
  }
  const options = {
    deleteUnrelated: inputs.deleteUnrelated,
    concurrency: inputs.concurrency,
    ...history,
    ...(deps.now === undefined ? {} : { now: deps.now }),
  };
  const base =
    deps.base ??
    (inputs.base !== undefined
      ? await baseFromGit(inputs.base, inputs.domains, context, deps)
      : inputs.baseDomains !== undefined
        ? await baseFromFolder(inputs.baseDomains, context, deps)
        : undefined);
  const run = base === undefined ? await makePlan(desired, resolve, options) : await makePlanWithBase(desired, base, resolve, options);
  return { ...run, desired };
}

/** The records the domain files at `ref` ask for, and the domains removed in its history. */
async function baseFromGit(ref: string, dir: string, context: CommandContext, deps: DnsCommandDeps): Promise<BaseInputs> {
  let loaded: Awaited<ReturnType<typeof loadDomainsAtRef>>;
  try {
    loaded = await loadDomainsAtRef(ref, dir, context.cwd);
  } catch (error) {
    // The git error's code and hint stay: they say what to fetch.
    if (error instanceof DmarcopsError)
      throw new DmarcopsError(error.code, `--base ${ref}: ${error.message}`, { cause: error, hint: error.hint });
    throw error;
  }
  requireValidBase(loaded, `--base ${ref}`);
  const removed = deps.removedDomains ?? (await removedDomainsFromGit(resolvePath(context.cwd, dir), context.cwd, loaded.commit)).domains;
  return { desired: managedRecords(loaded.domains.map((domain) => domain.policy)), removedDomains: removed, commit: loaded.commit };
}

function requireValidBase(loaded: LoadResult, what: string): void {
  const errors = [...loaded.findings, ...lintDomains(loaded.domains)].filter((finding) => finding.severity === 'error');
  if (errors.length > 0) {
    const [first] = errors;
    throw new DmarcopsError(
      'base-invalid',
      `${what}: the domain files there ` +
        `have ${errors.length} error${errors.length === 1 ? '' : 's'} (${first?.file}: ${first?.message}), ` +
        'so the base plan cannot be made',
    );
  }
}

/**
 * The base from a folder (`--base-domains`): its domain files, and as its commit the HEAD of the git
 * checkout that holds it (`committedFolder` refuses a folder that differs from it: the record names
 * that commit as the base).
 */
async function baseFromFolder(dir: string, context: CommandContext, deps: DnsCommandDeps): Promise<BaseInputs> {
  const path = resolvePath(context.cwd, dir);
  const commit = await committedFolder(path, `--base-domains ${dir}`);
  const loaded = await loadDomainDir(path);
  requireValidBase(loaded, `--base-domains ${dir}`);
  const removed = deps.removedDomains ?? (await removedDomainsFromGit(path, context.cwd, commit)).domains;
  return { desired: managedRecords(loaded.domains.map((domain) => domain.policy)), removedDomains: removed, commit };
}

/** Domains whose file `base` has and `head` has not (file names, as git history names removed files). */
async function removedBetween(base: string, head: string, context: CommandContext): Promise<string[]> {
  const names = async (dir: string) => (await readdir(resolvePath(context.cwd, dir))).filter(isDomainFileName);
  const kept = new Set((await names(head)).map((name) => name.toLowerCase()));
  return (await names(base)).filter((name) => !kept.has(name.toLowerCase())).map((name) => name.replace(/\.ya?ml$/i, '').toLowerCase());
}

export async function desiredFromDomains(dir: string, context: CommandContext): Promise<ManagedRecord[]> {
  const { domains } = await loadValidDomains(resolvePath(context.cwd, dir), context.output);
  return managedRecords(domains.map((domain) => domain.policy));
}

export async function removedDomains(dir: string, context: CommandContext, deps: DnsCommandDeps): Promise<string[]> {
  if (deps.removedDomains !== undefined) return deps.removedDomains;
  const removed = await removedDomainsFromGit(resolvePath(context.cwd, dir), context.cwd);
  if (removed.warning !== undefined) context.output.err(`dmarcops: ${printable(removed.warning)}`);
  return removed.domains;
}

/**
 * What git history tells the planner (plan, apply and comment alike): domain files removed, and the
 * MTA-STS / TLS reporting names dmarcops may have published, so their records are deleted.
 */
export async function historyOptions(
  dir: string,
  desired: readonly ManagedRecord[],
  context: CommandContext,
  deps: DnsCommandDeps,
): Promise<Pick<LookupOptions, 'removedDomains' | 'formerNames'>> {
  const removed = await removedDomains(dir, context, deps);
  const domains = [...new Set([...desired.map((record) => record.domain), ...removed])];
  return { removedDomains: removed, formerNames: await formerNames(dir, domains, context, deps) };
}

async function formerNames(dir: string, domains: string[], context: CommandContext, deps: DnsCommandDeps): Promise<string[]> {
  if (deps.formerNames !== undefined) return deps.formerNames;
  if (deps.removedDomains !== undefined) return []; // history is replaced in this run: do not read it for one half only
  const former = await formerTransportNames(resolvePath(context.cwd, dir), domains, context.cwd);
  if (former.warning !== undefined) context.output.err(`dmarcops: ${printable(former.warning)}`);
  return former.names;
}

export function positiveInteger(value: unknown, flag: string, fallback: number, allowZero = false): number {
  if (value === undefined) return fallback;
  const text = String(value);
  if (!/^\d+$/.test(text) || (!allowZero && Number(text) === 0))
    throw usageError(`${flag} must be a ${allowZero ? 'whole number' : 'positive whole number'}, not ${JSON.stringify(text)}`);
  return Number(text);
}

/** Options of plan that apply and comment share (they plan too). */
export const PLAN_OPTIONS: OptionSpec[] = [
  DOMAINS_OPTION,
  {
    name: 'delete-unrelated',
    type: 'boolean',
    default: false,
    description: "also delete TXT records at the managed names that are not of the name's kind (v=DMARC1…, v=STSv1…, v=TLSRPTv1…)",
  },
  { name: 'concurrency', type: 'string', value: 'n', defaultText: '16', description: 'zones read at once' },
];

/** The option whose description a command changes, from PLAN_OPTIONS. */
export function planOption(name: string, changes: Partial<OptionSpec> = {}): OptionSpec {
  const option = PLAN_OPTIONS.find((candidate) => candidate.name === name);
  if (option === undefined) throw new Error(`no plan option --${name}`);
  return { ...option, ...changes };
}

export const CREDENTIALS: NonNullable<Command['environment']> = [
  {
    name: 'CLOUDFLARE_API_TOKEN',
    description:
      'Cloudflare: an API token with Zone:Read and DNS:Read (DNS:Edit to apply); CLOUDFLARE_BASE_URL and CLOUDFLARE_ACCOUNT_ID are optional',
  },
  { name: 'PDNS_API_URL, PDNS_API_KEY', description: "PowerDNS: the HTTP API's base URL and key (PDNS_SERVER_ID, default localhost)" },
  {
    name: 'DMARCOPS_RFC2136_*',
    description: 'RFC 2136: SERVER, KEY_NAME, KEY_SECRET (and KEY_ALGORITHM) of a TSIG key allowed to update the zone (docs/dns.md)',
  },
  { name: 'GITHUB_STEP_SUMMARY', description: 'under GitHub Actions, the plan is also appended here as Markdown' },
];

export function makePlanCommand(deps: DnsCommandDeps = {}): Command {
  return {
    name: 'plan',
    summary: 'show what dmarcops would change in DNS (never writes)',
    description: [
      'Reads the records the domain files ask for (_dmarc.<domain> TXT, the _report._dmarc authorisations, _mta-sts.<domain> and _smtp._tls.<domain>), ' +
        'reads the current TXT records at those names from each provider (one listing per zone), and prints the changes: + create, ~ update, - delete, ' +
        'each with a reason. Deletions and weaker policies are flagged risky: `dmarcops apply` makes them only with --force. Nothing is ever written to DNS.',
      "Only what dmarcops owns is compared: the values of the name's kind (v=DMARC1…, v=STSv1…, v=TLSRPTv1…). Other TXT there are reported and left alone. " +
        'Records of domain files removed from the folder, and of mta_sts / tls_reports keys removed (seen in git history), are deleted, only in zones ' +
        'some domain file still manages. See docs/plan.md (the JSON shape too) and docs/dns.md.',
    ],
    options: [
      DOMAINS_OPTION,
      {
        name: 'format',
        type: 'string',
        value: 'f',
        default: 'text',
        description: 'text (coloured on a terminal), markdown, or json (docs/plan.md)',
      },
      {
        name: 'out',
        type: 'string',
        value: 'file',
        description: 'also write the plan as JSON, for `dmarcops apply --plan` and `dmarcops comment --plan`',
      },
      {
        name: 'base',
        type: 'string',
        value: 'git-ref',
        description:
          "also plan the domain files at this ref (a pull request's base) against the same listings: " +
          'changes it gives too are marked as already pending there, the others are ' +
          `this change's own (only those can the ${FORCE_LABEL} label allow on merge)`,
      },
      {
        name: 'base-domains',
        type: 'string',
        value: 'dir',
        description:
          'as --base, from a folder of domain files committed in its git checkout (its HEAD is the recorded base, its history is read); ' +
          "--domains may then be a folder outside git, such as a fork's domain files extracted as data (dns-plan-fork.yml)",
      },
      planOption('delete-unrelated'),
      {
        name: 'max-deletes',
        type: 'string',
        value: 'n',
        defaultText: String(DEFAULT_MAX_DELETES),
        description: 'the deletion cap apply will use, for the "apply would refuse" line',
      },
      planOption('concurrency'),
      {
        name: 'detailed-exitcode',
        type: 'boolean',
        default: false,
        description: 'exit 3 when there are changes (like terraform plan -detailed-exitcode)',
      },
    ],
    environment: CREDENTIALS,
    examples: [
      { command: 'dmarcops plan', description: 'what would change, coloured' },
      {
        command: 'dmarcops plan --base origin/main --out plan.json',
        description: 'in a pull request: its own changes marked, the plan saved for comment and apply',
      },
      {
        command: 'dmarcops plan --domains "$RUNNER_TEMP/pr/domains" --base-domains domains --out plan.json',
        description: "a fork's pull request: its domain files as data, against the default branch's checkout",
      },
    ],
    exclusive: [['base', 'base-domains']],
    exit: { 0: 'planned (changes or not)', 1: 'invalid domain files or a provider error', 3: 'changes, with --detailed-exitcode' },
    async run(values, _positionals, context) {
      const format = String(values.format);
      if (!['text', 'markdown', 'json'].includes(format))
        throw usageError(`--format must be text, markdown or json, not ${JSON.stringify(format)}`);
      const maxDeletes = positiveInteger(values['max-deletes'], '--max-deletes', DEFAULT_MAX_DELETES, true);
      const inputs = {
        domains: String(values.domains),
        deleteUnrelated: values['delete-unrelated'] === true,
        concurrency: positiveInteger(values.concurrency, '--concurrency', 16),
        ...(typeof values.base === 'string' ? { base: values.base } : {}),
        ...(typeof values['base-domains'] === 'string' ? { baseDomains: values['base-domains'] } : {}),
      };
      const { plan } = await planFromDomains(inputs, context, deps);
      const gates = evaluateGates(plan, { maxDeletes });
      const { output, env } = context;
      if (format === 'json') output.out(renderPlanJson(plan).trimEnd());
      else if (format === 'markdown') output.out(renderPlanMarkdown(plan, { gates }).trimEnd());
      else output.out(renderPlanText(plan, output, { gates }));
      if (typeof values.out === 'string') await writeFile(resolvePath(context.cwd, values.out), renderPlanJson(plan));
      await appendJobSummary(summaryMarkdown(plan, maxDeletes, env, output), env);
      return values['detailed-exitcode'] === true && plan.changes.length > 0 ? EXIT_CHANGES : EXIT.ok;
    },
  };
}

export const planCommand = makePlanCommand();

/**
 * The job summary: on a pull request, what apply will do when it is merged, as the sticky comment says
 * it (`mergeGates`): risky changes of its own are allowed by the force label, pending ones never.
 */
function summaryMarkdown(plan: Plan, maxDeletes: number, env: NodeJS.ProcessEnv, output: CommandContext['output']): string {
  if (env.GITHUB_STEP_SUMMARY === undefined || env.GITHUB_STEP_SUMMARY === '') return '';
  let pullRequest: ReturnType<typeof pullRequestFromEvent>; // undefined: not a pull request event, nothing to say about labels
  try {
    pullRequest = pullRequestFromEvent(env);
  } catch (error) {
    output.err(`dmarcops plan: ${(error as Error).message}; the summary shows the gates without the ${FORCE_LABEL} label`);
  }
  if (pullRequest?.number === undefined) return renderPlanMarkdown(plan, { gates: evaluateGates(plan, { maxDeletes }) });
  const labelled = pullRequest.labels.includes(FORCE_LABEL);
  return renderPlanMarkdown(plan, { gates: mergeGates(plan, { number: pullRequest.number, labelled, maxDeletes }), forceLabel: labelled });
}
