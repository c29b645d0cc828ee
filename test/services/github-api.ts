/**
 * A small GitHub-REST-compatible server on 127.0.0.1 for the sticky-comment and review tests: the
 * endpoints @octokit/rest calls through `baseUrl` for comments, pull requests and labels.
 *
 *   GET    /user                                                     200 for a user's token; 403 "Resource
 *                                                                    not accessible by integration" for an
 *                                                                    installation token (github-actions[bot])
 *   GET    /repos/{owner}/{repo}/issues/{n}/comments?per_page=&page=  (Link header: next/prev/first/last)
 *   POST   /repos/{owner}/{repo}/issues/{n}/comments                 201, 422 when the body is too long
 *   GET    /repos/{owner}/{repo}/issues/comments/{id}
 *   PATCH  /repos/{owner}/{repo}/issues/comments/{id}
 *   GET    /repos/{owner}/{repo}/commits/{sha}/pulls                 the merged pull request whose merge commit
 *                                                                    it is, else open ones with that head
 *   GET    /repos/{owner}/{repo}/pulls?state=&head=&base=&sort=&direction=&per_page=&page=
 *                                                                    (head: `owner:branch` of the head repository)
 *   GET    /repos/{owner}/{repo}/pulls/{n}
 *   GET    /repos/{owner}/{repo}/issues/{n}/labels
 *   POST   /repos/{owner}/{repo}/issues/{n}/labels                   {labels: [...]} adds, 200 with all labels
 *   DELETE /repos/{owner}/{repo}/issues/{n}/labels/{name}            200 with the rest, 404 when absent
 *
 * Pull requests are made and merged by the test (`openPullRequest`, `pushHead`, `merge`): the server
 * knows no git. A pull request from a fork (`head.repo`: another `owner/repo`) shows that repository
 * as `head.repo` and its owner in `head.label` and `head.user`, as GitHub does. Auth as GitHub does
 * it: `Authorization: token …` or `Bearer …`; none → 401 "Requires authentication", unknown → 401
 * "Bad credentials", a read-only token writing → 403 "Resource not accessible by integration" (what a
 * fork's pull_request token gets). Unknown repositories → 404.
 *
 *   const github = await startGitHubApi({ repos: ['octo/dns'] });
 *   try { new Octokit({ auth: github.token, baseUrl: github.url }) … } finally { await github.stop(); }
 */
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface GitHubUser {
  login: string;
  id: number;
  type: 'User' | 'Bot';
}

export interface StoredComment {
  id: number;
  repo: string;
  issue: number;
  body: string;
  user: GitHubUser;
  created_at: string;
  updated_at: string;
}

export interface StoredPullRequest {
  number: number;
  repo: string;
  title: string;
  user: GitHubUser;
  /** `repo`: the head repository, when it is a fork (otherwise the pull request's own). */
  head: { ref: string; sha: string; repo?: string };
  base: { ref: string; sha: string };
  state: 'open' | 'closed';
  labels: string[];
  merged_at: string | null;
  merge_commit_sha: string | null;
  created_at: string;
  updated_at: string;
  closed_at: string | null;
}

export interface GitHubApiOptions {
  /** `owner/repo` names that exist. */
  repos: string[];
  /** Tokens and who they are; default: `ghs_test` → github-actions[bot] with write access. */
  tokens?: Record<string, { user: GitHubUser; write: boolean }>;
  /** More endpoints, tried (in order) before the built-in ones; see `GitHubApiExtension`. */
  extensions?: GitHubApiExtension[];
}

// ---- extension endpoints: more routes in files of their own (e.g. ./github-api-issues.ts) ----

/** One authenticated request, as an extension sees it. */
export interface GitHubApiRequest {
  method: string;
  url: URL;
  identity: { user: GitHubUser; write: boolean };
  /** The server's own address, for `url` fields. */
  base: string;
  /** The server's clock (ISO, one second later at each call). */
  now(): string;
  hasRepo(repo: string): boolean;
  /** The JSON body ({} when empty). */
  body(): Promise<unknown>;
  reply(status: number, body: unknown, headers?: Record<string, string>): void;
}

/** Handles the requests it knows (returns true once it has replied); the rest fall through. */
export interface GitHubApiExtension {
  handle(request: GitHubApiRequest): Promise<boolean>;
}
// ---- end of extension endpoints ----

