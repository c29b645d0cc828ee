import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { resolve as resolvePath } from 'node:path';
import { applyDns, DEFAULT_MAX_DELETES, FORCE_LABEL } from '../dns/apply.ts';
import type { ApplyOptions } from '../dns/apply.ts';
import { providerResolver } from '../dns/providers/index.ts';
import { readPlanJson } from '../dns/render/json.ts';
import { renderApplyMarkdown } from '../dns/render/markdown.ts';
import { renderApplyText, renderPlanText } from '../dns/render/text.ts';
import { appendJobSummary } from '../github/summary.ts';
import type { Command } from './command.ts';
import { CliError, EXIT } from './command.ts';
import { desiredFromDomains, historyOptions, PLAN_OPTIONS, positiveInteger } from './plan.ts';
import type { DnsCommandDeps } from './plan.ts';

export interface ApplyCommandDeps extends DnsCommandDeps {
  /** Overrides for DNS verification timing (tests). */
  verify?: { attempts?: number; delayMs?: number; timeoutMs?: number };
}

/** `192.0.2.53`, `192.0.2.53:5353`, `2001:db8::53`, `[2001:db8::53]:5353` → the form node:dns takes. */
export function parseDnsServer(text: string): string {
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(text);
  const v4 = /^([\d.]+)(?::(\d+))?$/.exec(text);
  let host: string;
  let port: string | undefined;
  if (bracketed !== null) [, host = '', port] = bracketed;
  else if (v4 !== null) [, host = '', port] = v4;
  else [host, port] = [text, undefined];
  const family = isIP(host);
  const portOk = port === undefined || (Number(port) >= 1 && Number(port) <= 65535);
  if (family === 0 || !portOk) throw new CliError(`--verify-dns takes an IP address with an optional port (192.0.2.53:53, [2001:db8::53]:53), not ${JSON.stringify(text)}`, EXIT.usage);
  if (port === undefined) return host;
  return family === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}

export function makeApplyCommand(deps: ApplyCommandDeps = {}): Command {
  return {
    name: 'apply',
    summary: 'plan again and apply the changes to DNS, behind safety gates',
    usage: 'dmarcops apply [--domains <dir>] [--plan plan.json] [--force] [--max-deletes <n>] [--verify-dns <server[:port]>]…',
    help: [
      'Plans afresh (as `dmarcops plan` does), prints the plan, checks the gates, then applies it zone by',
      'zone (one provider call per zone), plans the written zones again to prove nothing is left to do, and',
      'optionally asks nameservers for the changed names. Running it twice changes nothing the second time.',
      '',
      'Gates, checked before anything is written (any one refuses the whole run):',
      '  --plan <file>         the reviewed plan (`dmarcops plan --out`): refuse unless the fresh plan has',
      '                        the same checksum, i.e. DNS and the domain files still give exactly that plan',
      `  --force               allow risky changes: deletions and weaker policies (the ${FORCE_LABEL} label in CI)`,
      `  --max-deletes <n>     at most n deletions in this run across all zones (default ${DEFAULT_MAX_DELETES}); --force does not lift it`,
      '',
      'options:',
      '  --domains <dir>       folder of domain files (default: domains)',
      '  --delete-unrelated    also delete TXT records at managed names that are not DMARC (as in plan)',
      '  --verify-dns <ip[:port]>  after apply, resolve each changed name at this nameserver (repeatable;',
      '                        use the authoritative servers: a recursive resolver may answer from cache)',
      '  --concurrency <n>     zones read and written at once (default 16 to read, 8 to write)',
      '',
      'Credentials come from the environment only (CLOUDFLARE_API_TOKEN, PDNS_API_URL, PDNS_API_KEY…).',
      'Under GitHub Actions, what was applied is appended to $GITHUB_STEP_SUMMARY.',
      '',
      'exit: 0 applied and verified (or nothing to do), 1 refused by a gate, failed, or not converged,',
      '2 usage error',
    ].join('\n'),
    options: {
      ...PLAN_OPTIONS,
      plan: { type: 'string' },
      force: { type: 'boolean', default: false },
      'max-deletes': { type: 'string' },
      'verify-dns': { type: 'string', multiple: true },
    },
    allowPositionals: false,
    async run(values, _positionals, context) {
      const { output, env } = context;
      const maxDeletes = positiveInteger(values['max-deletes'], '--max-deletes', DEFAULT_MAX_DELETES, true);
      const concurrency = values.concurrency === undefined ? undefined : positiveInteger(values.concurrency, '--concurrency', 8);
      const servers = (Array.isArray(values['verify-dns']) ? values['verify-dns'] : []).map((server) => parseDnsServer(String(server)));
      let reviewedChecksum: string | undefined;
      if (typeof values.plan === 'string') {
        const path = resolvePath(context.cwd, values.plan);
        const text = await readFile(path, 'utf8').catch((error: Error) => {
          throw new CliError(`cannot read ${values.plan}: ${error.message}`);
        });
        reviewedChecksum = readPlanJson(text, values.plan).checksum;
      }

      const dir = String(values.domains);
      const desired = await desiredFromDomains(dir, context);
      const options: ApplyOptions = {
        force: values.force === true,
        maxDeletes,
        deleteUnrelated: values['delete-unrelated'] === true,
        ...(await historyOptions(dir, desired, context, deps)),
        onPlan: (plan, gates) => output.out(`${renderPlanText(plan, output, { gates })}\n`),
        onZone: ({ phase, outcome }) => {
          if (phase === 'start') output.err(`applying ${outcome.changes.length} change${outcome.changes.length === 1 ? '' : 's'} to ${outcome.provider} ${outcome.zone}…`);
        },
      };
      if (reviewedChecksum !== undefined) options.reviewedChecksum = reviewedChecksum;
      if (concurrency !== undefined) {
        options.concurrency = concurrency;
        options.readConcurrency = concurrency;
      }
      if (deps.now !== undefined) options.now = deps.now;
      if (servers.length > 0) options.verifyDns = { servers, ...deps.verify };

      const result = await applyDns(desired, deps.resolve ?? providerResolver(env), options);
      const report = renderApplyText(result.outcomes, result.verification, result.dns, output);
      if (report !== '') output.out(report);
      await appendJobSummary(renderApplyMarkdown(result), env);
      switch (result.status) {
        case 'no-changes':
          output.out(output.style(['bold', 'green'], 'Nothing to apply.'));
          return EXIT.ok;
        case 'applied':
          output.out(output.style(['bold', 'green'], `Applied ${result.plan.changes.length} change${result.plan.changes.length === 1 ? '' : 's'}.`));
          return EXIT.ok;
        case 'refused':
          throw new CliError(`refused, nothing changed: ${result.gates.problems.join('; ')}`);
        case 'failed':
          throw new CliError('apply failed or did not converge; see above (the next run picks up where this one stopped)');
      }
    },
  };
}

export const applyCommand = makeApplyCommand();
