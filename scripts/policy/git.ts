/**
 * Domain files as they were at a git ref (a pull request's base, `origin/main`, a commit): the same
 * `loadDomainTexts` as the working tree, fed from `git ls-tree` and `git cat-file` instead of the disk.
 * The impact preview compares the base with the head, and the plan workflow tells a pull request's own
 * DNS changes from those already pending on its base.
 */
import { execFile } from 'node:child_process';
import { relative, resolve } from 'node:path';
import { promisify } from 'node:util';
import { DEFAULTS_FILE_NAME, isDomainFileName, loadDomainTexts } from './load.ts';
import type { LoadResult, TextFile } from './load.ts';
import { DmarcopsError } from '../lib/errors.ts';

const run = promisify(execFile);
/** Domain files are small; a folder of thousands still fits comfortably. */
const MAX_BUFFER = 256 * 1024 * 1024;

export interface DomainTextsAtRef {
  /** The commit the ref named, full sha. */
  commit: string;
  files: TextFile[];
  defaults?: TextFile;
  /** False when the folder did not exist at that commit (every domain file is then new). */
  exists: boolean;
}

/**
 * The domain files of `dir` (a path in the working tree) at `ref`. File names read
 * `<ref>:<path in the repository>`, so findings say where they come from. Throws, naming the ref,
 * when it is not a commit of the repository.
 */
export async function domainTextsAtRef(ref: string, dir: string, cwd: string = process.cwd()): Promise<DomainTextsAtRef> {
  if (ref === '' || ref.startsWith('-')) throw new DmarcopsError('git-ref-invalid', `not a git ref: ${JSON.stringify(ref)}`);
  const top = (await git(['rev-parse', '--show-toplevel'], cwd, 'find the repository')).trim();
  const commit = (
    await git(
      ['rev-parse', '--verify', '--quiet', `${ref}^{commit}`],
      cwd,
      `resolve ${JSON.stringify(ref)} to a commit (fetch it first, e.g. \`git fetch origin main\`)`,
    )
  ).trim();
  const folder = relative(top, resolve(cwd, dir)).split('\\').join('/');
  if (folder.startsWith('..')) throw new DmarcopsError('git-outside-repository', `${dir} is outside the git repository at ${top}`);

  let listing: string;
  try {
    listing = (await run('git', ['ls-tree', '-z', commit, '--', `${folder}/`], { cwd: top, maxBuffer: MAX_BUFFER, encoding: 'utf8' }))
      .stdout;
  } catch (error) {
    throw new DmarcopsError('git-failed', `git cannot list ${folder} at ${ref}: ${firstLine(error)}`, { cause: error });
  }
  const blobs = listing.split('\0').flatMap((entry) => {
    const match = /^\d+ blob ([0-9a-f]+)\t(.+)$/.exec(entry);
    if (match === null) return [];
    const path = match[2] ?? '';
    return [{ path, name: path.slice(path.lastIndexOf('/') + 1) }];
  });
  const wanted = blobs
    .filter(({ name }) => name === DEFAULTS_FILE_NAME || isDomainFileName(name))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const texts = await Promise.all(
    wanted.map(async ({ path, name }) => ({
      name,
      file: `${ref}:${path}`,
      text: await git(['cat-file', 'blob', `${commit}:${path}`], top, `read ${path} at ${ref}`),
    })),
  );
  const defaults = texts.find(({ name }) => name === DEFAULTS_FILE_NAME);
  const result: DomainTextsAtRef = {
    commit,
    files: texts.filter(({ name }) => name !== DEFAULTS_FILE_NAME).map(({ file, text }) => ({ file, text })),
    exists: blobs.length > 0,
  };
  if (defaults !== undefined) result.defaults = { file: defaults.file, text: defaults.text };
  return result;
}

/** `domainTextsAtRef`, loaded: policies and findings as `loadDomainDir` gives for the working tree. */
export async function loadDomainsAtRef(ref: string, dir: string, cwd: string = process.cwd()): Promise<LoadResult & { commit: string }> {
  const at = await domainTextsAtRef(ref, dir, cwd);
  return { ...loadDomainTexts(at.files, at.defaults), commit: at.commit };
}

/**
 * The commit whose tree holds the folder `dir` exactly as it is on disk: HEAD of the checkout it is in,
 * when nothing under it is changed, added or removed since. Throws `base-domains-uncommitted` otherwise
 * (a record naming that commit as the base would name files that were not the base). `what` names the
 * folder in the message, as the user gave it.
 */
export async function committedFolder(dir: string, what: string): Promise<string> {
  let commit: string;
  let changed: string;
  try {
    commit = (await run('git', ['rev-parse', '--verify', 'HEAD^{commit}'], { cwd: dir, encoding: 'utf8' })).stdout.trim();
    changed = (
      await run('git', ['status', '--porcelain', '--untracked-files=all', '--', '.'], { cwd: dir, encoding: 'utf8' })
    ).stdout.trim();
  } catch (error) {
    throw new DmarcopsError('base-domains-uncommitted', `${what}: not in a git checkout with a commit (${firstLine(error)})`, {
      cause: error,
    });
  }
  if (changed !== '')
    throw new DmarcopsError(
      'base-domains-uncommitted',
      `${what}: the folder differs from its commit ${commit.slice(0, 12)} (${changed.split('\n')[0]?.trim()}), ` +
        'so the review record could not name the base it was planned against',
    );
  return commit;
}

async function git(args: string[], cwd: string, what: string): Promise<string> {
  try {
    return (await run('git', args, { cwd, maxBuffer: MAX_BUFFER, encoding: 'utf8' })).stdout;
  } catch (error) {
    throw new DmarcopsError('git-failed', `git cannot ${what}: ${firstLine(error)}`, { cause: error });
  }
}

function firstLine(error: unknown): string {
  const stderr = (error as { stderr?: unknown }).stderr;
  const text = typeof stderr === 'string' && stderr.trim() !== '' ? stderr : (error as Error).message;
  return text.trim().split('\n')[0] ?? 'failed';
}
