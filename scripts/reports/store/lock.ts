/**
 * One writer per dataset: `recover()` deletes whatever an unfinished run left, so a second writer
 * running at the same time would have its work deleted under it. The lock file appears complete
 * (written aside, then hard-linked into place, which fails if it exists); a lock left by a process
 * that died (same host, pid gone) is taken over.
 */
import { linkSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { LOCK_FILE } from './layout.ts';
import { DmarcopsError } from '../../lib/errors.ts';

interface LockInfo {
  pid: number;
  host: string;
  since: string;
}

/** Roots this process holds, so a lock carrying our own (reused) pid is still told apart. */
const held = new Set<string>();

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function stale(info: LockInfo, path: string): boolean {
  if (info.host !== hostname()) return false;
  if (info.pid === process.pid) return !held.has(path);
  return !alive(info.pid);
}

/**
 * Takes the lock on `root` (which must exist) or throws; returns the release function. `force`
 * takes over any lock: for a lock left on another host (a CI runner that died), which can't be
 * checked from here.
 */
export function acquireLock(root: string, force = false): () => void {
  const path = join(root, LOCK_FILE);
  const info: LockInfo = { pid: process.pid, host: hostname(), since: new Date().toISOString() };
  const mine = `${path}.${process.pid}.tmp`;
  writeFileSync(mine, JSON.stringify(info));
  try {
    for (let attempt = 0; attempt < 3; attempt++) {
      if (tryLink(mine, path)) {
        held.add(path);
        return () => {
          held.delete(path);
          rmSync(path, { force: true });
        };
      }
      const holder = readLock(path);
      if (holder !== null && !force && !stale(holder, path)) {
        throw new DmarcopsError(
          'dataset-locked',
          `The dataset ${root} is in use by process ${holder.pid} on ${holder.host} since ${holder.since} (${path}); ` +
            'if that process is gone, open with breakLock',
        );
      }
      rmSync(path, { force: true });
    }
  } finally {
    rmSync(mine, { force: true });
  }
  throw new DmarcopsError('dataset-locked', `Could not take the lock ${path}`);
}

function tryLink(from: string, to: string): boolean {
  try {
    linkSync(from, to);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
}

/** The holder, or null when the lock is gone or unreadable (then it is stale). */
function readLock(path: string): LockInfo | null {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as LockInfo;
  } catch {
    return null;
  }
}
