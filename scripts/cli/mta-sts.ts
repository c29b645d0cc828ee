import { resolve } from 'node:path';
import { checkMtaSts } from '../mtasts/check.ts';
import type { DomainCheck } from '../mtasts/check.ts';
import { fetchPolicyFile } from '../mtasts/fetch.ts';
import type { FetchPolicyOptions } from '../mtasts/fetch.ts';
import { mtaStsSiteFiles, writeMtaStsSite } from '../mtasts/site.ts';
import { mapLimit } from '../lib/concurrency.ts';
import type { DomainPolicy } from '../policy/model.ts';
import { nodeTxtResolver } from '../policy/orgdomain.ts';
import type { TxtResolver } from '../policy/orgdomain.ts';
import { printable } from '../lib/escape.ts';
import type { Command, CommandContext } from './command.ts';
import { catalogueError, usageError } from '../lib/errors.ts';
import { DOMAINS_OPTION, EXIT, JSON_OPTION, withDescription } from './command.ts';
import { loadValidDomains } from './load-valid.ts';
import { plural } from '../lib/text.ts';

/** What tests replace: DNS and where HTTPS connections go (with the test CA). */
export interface MtaStsDeps {
  txt?: TxtResolver;
  fetch?: FetchPolicyOptions;
}

export function makeMtaStsCommand(deps: MtaStsDeps = {}): Command {
  return {
    name: 'mta-sts',
    summary: 'build the MTA-STS policy files to publish, or check what is published against the repository',
    actions: [
      { name: 'build', summary: 'the MTA-STS policy files as a static site, one folder per domain (docs/mta-sts.md)' },
      {
        name: 'check',
        summary:
          'fetch each published policy over HTTPS as senders do and compare it, and the _mta-sts / _smtp._tls records, with the repository',
        arguments: [{ name: 'domain…', optional: true, description: 'check: the domains to check (default: every domain with mta_sts)' }],
      },
    ],
    description: [
      'build: writes, for each domain with mta_sts, <out>/<domain>/.well-known/mta-sts.txt (the policy, byte for byte, ' +
        'CRLF line ends) and what a static host needs: CNAME (GitHub Pages custom domain mta-sts.<domain>), ' +
        '.nojekyll, .gitattributes (no line-ending conversion), _headers (text/plain on Netlify and Cloudflare Pages), ' +
        'and <out>/manifest.json. Publish each <domain> folder at https://mta-sts.<domain>/ (docs/mta-sts.md).',
      'check: for each domain named (default: every domain with mta_sts) fetches https://mta-sts.<domain>/.well-known/mta-sts.txt as senders do ' +
        "(HTTPS, certificate valid for the name, no redirects, 200, text/plain), compares it with the repository's policy, and compares the id in " +
        "_mta-sts.<domain> TXT (and _smtp._tls) with the repository's. Each mismatch is a finding.",
    ],
    options: [
      DOMAINS_OPTION,
      { name: 'out', type: 'string', value: 'dir', default: 'mta-sts-site', description: 'where to write', actions: ['build'] },
      { name: 'timeout', type: 'string', value: 's', defaultText: '10', description: 'seconds per HTTPS fetch', actions: ['check'] },
      withDescription(JSON_OPTION, 'build: the manifest; check: the results as data'),
    ],
    exit: { 0: 'ok', 1: 'a finding of severity error (check) or invalid domain files' },
    async run(values, positionals, context) {
      // The action, and which options go with it, are checked against the table before run.
      const [action, ...rest] = positionals;
      if (action === 'build' && rest.length > 0)
        throw usageError(`mta-sts build takes no domain names (it builds every domain with mta_sts): ${printable(rest[0] ?? '')}`);
      const { domains } = await loadValidDomains(resolve(context.cwd, String(values.domains)), context.output);
      const policies = domains.map((domain) => domain.policy);
      return action === 'build' ? build(policies, values, context) : check(policies, rest, values, context, deps);
    },
  };
}

