/**
 * Brings the directory back to a committed state after a crash, following the protocol in
 * index.ts: roll back what never committed, finish what did. Idempotent; needs the writer lock.
 */
import { readdirSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { fsyncDir, removeFile, removeTree } from './fsx.ts';
import { LEDGER_DIR, LOCK_FILE, QUARANTINE_DIR, STAGING_DIR, scanDataset } from './layout.ts';
import type { RecoverResult } from './types.ts';

function listDir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}

export function recover(root: string): RecoverResult {
  const result: RecoverResult = {
    staging: [],
    temporary: [],
    uncommittedParts: [],
    compactionsFinished: [],
    compactionsUndone: [],
  };

  // Scratch space of runs and compactions that did not finish: nothing in it is data.
  const staging = join(root, STAGING_DIR);
  for (const name of listDir(staging)) {
    removeTree(join(staging, name));
    result.staging.push(name);
  }
  for (const name of listDir(root)) {
    // Lock files being prepared by processes that died before linking them.
    if (name.startsWith(`${LOCK_FILE}.`) && name.endsWith('.tmp') && name !== `${LOCK_FILE}.${process.pid}.tmp`) {
      removeFile(join(root, name));
    }
  }

  // Quarantine files are written aside and renamed too.
  for (const outcome of listDir(join(root, QUARANTINE_DIR))) {
    const dir = join(root, QUARANTINE_DIR, outcome);
    for (const name of listDir(dir)) {
      if (!name.endsWith('.tmp')) continue;
      removeFile(join(dir, name));
      result.temporary.push(join(dir, name));
    }
  }

  const state = scanDataset(root);
  for (const tmp of state.ledgerTemporary) {
    removeFile(tmp);
    result.temporary.push(tmp);
  }
  if (state.ledgerTemporary.length > 0) fsyncDir(join(root, LEDGER_DIR));

  // records/ and tls/ follow the same protocol, with the one ledger as their commit marker.
  for (const month of [...state.months, ...state.tlsMonths]) {
    const remove = (name: string): void => removeFile(join(month.dir, name));
    for (const name of month.temporary) {
      remove(name);
      result.temporary.push(join(month.dir, name));
    }
    for (const { name, manifest, outputPresent } of month.manifests) {
      if (outputPresent) {
        // Committed: the output replaced the inputs; finish deleting them, then the manifest.
        for (const input of manifest.inputs) remove(input);
        fsyncDir(month.dir);
        result.compactionsFinished.push(manifest.id);
      } else {
        // Not committed: its output never got its final name (the .tmp went above).
        result.compactionsUndone.push(manifest.id);
      }
      remove(name);
    }
    for (const name of month.uncommitted) {
      remove(name);
      result.uncommittedParts.push(join(month.dir, name));
    }
    fsyncDir(month.dir);
    // A month directory created by a run that never committed.
    if (listDir(month.dir).length === 0) rmdirSync(month.dir);
  }
  return result;
}
