import type { Command } from './command.ts';
import { CliError, EXIT } from './command.ts';
import { positiveInteger } from './plan.ts';

const PROVIDERS = ['cloudflare'];

export const sandboxCommand: Command = {
  name: 'sandbox',
  summary: 'serve a local Cloudflare-compatible DNS API to try plan/apply without an account',
  usage: 'dmarcops sandbox cloudflare [--port 8787] [--zones zones.json] [--latency <ms>] [--token <token>] [--quiet]',
  help: [
    'Starts a local server that speaks the parts of the Cloudflare API v4 dmarcops uses (zones, DNS',
    'records, the batch endpoint), seeded from a zones file, and prints the two variables that point',
    '`dmarcops plan` and `dmarcops apply` at it. State lives in memory: it is gone when the server stops.',
    'Every request is logged to stderr. Serves until Ctrl-C. Walk-through: docs/dns.md.',
    '',
    'options:',
    '  --port <n>         port on 127.0.0.1 (default 8787; 0 picks a free one)',
    '  --zones <file>     zones and records to start with, e.g. docs/sandbox-zones.json',
    '                     ({ "zones": [{ "name": "example.com", "records": [{ "type": "TXT", … }] }] })',
    '  --latency <ms>     wait this long before answering each request',
    '  --token <token>    the API token to accept (default: a random one, printed)',
    '  --quiet            do not log each request',
    '',
    'exit: 0 stopped, 2 usage error (bad zones file, port in use)',
  ].join('\n'),
  options: {
    port: { type: 'string', default: '8787' },
    zones: { type: 'string' },
    latency: { type: 'string' },
    token: { type: 'string' },
    quiet: { type: 'boolean', default: false },
  },
  allowPositionals: true,
  async run(values, positionals, context) {
    const [provider, ...rest] = positionals;
    if (provider === undefined || !PROVIDERS.includes(provider) || rest.length > 0) {
      throw new CliError(`name the API to serve: \`dmarcops sandbox ${PROVIDERS.join('|')}\`${provider === undefined ? '' : `, not ${JSON.stringify(positionals.join(' '))}`}`, EXIT.usage);
    }
    const port = positiveInteger(values.port, '--port', 8787, true);
    if (port > 65535) throw new CliError(`--port must be at most 65535, not ${port}`, EXIT.usage);
    const latencyMs = values.latency === undefined ? undefined : positiveInteger(values.latency, '--latency', 0, true);
    const { SandboxSetupError, serveCloudflareSandbox } = await import('../dns/sandbox/cloudflare-api.ts');
    const serving = serveCloudflareSandbox({
      port,
      cwd: context.cwd,
      quiet: values.quiet === true,
      out: (line) => context.output.out(line),
      err: (line) => context.output.err(line),
      ...(typeof values.zones === 'string' ? { zones: values.zones } : {}),
      ...(typeof values.token === 'string' ? { token: values.token } : {}),
      ...(latencyMs === undefined ? {} : { latencyMs }),
    });
    // A zones file that does not load, or a port that cannot be listened on, is a usage error.
    await serving.catch((error: unknown) => {
      throw error instanceof SandboxSetupError ? new CliError(error.message, EXIT.usage) : error;
    });
    return EXIT.ok;
  },
};
