import type { Command } from './command.ts';
import { usageError } from '../lib/errors.ts';
import { positiveInteger } from './plan.ts';

export const sandboxCommand: Command = {
  name: 'sandbox',
  summary: 'serve a local Cloudflare-compatible DNS API to try plan/apply without an account',
  actions: [
    {
      name: 'cloudflare',
      summary: 'a local Cloudflare-compatible DNS API (zones, records, batch) to try plan and apply without an account',
    },
  ],
  description: [
    'Starts a local server that speaks the parts of the Cloudflare API v4 dmarcops uses (zones, DNS records, the batch endpoint), seeded from a zones file, ' +
      'and prints the two variables that point `dmarcops plan` and `dmarcops apply` at it. State lives in memory: it is gone when the server stops. ' +
      'Every request is logged to stderr. Serves until Ctrl-C. Walk-through: docs/dns.md.',
  ],
  options: [
    { name: 'port', type: 'string', value: 'n', default: '8787', description: 'port on 127.0.0.1; 0 picks a free one' },
    {
      name: 'zones',
      type: 'string',
      value: 'file',
      description:
        'zones and records to start with, e.g. docs/sandbox-zones.json ({ "zones": [{ "name": "example.com", "records": [{ "type": "TXT", … }] }] })',
    },
    { name: 'latency', type: 'string', value: 'ms', description: 'wait this long before answering each request' },
    { name: 'token', type: 'string', value: 'token', defaultText: 'a random one, printed', description: 'the API token to accept' },
    { name: 'quiet', type: 'boolean', default: false, description: 'do not log each request' },
  ],
  examples: [
    {
      command: 'dmarcops sandbox cloudflare --zones docs/sandbox-zones.json',
      description: 'then paste the two export lines it prints and run dmarcops plan',
    },
  ],
  exit: { 0: 'stopped', 2: 'usage error (bad zones file, port in use)' },
  async run(values, positionals, context) {
    // The action (the API) is checked against the table before run; nothing may follow it.
    if (positionals.length > 1)
      throw usageError(`unexpected argument ${JSON.stringify(positionals[1])}: \`dmarcops sandbox cloudflare\` takes no other`);
    const port = positiveInteger(values.port, '--port', 8787, true);
    if (port > 65535) throw usageError(`--port must be at most 65535, not ${port}`);
    const latencyMs = values.latency === undefined ? undefined : positiveInteger(values.latency, '--latency', 0, true);
    const { runCloudflareSandboxCommand } = await import('../dns/sandbox/cloudflare-api.ts');
    return runCloudflareSandboxCommand({
      port,
      cwd: context.cwd,
      quiet: values.quiet === true,
      out: (line) => context.output.out(line),
      err: (line) => context.output.err(line),
      ...(typeof values.zones === 'string' ? { zones: values.zones } : {}),
      ...(typeof values.token === 'string' ? { token: values.token } : {}),
      ...(latencyMs === undefined ? {} : { latencyMs }),
    });
  },
};
