/** File system steps of the commit protocol: durable writes and renames. */
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { tmpName } from './layout.ts';

/** Flushes a file's data to disk (a rename only orders metadata, not the contents). */
export function fsyncFile(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Makes renames and unlinks in `dir` durable. Skipped where directories can't be fsynced (Windows). */
export function fsyncDir(dir: string): void {
  let fd: number;
  try {
    fd = openSync(dir, 'r');
  } catch (error) {
    if (process.platform === 'win32') return;
    throw error;
  }
  try {
    fsyncSync(fd);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'EINVAL' && code !== 'EPERM' && code !== 'EISDIR') throw error;
  } finally {
    closeSync(fd);
  }
}

/** mkdir -p, fsyncing the parent of every directory it creates so the new entries survive a crash. */
export function ensureDir(dir: string): void {
  const created = mkdirSync(dir, { recursive: true });
  if (created === undefined) return;
  // `created` is the first directory made; everything below it is new too.
  for (let d = dir; ; d = dirname(d)) {
    fsyncDir(dirname(d));
    if (d === created || dirname(d) === d) break;
  }
}

/** Writes a whole file under its final name atomically: temp sibling, fsync, rename, fsync dir. */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  const dir = dirname(path);
  ensureDir(dir);
  const tmp = join(dir, tmpName(basename(path)));
  writeFileSync(tmp, data);
  fsyncFile(tmp);
  renameSync(tmp, path);
  fsyncDir(dir);
}

export function removeFile(path: string): void {
  rmSync(path, { force: true });
}

export function removeTree(path: string): void {
  rmSync(path, { recursive: true, force: true });
}

/** Remove `dir` when it is empty; leave it when it is not (or is gone already). */
export function removeEmptyDir(dir: string): void {
  try {
    rmdirSync(dir);
  } catch {
    // Not empty (another run's leftovers, for recover), or gone already.
  }
}