export interface GitHubApi {
  url: string;
  /** The default write token (github-actions[bot]). */
  token: string;
  /** A read-only token, as fork pull requests get. */
  readOnlyToken: string;
  /** A person's token with write access (octocat), e.g. to add labels. */
  userToken: string;
  requests: { method: string; path: string; status: number }[];
  comments(repo: string, issue: number): StoredComment[];
  seed(repo: string, issue: number, body: string, user?: GitHubUser): StoredComment;
  /** Opens a pull request (its number is the next free issue number unless given). */
  openPullRequest(
    repo: string,
    pull: {
      head: { ref: string; sha: string; repo?: string };
      base: { ref: string; sha: string };
      title?: string;
      number?: number;
      user?: GitHubUser;
    },
  ): StoredPullRequest;
  /** A push to the pull request's branch. */
  pushHead(repo: string, number: number, sha: string): void;
  /** Merges it: closed, merged now, with this merge commit (what the base branch now points at). */
  merge(repo: string, number: number, mergeCommitSha: string): void;
  pullRequest(repo: string, number: number): StoredPullRequest | undefined;
  stop(): Promise<void>;
}

export const ACTIONS_BOT: GitHubUser = { login: 'github-actions[bot]', id: 41898282, type: 'Bot' };
export const HUMAN: GitHubUser = { login: 'octocat', id: 583231, type: 'User' };
/** GitHub's limit on issue comment bodies, in characters. */
const MAX_BODY = 65_536;

