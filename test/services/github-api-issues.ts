/**
 * Issue, repository-content and pull-request endpoints for the local GitHub REST server
 * (./github-api.ts), as @octokit/rest calls them, following GitHub's published REST contract:
 *
 *   GET   /user                                         a Bot's installation token: 403 (as GitHub answers the workflow token)
 *   GET   /repos/{o}/{r}                                 default_branch
 *   GET   /repos/{o}/{r}/issues?labels=&state=&creator=&per_page=&page=   (issues and pull requests, newest first, Link header)
 *   POST  /repos/{o}/{r}/issues                          201 {title, body, labels}
 *   GET   /repos/{o}/{r}/issues/{n}
 *   PATCH /repos/{o}/{r}/issues/{n}                      title, body, state, state_reason, labels
 *   GET   /repos/{o}/{r}/git/ref/heads/{branch}          404 when missing
 *   POST  /repos/{o}/{r}/git/refs                        201; 422 "Reference already exists"
 *   DELETE /repos/{o}/{r}/git/refs/heads/{branch}        204
 *   GET   /repos/{o}/{r}/contents/{path}?ref=            base64 content (60-column lines) and the blob sha
 *   PUT   /repos/{o}/{r}/contents/{path}                 a commit on `branch`; 409 when `sha` is not the file's blob sha
 *   POST  /repos/{o}/{r}/pulls                           201; 422 without commits between base and head, or a second open one
 *
 * Issue comments (closing and reopening notes) go through ./github-api.ts's comment endpoints, which
 * serve any issue number. Issues and pull requests share one number sequence, as on GitHub.
 *
 *   const issues = githubIssues();
 *   const github = await startGitHubApi({ repos: ['octo/dmarc'], extensions: [issues] });
 *   issues.seedFiles('octo/dmarc', 'main', { 'domains/example.com.yaml': '…' });
 */
import { createHash } from 'node:crypto';
import type { GitHubApiExtension, GitHubApiRequest, GitHubUser } from './github-api.ts';

export interface StoredIssue {
  repo: string;
  number: number;
  title: string;
  body: string;
  labels: string[];
  user: GitHubUser;
  state: 'open' | 'closed';
  state_reason: 'completed' | 'not_planned' | 'reopened' | null;
  created_at: string;
  updated_at: string;
  closed_at: string | null;
  /** A pull request (listed by GET /issues, as GitHub does). */
  pull?: { head: string; base: string; headSha: string; draft: boolean };
}

interface Commit {
  sha: string;
  parent: string | null;
  message: string;
  files: Map<string, string>;
}

export interface GitHubIssuesApi extends GitHubApiExtension {
  issues(repo: string): StoredIssue[];
  seedIssue(
    repo: string,
    issue: Partial<Omit<StoredIssue, 'repo' | 'number'>> & { title: string; body: string; user: GitHubUser },
  ): StoredIssue;
  /** Commits `files` on `branch` (created from nothing when missing); returns the commit sha. */
  seedFiles(repo: string, branch: string, files: Record<string, string>, message?: string): string;
  branches(repo: string): string[];
  /** The files at a branch's head. */
  files(repo: string, branch: string): Record<string, string>;
  /** Commit messages from a branch's head back to the first commit. */
  log(repo: string, branch: string): string[];
  pulls(repo: string): StoredIssue[];
}

export const HUMAN: GitHubUser = { login: 'octocat', id: 583231, type: 'User' };

const DOCS = 'https://docs.github.com/rest';
const sha1 = (text: string): string => createHash('sha1').update(text).digest('hex');
/** Git's blob id, which the contents API returns as `sha`. */
export const blobSha = (content: string): string => sha1(`blob ${Buffer.byteLength(content)}\0${content}`);

