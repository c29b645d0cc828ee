/**
 * The commands, in the order `dmarcops --help`, the README and docs/cli.md list them. Each module is
 * loaded only when its command runs (or when the reference is generated).
 */
import type { Command } from './command.ts';

export const COMMANDS: Record<string, () => Promise<Command>> = {
  validate: async () => (await import('./validate.ts')).validateCommand,
  new: async () => (await import('./new.ts')).newCommand,
  record: async () => (await import('./record.ts')).recordCommand,
  codeowners: async () => (await import('./codeowners.ts')).codeownersCommand,
  rules: async () => (await import('./rules.ts')).rulesCommand,
  'check-record': async () => (await import('./check-record.ts')).checkRecordCommand,
  plan: async () => (await import('./plan.ts')).planCommand,
  apply: async () => (await import('./apply.ts')).applyCommand,
  comment: async () => (await import('./comment.ts')).commentCommand,
  impact: async () => (await import('./impact.ts')).impactCommand,
  sandbox: async () => (await import('./sandbox.ts')).sandboxCommand,
  ingest: async () => (await import('./ingest.ts')).ingestCommand,
  fetch: async () => (await import('./fetch.ts')).fetchCommand,
  ledger: async () => (await import('./ledger.ts')).ledgerCommand,
  compact: async () => (await import('./compact.ts')).compactCommand,
  'migrate-quarantine': async () => (await import('./migrate-quarantine.ts')).migrateQuarantineCommand,
  site: async () => (await import('./site.ts')).siteCommand,
  'mta-sts': async () => (await import('./mta-sts.ts')).mtaStsCommand,
  alerts: async () => (await import('./alerts.ts')).alertsCommand,
  digest: async () => (await import('./digest.ts')).digestCommand,
  errors: async () => (await import('./errors.ts')).errorsCommand,
  docs: async () => (await import('./docs.ts')).docsCommand,
};

/** Every command's table, in order. */
export async function loadCommands(): Promise<Command[]> {
  return Promise.all(Object.values(COMMANDS).map((load) => load()));
}