export const mtaStsCommand = makeMtaStsCommand();

type Values = Parameters<Command['run']>[0];

async function build(policies: DomainPolicy[], values: Values, { output, cwd }: CommandContext): Promise<number> {
  const site = mtaStsSiteFiles(policies);
  const out = resolve(cwd, String(values.out));
  const { stale } = await writeMtaStsSite(out, site);
  if (values.json) {
    output.out(JSON.stringify({ out, domains: site.domains, stale }, null, 2));
    return EXIT.ok;
  }
  for (const domain of site.domains)
    output.out(`${printable(domain.domain)}/.well-known/mta-sts.txt  mode ${domain.mode}, id ${domain.id}  → ${printable(domain.url)}`);
  output.out(
    `${plural(site.domains.length, 'policy file')} in ${printable(out)}${site.domains.length === 0 ? ' (no domain has mta_sts)' : ''}`,
  );
  for (const name of stale)
    output.err(`dmarcops mta-sts: ${printable(out)}/${printable(name)} holds a policy for a domain without mta_sts now; left as it is`);
  return EXIT.ok;
}

async function check(
  policies: DomainPolicy[],
  names: string[],
  values: Values,
  { output }: CommandContext,
  deps: MtaStsDeps,
): Promise<number> {
  const withSts = policies.filter((policy) => policy.mtaSts !== undefined);
  const wanted =
    names.length === 0
      ? withSts
      : names.map((name) => {
          const domain = name.toLowerCase().replace(/\.$/, '');
          const match = policies.find((policy) => policy.domain === domain);
          if (match === undefined)
            throw catalogueError('domain-not-found', { name: printable(name), dir: printable(String(values.domains)) });
          if (match.mtaSts === undefined)
            throw catalogueError('mta-sts-not-configured', { name: printable(name), file: printable(match.file) });
          return match;
        });
  const timeout = values.timeout === undefined ? 10 : Number(values.timeout);
  if (!Number.isFinite(timeout) || timeout <= 0)
    throw usageError(`--timeout must be a positive number of seconds, not ${printable(String(values.timeout))}`);
  const txt = deps.txt ?? nodeTxtResolver();
  const fetchOptions: FetchPolicyOptions = { timeoutMs: timeout * 1000, ...deps.fetch };
  const results = await mapLimit(wanted, 8, (policy) =>
    checkMtaSts(policy, { txt, fetch: (domain) => fetchPolicyFile(domain, fetchOptions) }),
  );
  if (values.json) output.out(JSON.stringify(results, null, 2));
  else {
    for (const result of results) output.out(renderCheck(result, output));
    const failed = results.filter((result) => !result.ok).length;
    const summary = `${plural(results.length, 'domain')} checked: ${failed === 0 ? 'all match the repository' : `${failed} with problems`}`;
    output.out(output.style(['bold', failed === 0 ? 'green' : 'red'], summary));
  }
  return results.every((result) => result.ok) ? EXIT.ok : EXIT.findings;
}

/** One domain's result for a terminal: a status line, then each finding. Everything from the network goes through `printable`. */
export function renderCheck(result: DomainCheck, output: Pick<CommandContext['output'], 'style'>): string {
  const served =
    result.served === undefined
      ? ''
      : `, served ${result.served.status} ${printable(result.served.contentType ?? '(no Content-Type)')}, ${result.served.bytes} bytes`;
  const status = result.ok ? output.style(['bold', 'green'], 'ok') : output.style(['bold', 'red'], 'problems');
  const lines = [`${printable(result.domain)}: ${status} (id ${result.expected.id}${served})`];
  for (const finding of result.findings) {
    const severity = output.style(['bold', finding.severity === 'error' ? 'red' : 'yellow'], finding.severity);
    lines.push(`  ${severity}: ${printable(finding.message)} [${finding.code}; ${finding.reference}]`);
  }
  return lines.join('\n');
}