export function githubIssues(options: { defaultBranch?: string } = {}): GitHubIssuesApi {
  const defaultBranch = options.defaultBranch ?? 'main';
  const issues: StoredIssue[] = [];
  const numbers = new Map<string, number>();
  const commits = new Map<string, Commit>();
  const refs = new Map<string, Map<string, string>>();
  let clock = Date.parse('2026-02-01T00:00:00Z');
  const tick = () => new Date((clock += 1000)).toISOString().replace(/\.\d{3}Z$/, 'Z');
  const nextNumber = (repo: string) => {
    const n = (numbers.get(repo) ?? 0) + 1;
    numbers.set(repo, n);
    return n;
  };
  const refsOf = (repo: string) => {
    let map = refs.get(repo);
    if (map === undefined) refs.set(repo, (map = new Map()));
    return map;
  };
  const commit = (repo: string, branch: string, files: Map<string, string>, message: string, parent: string | null): string => {
    const sha = sha1(
      `commit ${repo} ${branch} ${parent ?? ''} ${message} ${commits.size} ${[...files].map(([p, c]) => `${p}:${blobSha(c)}`).join(',')}`,
    );
    commits.set(sha, { sha, parent, message, files });
    refsOf(repo).set(branch, sha);
    return sha;
  };
  const head = (repo: string, branch: string): Commit | undefined => {
    const sha = refsOf(repo).get(branch);
    return sha === undefined ? undefined : commits.get(sha);
  };

  const issueView = (base: string, issue: StoredIssue) => {
    const [owner, name] = issue.repo.split('/');
    const kind = issue.pull === undefined ? 'issues' : 'pull';
    return {
      id: 9_000_000 + issue.number,
      node_id: `I_${issue.number}`,
      url: `${base}/repos/${issue.repo}/issues/${issue.number}`,
      comments_url: `${base}/repos/${issue.repo}/issues/${issue.number}/comments`,
      html_url: `https://github.test/${owner}/${name}/${kind}/${issue.number}`,
      number: issue.number,
      state: issue.state,
      state_reason: issue.state_reason,
      title: issue.title,
      body: issue.body,
      user: issue.user,
      labels: issue.labels.map((label, index) => ({
        id: 100 + index,
        node_id: `LA_${label}`,
        name: label,
        color: 'ededed',
        default: false,
        description: null,
      })),
      assignees: [],
      locked: false,
      comments: 0,
      created_at: issue.created_at,
      updated_at: issue.updated_at,
      closed_at: issue.closed_at,
      author_association: issue.user.type === 'Bot' ? 'NONE' : 'MEMBER',
      ...(issue.pull === undefined
        ? {}
        : {
            pull_request: {
              url: `${base}/repos/${issue.repo}/pulls/${issue.number}`,
              html_url: `https://github.test/${owner}/${name}/pull/${issue.number}`,
            },
          }),
    };
  };
  const pullView = (base: string, pull: StoredIssue) => {
    const [owner] = pull.repo.split('/');
    const basePull = pull.pull!;
    return {
      ...issueView(base, pull),
      html_url: `https://github.test/${pull.repo}/pull/${pull.number}`,
      draft: basePull.draft,
      head: { ref: basePull.head, sha: basePull.headSha, label: `${owner}:${basePull.head}` },
      base: { ref: basePull.base, sha: refsOf(pull.repo).get(basePull.base) ?? null, label: `${owner}:${basePull.base}` },
    };
  };

  const paged = (request: GitHubApiRequest, all: unknown[]): void => {
    const { url } = request;
    const perPage = Math.min(100, Math.max(1, Number(url.searchParams.get('per_page') ?? 30)));
    const page = Math.max(1, Number(url.searchParams.get('page') ?? 1));
    const last = Math.max(1, Math.ceil(all.length / perPage));
    const link = (n: number, rel: string) => {
      const target = new URL(url.href);
      target.searchParams.set('per_page', String(perPage));
      target.searchParams.set('page', String(n));
      return `<${target.href}>; rel="${rel}"`;
    };
    const links: string[] = [];
    if (page > 1) links.push(link(page - 1, 'prev'), link(1, 'first'));
    if (page < last) links.push(link(page + 1, 'next'), link(last, 'last'));
    request.reply(200, all.slice((page - 1) * perPage, page * perPage), links.length > 0 ? { link: links.join(', ') } : {});
  };

  const forbidden = (request: GitHubApiRequest): boolean => {
    if (request.method === 'GET' || request.identity.write) return false;
    request.reply(403, { message: 'Resource not accessible by integration', documentation_url: DOCS });
    return true;
  };

  async function handle(request: GitHubApiRequest): Promise<boolean> {
    const { method, url } = request;
    const path = url.pathname;
    if (path === '/user' && method === 'GET') {
      if (request.identity.user.type === 'Bot')
        request.reply(403, {
          message: 'Resource not accessible by integration',
          documentation_url: `${DOCS}/users/users#get-the-authenticated-user`,
        });
      else request.reply(200, request.identity.user);
      return true;
    }
    const repoMatch = /^\/repos\/([^/]+)\/([^/]+)(\/.*)?$/.exec(path);
    if (repoMatch === null) return false;
    const repo = `${repoMatch[1]}/${repoMatch[2]}`;
    // Octokit percent-encodes `{ref}` and `{path}` (`heads%2Fmain`), which GitHub accepts: decode once here.
    const rest = decodeURIComponent(repoMatch[3] ?? '');
    const known =
      rest === '' || /^\/issues(\/\d+)?$/.test(rest) || rest.startsWith('/git/') || rest.startsWith('/contents/') || rest === '/pulls';
    if (!known) return false;
    if (!request.hasRepo(repo)) {
      request.reply(404, { message: 'Not Found', documentation_url: DOCS });
      return true;
    }
    if (forbidden(request)) return true;
    const base = request.base;

    if (rest === '' && method === 'GET') {
      const [owner, name] = repo.split('/');
      request.reply(200, { id: 1, name, full_name: repo, owner: { login: owner }, default_branch: defaultBranch, has_issues: true });
      return true;
    }

    // Issues
    if (rest === '/issues' && method === 'GET') {
      const state = url.searchParams.get('state') ?? 'open';
      const labels = (url.searchParams.get('labels') ?? '')
        .split(',')
        .map((l) => l.trim())
        .filter((l) => l !== '');
      const creator = url.searchParams.get('creator');
      const list = issues
        .filter((i) => i.repo === repo && (state === 'all' || i.state === state))
        .filter((i) => labels.every((label) => i.labels.includes(label)))
        .filter((i) => creator === null || i.user.login.toLowerCase() === creator.toLowerCase())
        .sort((a, b) => b.number - a.number)
        .map((i) => issueView(base, i));
      paged(request, list);
      return true;
    }
    if (rest === '/issues' && method === 'POST') {
      const body = (await request.body()) as { title?: unknown; body?: unknown; labels?: unknown };
      if (typeof body.title !== 'string' || body.title === '') {
        request.reply(422, {
          message: 'Validation Failed',
          errors: [{ resource: 'Issue', code: 'missing_field', field: 'title' }],
          documentation_url: `${DOCS}/issues/issues#create-an-issue`,
        });
        return true;
      }
      if ([...body.title].length > 256) {
        request.reply(422, {
          message: 'Validation Failed',
          errors: [{ resource: 'Issue', code: 'custom', field: 'title', message: 'title is too long (maximum is 256 characters)' }],
        });
        return true;
      }
      if (typeof body.body === 'string' && [...body.body].length > 65_536) {
        request.reply(422, {
          message: 'Validation Failed',
          errors: [{ resource: 'Issue', code: 'custom', field: 'body', message: 'body is too long (maximum is 65536 characters)' }],
        });
        return true;
      }
      const at = tick();
      const issue: StoredIssue = {
        repo,
        number: nextNumber(repo),
        title: body.title,
        body: typeof body.body === 'string' ? body.body : '',
        labels: Array.isArray(body.labels) ? body.labels.map(String) : [],
        user: request.identity.user,
        state: 'open',
        state_reason: null,
        created_at: at,
        updated_at: at,
        closed_at: null,
      };
      issues.push(issue);
      request.reply(201, issueView(base, issue));
      return true;
    }
    const single = /^\/issues\/(\d+)$/.exec(rest);
    if (single !== null) {
      const issue = issues.find((i) => i.repo === repo && i.number === Number(single[1]));
      if (issue === undefined) {
        request.reply(404, { message: 'Not Found', documentation_url: DOCS });
        return true;
      }
      if (method === 'GET') {
        request.reply(200, issueView(base, issue));
        return true;
      }
      if (method === 'PATCH') {
        const body = (await request.body()) as {
          title?: unknown;
          body?: unknown;
          state?: unknown;
          state_reason?: unknown;
          labels?: unknown;
        };
        if (body.state !== undefined && body.state !== 'open' && body.state !== 'closed') {
          request.reply(422, { message: 'Validation Failed', errors: [{ resource: 'Issue', code: 'invalid', field: 'state' }] });
          return true;
        }
        if (
          body.state_reason !== undefined &&
          body.state_reason !== null &&
          !['completed', 'not_planned', 'reopened'].includes(String(body.state_reason))
        ) {
          request.reply(422, { message: 'Validation Failed', errors: [{ resource: 'Issue', code: 'invalid', field: 'state_reason' }] });
          return true;
        }
        if (typeof body.title === 'string') issue.title = body.title;
        if (typeof body.body === 'string') issue.body = body.body;
        if (Array.isArray(body.labels)) issue.labels = body.labels.map(String);
        const at = tick();
        if (body.state === 'closed' && issue.state !== 'closed') {
          issue.state = 'closed';
          issue.closed_at = at;
          issue.state_reason = (body.state_reason as StoredIssue['state_reason']) ?? 'completed';
        } else if (body.state === 'open' && issue.state !== 'open') {
          issue.state = 'open';
          issue.closed_at = null;
          issue.state_reason = 'reopened';
        }
        issue.updated_at = at;
        request.reply(200, issueView(base, issue));
        return true;
      }
      return false;
    }

    // Git references
    const ref = /^\/git\/ref\/heads\/(.+)$/.exec(rest);
    if (ref !== null && method === 'GET') {
      const branch = ref[1] ?? '';
      const sha = refsOf(repo).get(branch);
      if (sha === undefined) request.reply(404, { message: 'Not Found', documentation_url: `${DOCS}/git/refs#get-a-reference` });
      else
        request.reply(200, {
          ref: `refs/heads/${branch}`,
          node_id: `REF_${branch}`,
          url: `${base}/repos/${repo}/git/refs/heads/${branch}`,
          object: { sha, type: 'commit', url: `${base}/repos/${repo}/git/commits/${sha}` },
        });
      return true;
    }
    const refsPath = /^\/git\/refs\/heads\/(.+)$/.exec(rest);
    if (refsPath !== null && method === 'DELETE') {
      const branch = refsPath[1] ?? '';
      if (!refsOf(repo).delete(branch))
        request.reply(422, { message: 'Reference does not exist', documentation_url: `${DOCS}/git/refs#delete-a-reference` });
      else request.reply(204, null);
      return true;
    }
    if (rest === '/git/refs' && method === 'POST') {
      const body = (await request.body()) as { ref?: unknown; sha?: unknown };
      const name =
        typeof body.ref === 'string' && /^refs\/heads\/[A-Za-z0-9._/-]+$/.test(body.ref) ? body.ref.slice('refs/heads/'.length) : null;
      if (name === null || typeof body.sha !== 'string') {
        request.reply(422, {
          message: "Reference name must start with 'refs/' and have at least two slashes.",
          documentation_url: `${DOCS}/git/refs#create-a-reference`,
        });
        return true;
      }
      if (refsOf(repo).has(name)) {
        request.reply(422, { message: 'Reference already exists', documentation_url: `${DOCS}/git/refs#create-a-reference` });
        return true;
      }
      if (!commits.has(body.sha)) {
        request.reply(422, { message: 'Object does not exist', documentation_url: `${DOCS}/git/refs#create-a-reference` });
        return true;
      }
      refsOf(repo).set(name, body.sha);
      request.reply(201, {
        ref: body.ref,
        node_id: `REF_${name}`,
        url: `${base}/repos/${repo}/git/refs/heads/${name}`,
        object: { sha: body.sha, type: 'commit', url: `${base}/repos/${repo}/git/commits/${body.sha}` },
      });
      return true;
    }

    // Contents
    const contents = /^\/contents\/(.+)$/.exec(rest);
    if (contents !== null) {
      const filePath = contents[1] ?? '';
      if (method === 'GET') {
        const branch = url.searchParams.get('ref') ?? defaultBranch;
        const content = head(repo, branch)?.files.get(filePath);
        if (content === undefined) {
          request.reply(404, { message: 'Not Found', documentation_url: `${DOCS}/repos/contents#get-repository-content` });
          return true;
        }
        const encoded = Buffer.from(content, 'utf8')
          .toString('base64')
          .replace(/(.{60})/g, '$1\n');
        const name = filePath.split('/').at(-1);
        request.reply(200, {
          type: 'file',
          encoding: 'base64',
          size: Buffer.byteLength(content),
          name,
          path: filePath,
          content: `${encoded}\n`,
          sha: blobSha(content),
          url: `${base}/repos/${repo}/contents/${filePath}?ref=${branch}`,
        });
        return true;
      }
      if (method === 'PUT') {
        const body = (await request.body()) as { message?: unknown; content?: unknown; sha?: unknown; branch?: unknown };
        if (typeof body.message !== 'string' || typeof body.content !== 'string') {
          request.reply(422, {
            message: 'Invalid request.\n\n"message" and "content" are required.',
            documentation_url: `${DOCS}/repos/contents#create-or-update-file-contents`,
          });
          return true;
        }
        const branch = typeof body.branch === 'string' ? body.branch : defaultBranch;
        const parent = head(repo, branch);
        if (parent === undefined) {
          request.reply(404, {
            message: `Branch ${branch} not found`,
            documentation_url: `${DOCS}/repos/contents#create-or-update-file-contents`,
          });
          return true;
        }
        const existing = parent.files.get(filePath);
        if (existing !== undefined && body.sha === undefined) {
          request.reply(422, {
            message: 'Invalid request.\n\n"sha" wasn\'t supplied.',
            documentation_url: `${DOCS}/repos/contents#create-or-update-file-contents`,
          });
          return true;
        }
        if (existing !== undefined && body.sha !== blobSha(existing)) {
          request.reply(409, {
            message: `${filePath} does not match ${String(body.sha)}`,
            documentation_url: `${DOCS}/repos/contents#create-or-update-file-contents`,
          });
          return true;
        }
        const content = Buffer.from(body.content, 'base64').toString('utf8');
        const files = new Map(parent.files);
        files.set(filePath, content);
        const sha = commit(repo, branch, files, body.message, parent.sha);
        request.reply(existing === undefined ? 201 : 200, {
          content: { name: filePath.split('/').at(-1), path: filePath, sha: blobSha(content), size: Buffer.byteLength(content) },
          commit: { sha, message: body.message, parents: [{ sha: parent.sha }] },
        });
        return true;
      }
      return false;
    }

    // Pull requests
    if (rest === '/pulls' && method === 'POST') {
      const body = (await request.body()) as { title?: unknown; head?: unknown; base?: unknown; body?: unknown; draft?: unknown };
      const headBranch = typeof body.head === 'string' ? body.head.replace(/^[^:]+:/, '') : '';
      const baseBranch = typeof body.base === 'string' ? body.base : '';
      const headCommit = head(repo, headBranch);
      const baseSha = refsOf(repo).get(baseBranch);
      if (typeof body.title !== 'string' || headCommit === undefined || baseSha === undefined) {
        request.reply(422, {
          message: 'Validation Failed',
          errors: [{ resource: 'PullRequest', code: 'invalid', field: headCommit === undefined ? 'head' : 'base' }],
          documentation_url: `${DOCS}/pulls/pulls#create-a-pull-request`,
        });
        return true;
      }
      if (headCommit.sha === baseSha) {
        request.reply(422, {
          message: 'Validation Failed',
          errors: [{ resource: 'PullRequest', code: 'custom', message: `No commits between ${baseBranch} and ${headBranch}` }],
        });
        return true;
      }
      if (issues.some((i) => i.repo === repo && i.state === 'open' && i.pull?.head === headBranch)) {
        request.reply(422, {
          message: 'Validation Failed',
          errors: [
            { resource: 'PullRequest', code: 'custom', message: `A pull request already exists for ${repo.split('/')[0]}:${headBranch}.` },
          ],
        });
        return true;
      }
      const at = tick();
      const pull: StoredIssue = {
        repo,
        number: nextNumber(repo),
        title: body.title,
        body: typeof body.body === 'string' ? body.body : '',
        labels: [],
        user: request.identity.user,
        state: 'open',
        state_reason: null,
        created_at: at,
        updated_at: at,
        closed_at: null,
        pull: { head: headBranch, base: baseBranch, headSha: headCommit.sha, draft: body.draft === true },
      };
      issues.push(pull);
      request.reply(201, pullView(base, pull));
      return true;
    }
    return false;
  }

  return {
    handle,
    issues: (repo) => issues.filter((i) => i.repo === repo && i.pull === undefined).map((i) => ({ ...i, labels: [...i.labels] })),
    pulls: (repo) => issues.filter((i) => i.repo === repo && i.pull !== undefined).map((i) => ({ ...i })),
    seedIssue(repo, fields) {
      const at = tick();
      const issue: StoredIssue = {
        repo,
        number: nextNumber(repo),
        labels: [],
        state: 'open',
        state_reason: null,
        created_at: at,
        updated_at: at,
        closed_at: null,
        ...fields,
      };
      issues.push(issue);
      return { ...issue };
    },
    seedFiles(repo, branch, files, message = 'seed') {
      const parent = head(repo, branch);
      const merged = new Map(parent?.files ?? []);
      for (const [path, content] of Object.entries(files)) merged.set(path, content);
      return commit(repo, branch, merged, message, parent?.sha ?? null);
    },
    branches: (repo) => [...refsOf(repo).keys()].sort(),
    files: (repo, branch) => Object.fromEntries(head(repo, branch)?.files ?? []),
    log(repo, branch) {
      const messages: string[] = [];
      for (let c = head(repo, branch); c !== undefined; c = c.parent === null ? undefined : commits.get(c.parent)) messages.push(c.message);
      return messages;
    },
  };
}