export async function startGitHubApi(options: GitHubApiOptions): Promise<GitHubApi> {
  const tokens = options.tokens ?? {
    ghs_test: { user: ACTIONS_BOT, write: true },
    ghs_readonly: { user: ACTIONS_BOT, write: false },
    ghp_octocat: { user: HUMAN, write: true },
  };
  const repos = new Set(options.repos);
  const comments: StoredComment[] = [];
  const pulls: StoredPullRequest[] = [];
  let nextIssue = 1;
  const requests: GitHubApi['requests'] = [];
  let nextId = 1000;
  let clock = Date.parse('2026-01-01T00:00:00Z');
  const now = () => new Date((clock += 1000)).toISOString().replace(/\.\d{3}Z$/, 'Z');

  const store = (repo: string, issue: number, body: string, user: GitHubUser): StoredComment => {
    const at = now();
    const comment = { id: nextId++, repo, issue, body, user, created_at: at, updated_at: at };
    comments.push(comment);
    return comment;
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => send(res, 500, { message: String(error) }));
  });

  const send = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void => {
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
    res.end(JSON.stringify(body));
  };

  const readBody = async (req: IncomingMessage): Promise<unknown> => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    return text === '' ? {} : JSON.parse(text);
  };

  const base = () => `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const view = (comment: StoredComment) => {
    const [owner, repo] = comment.repo.split('/');
    return {
      id: comment.id,
      node_id: `IC_${comment.id}`,
      url: `${base()}/repos/${comment.repo}/issues/comments/${comment.id}`,
      html_url: `https://github.test/${owner}/${repo}/pull/${comment.issue}#issuecomment-${comment.id}`,
      issue_url: `${base()}/repos/${comment.repo}/issues/${comment.issue}`,
      body: comment.body,
      user: comment.user,
      created_at: comment.created_at,
      updated_at: comment.updated_at,
      author_association: comment.user.type === 'Bot' ? 'NONE' : 'MEMBER',
    };
  };

  const labelView = (repo: string, name: string) => {
    const id = [...name].reduce((hash, char) => (hash * 31 + char.charCodeAt(0)) % 1_000_000_007, 7);
    return {
      id,
      node_id: `LA_${id}`,
      url: `${base()}/repos/${repo}/labels/${encodeURIComponent(name)}`,
      name,
      color: 'ededed',
      default: false,
      description: null,
    };
  };
  const userView = (user: GitHubUser) => ({ login: user.login, id: user.id, node_id: `U_${user.id}`, type: user.type, site_admin: false });
  const pullView = (pull: StoredPullRequest, single = false) => {
    const [owner, name] = pull.repo.split('/');
    const repoView = {
      id: 1,
      name,
      full_name: pull.repo,
      owner: { login: owner, type: 'Organization' },
      private: false,
      fork: false,
      default_branch: 'main',
    };
    const headRepo = pull.head.repo ?? pull.repo;
    const [headOwner = '', headName] = headRepo.split('/');
    const headRepoView =
      headRepo === pull.repo
        ? repoView
        : { id: 2, name: headName, full_name: headRepo, owner: { login: headOwner, type: 'User' }, private: false, fork: true };
    const view: Record<string, unknown> = {
      url: `${base()}/repos/${pull.repo}/pulls/${pull.number}`,
      id: 9_000_000 + pull.number,
      node_id: `PR_${pull.number}`,
      html_url: `https://github.test/${owner}/${name}/pull/${pull.number}`,
      number: pull.number,
      state: pull.state,
      locked: false,
      title: pull.title,
      user: userView(pull.user),
      body: null,
      labels: pull.labels.map((label) => labelView(pull.repo, label)),
      created_at: pull.created_at,
      updated_at: pull.updated_at,
      closed_at: pull.closed_at,
      merged_at: pull.merged_at,
      merge_commit_sha: pull.merge_commit_sha,
      draft: false,
      head: {
        label: `${headOwner}:${pull.head.ref}`,
        ref: pull.head.ref,
        sha: pull.head.sha,
        user: headRepo === pull.repo ? userView(pull.user) : { login: headOwner, type: 'User' },
        repo: headRepoView,
      },
      base: {
        label: `${owner}:${pull.base.ref}`,
        ref: pull.base.ref,
        sha: pull.base.sha,
        user: { login: owner, type: 'Organization' },
        repo: repoView,
      },
      author_association: 'MEMBER',
    };
    if (single)
      Object.assign(view, {
        merged: pull.merged_at !== null,
        mergeable: pull.state === 'open' ? true : null,
        comments: comments.filter((comment) => comment.repo === pull.repo && comment.issue === pull.number).length,
      });
    return view;
  };
  /** One page of `all` with GitHub's Link header. */
  const page = (url: URL, all: unknown[]): { slice: unknown[]; headers: Record<string, string> } => {
    const perPage = Math.min(100, Math.max(1, Number(url.searchParams.get('per_page') ?? 30)));
    const current = Math.max(1, Number(url.searchParams.get('page') ?? 1));
    const last = Math.max(1, Math.ceil(all.length / perPage));
    const link = (n: number, rel: string) => {
      const target = new URL(url.pathname + url.search, base());
      target.searchParams.set('per_page', String(perPage));
      target.searchParams.set('page', String(n));
      return `<${target.href}>; rel="${rel}"`;
    };
    const links: string[] = [];
    if (current > 1) links.push(link(current - 1, 'prev'), link(1, 'first'));
    if (current < last) links.push(link(current + 1, 'next'), link(last, 'last'));
    return { slice: all.slice((current - 1) * perPage, current * perPage), headers: links.length > 0 ? { link: links.join(', ') } : {} };
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', base());
    const method = req.method ?? 'GET';
    const reply = (status: number, body: unknown, headers?: Record<string, string>) => {
      requests.push({ method, path: url.pathname + url.search, status });
      send(res, status, body, headers);
    };

    const auth = req.headers.authorization ?? '';
    const token = /^(?:token|bearer)\s+(\S+)$/i.exec(auth)?.[1];
    if (token === undefined) return reply(401, { message: 'Requires authentication', documentation_url: 'https://docs.github.com/rest' });
    const identity = tokens[token];
    if (identity === undefined) return reply(401, { message: 'Bad credentials', documentation_url: 'https://docs.github.com/rest' });

    if (url.pathname === '/user' && method === 'GET') {
      // An installation token (what Actions' GITHUB_TOKEN is) has no user to show.
      if (identity.user.type === 'Bot')
        return reply(403, {
          message: 'Resource not accessible by integration',
          documentation_url: 'https://docs.github.com/rest/users/users#get-the-authenticated-user',
        });
      return reply(200, { ...userView(identity.user), name: identity.user.login });
    }

    // ---- extension endpoints (options.extensions) ----
    for (const extension of options.extensions ?? []) {
      const request: GitHubApiRequest = {
        method,
        url,
        identity,
        base: base(),
        now,
        hasRepo: (repo) => repos.has(repo),
        body: () => readBody(req),
        reply,
      };
      if (await extension.handle(request)) return;
    }
    // ---- end of extension endpoints ----

    const list = /^\/repos\/([^/]+)\/([^/]+)\/issues\/(\d+)\/comments$/.exec(url.pathname);
    const single = /^\/repos\/([^/]+)\/([^/]+)\/issues\/comments\/(\d+)$/.exec(url.pathname);
    const commitPulls = /^\/repos\/([^/]+)\/([^/]+)\/commits\/([0-9a-f]{7,64})\/pulls$/.exec(url.pathname);
    const pullList = /^\/repos\/([^/]+)\/([^/]+)\/pulls$/.exec(url.pathname);
    const pullSingle = /^\/repos\/([^/]+)\/([^/]+)\/pulls\/(\d+)$/.exec(url.pathname);
    const labels = /^\/repos\/([^/]+)\/([^/]+)\/issues\/(\d+)\/labels(?:\/([^/]+))?$/.exec(url.pathname);
    const match = list ?? single ?? commitPulls ?? pullList ?? pullSingle ?? labels;
    if (match === null) return reply(404, { message: 'Not Found' });
    const repo = `${match[1]}/${match[2]}`;
    if (!repos.has(repo)) return reply(404, { message: 'Not Found' });
    const writing = method !== 'GET';
    if (writing && !identity.write)
      return reply(403, {
        message: 'Resource not accessible by integration',
        documentation_url: 'https://docs.github.com/rest/issues/comments',
      });

    if (commitPulls !== null && method === 'GET') {
      // GitHub: the merged pull request that brought the commit in, else open pull requests containing it.
      const sha = commitPulls[3] ?? '';
      const mergedIn = pulls.filter((pull) => pull.repo === repo && pull.merge_commit_sha === sha);
      const found =
        mergedIn.length > 0 ? mergedIn : pulls.filter((pull) => pull.repo === repo && pull.state === 'open' && pull.head.sha === sha);
      const { slice, headers } = page(
        url,
        found.map((pull) => pullView(pull)),
      );
      return reply(200, slice, headers);
    }
    if (pullList !== null && method === 'GET') {
      const state = url.searchParams.get('state') ?? 'open';
      const baseRef = url.searchParams.get('base');
      // GitHub: `user:ref-name` (or `organization:ref-name`) of the head repository.
      const head = url.searchParams.get('head');
      const sort = url.searchParams.get('sort') ?? 'created';
      const direction = url.searchParams.get('direction') ?? (sort === 'created' ? 'desc' : 'asc');
      if (
        !['open', 'closed', 'all'].includes(state) ||
        !['created', 'updated', 'popularity', 'long-running'].includes(sort) ||
        !['asc', 'desc'].includes(direction)
      ) {
        return reply(422, {
          message: 'Validation Failed',
          documentation_url: 'https://docs.github.com/rest/pulls/pulls#list-pull-requests',
        });
      }
      const key = sort === 'updated' ? 'updated_at' : 'created_at';
      const found = pulls
        .filter(
          (pull) =>
            pull.repo === repo &&
            (state === 'all' || pull.state === state) &&
            (baseRef === null || pull.base.ref === baseRef) &&
            (head === null || `${(pull.head.repo ?? pull.repo).split('/')[0]}:${pull.head.ref}` === head),
        )
        .sort((a, b) => (a[key] < b[key] ? -1 : a[key] > b[key] ? 1 : a.number - b.number) * (direction === 'asc' ? 1 : -1));
      const { slice, headers } = page(
        url,
        found.map((pull) => pullView(pull)),
      );
      return reply(200, slice, headers);
    }
    if (pullSingle !== null && method === 'GET') {
      const pull = pulls.find((entry) => entry.repo === repo && entry.number === Number(pullSingle[3]));
      return pull === undefined ? reply(404, { message: 'Not Found' }) : reply(200, pullView(pull, true));
    }
    if (labels !== null) {
      const pull = pulls.find((entry) => entry.repo === repo && entry.number === Number(labels[3]));
      if (pull === undefined) return reply(404, { message: 'Not Found' });
      const name = labels[4] === undefined ? undefined : decodeURIComponent(labels[4]);
      if (method === 'GET' && name === undefined)
        return reply(
          200,
          pull.labels.map((label) => labelView(repo, label)),
        );
      if (method === 'POST' && name === undefined) {
        const added = ((await readBody(req)) as { labels?: unknown }).labels;
        if (!Array.isArray(added) || added.length === 0 || !added.every((label) => typeof label === 'string' && label !== '')) {
          return reply(422, {
            message: "Invalid request.\n\nFor 'properties/labels', nil is not an array.",
            documentation_url: 'https://docs.github.com/rest/issues/labels#add-labels-to-an-issue',
          });
        }
        for (const label of added as string[]) if (!pull.labels.includes(label)) pull.labels.push(label);
        pull.updated_at = now();
        return reply(
          200,
          pull.labels.map((label) => labelView(repo, label)),
        );
      }
      if (method === 'DELETE' && name !== undefined) {
        if (!pull.labels.includes(name))
          return reply(404, {
            message: 'Label does not exist',
            documentation_url: 'https://docs.github.com/rest/issues/labels#remove-a-label-from-an-issue',
          });
        pull.labels = pull.labels.filter((label) => label !== name);
        pull.updated_at = now();
        return reply(
          200,
          pull.labels.map((label) => labelView(repo, label)),
        );
      }
      return reply(404, { message: 'Not Found' });
    }

    if (list !== null && method === 'GET') {
      const issue = Number(list[3]);
      const all = comments.filter((comment) => comment.repo === repo && comment.issue === issue);
      const { slice, headers } = page(url, all.map(view));
      return reply(200, slice, headers);
    }
    if (list !== null && method === 'POST') {
      const body = ((await readBody(req)) as { body?: unknown }).body;
      const problem = validateBody(body);
      if (problem !== undefined) return reply(422, problem);
      return reply(201, view(store(repo, Number(list[3]), body as string, identity.user)));
    }
    if (single !== null) {
      const comment = comments.find((entry) => entry.repo === repo && entry.id === Number(single[3]));
      if (comment === undefined) return reply(404, { message: 'Not Found' });
      if (method === 'GET') return reply(200, view(comment));
      if (method === 'PATCH') {
        const body = ((await readBody(req)) as { body?: unknown }).body;
        const problem = validateBody(body);
        if (problem !== undefined) return reply(422, problem);
        comment.body = body as string;
        comment.updated_at = now();
        return reply(200, view(comment));
      }
    }
    return reply(404, { message: 'Not Found' });
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const [token = 'ghs_test'] = Object.keys(tokens);
  const readOnlyToken = Object.entries(tokens).find(([, identity]) => !identity.write)?.[0] ?? '';
  const userToken = Object.entries(tokens).find(([, identity]) => identity.write && identity.user.type === 'User')?.[0] ?? '';
  const findPull = (repo: string, number: number): StoredPullRequest => {
    const pull = pulls.find((entry) => entry.repo === repo && entry.number === number);
    if (pull === undefined) throw new Error(`no pull request ${repo}#${number}`);
    return pull;
  };
  return {
    url: base(),
    token,
    readOnlyToken,
    userToken,
    requests,
    openPullRequest: (repo, pull) => {
      const number =
        pull.number ?? Math.max(nextIssue, ...comments.filter((comment) => comment.repo === repo).map((comment) => comment.issue + 1));
      nextIssue = Math.max(nextIssue, number + 1);
      const at = now();
      const stored: StoredPullRequest = {
        number,
        repo,
        title: pull.title ?? `pull request ${number}`,
        user: pull.user ?? HUMAN,
        head: { ...pull.head },
        base: { ...pull.base },
        state: 'open',
        labels: [],
        merged_at: null,
        merge_commit_sha: null,
        created_at: at,
        updated_at: at,
        closed_at: null,
      };
      pulls.push(stored);
      return { ...stored };
    },
    pushHead: (repo, number, sha) => {
      const pull = findPull(repo, number);
      pull.head.sha = sha;
      pull.updated_at = now();
    },
    merge: (repo, number, mergeCommitSha) => {
      const pull = findPull(repo, number);
      const at = now();
      Object.assign(pull, { state: 'closed', merged_at: at, closed_at: at, updated_at: at, merge_commit_sha: mergeCommitSha });
    },
    pullRequest: (repo, number) => {
      const pull = pulls.find((entry) => entry.repo === repo && entry.number === number);
      return pull === undefined ? undefined : { ...pull, labels: [...pull.labels] };
    },
    comments: (repo, issue) =>
      comments.filter((comment) => comment.repo === repo && comment.issue === issue).map((comment) => ({ ...comment })),
    seed: (repo, issue, body, user = HUMAN) => store(repo, issue, body, user),
    stop: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections(); // octokit's fetch keeps connections alive
      }),
  };
}

function validateBody(body: unknown): object | undefined {
  if (typeof body !== 'string' || body === '') {
    return {
      message: "Invalid request.\n\nFor 'properties/body', nil is not a string.",
      documentation_url: 'https://docs.github.com/rest/issues/comments',
    };
  }
  if ([...body].length > MAX_BODY) {
    return {
      message: 'Validation Failed',
      errors: [
        { resource: 'IssueComment', code: 'custom', field: 'body', message: `body is too long (maximum is ${MAX_BODY} characters)` },
      ],
      documentation_url: 'https://docs.github.com/rest/issues/comments#create-an-issue-comment',
    };
  }
  return undefined;
}
