/**
 * A small GitHub-REST-compatible server on 127.0.0.1 for the sticky-comment tests: just the issue
 * comment endpoints, as @octokit/rest calls them through `baseUrl`.
 *
 *   GET   /repos/{owner}/{repo}/issues/{n}/comments?per_page=&page=   (Link header: next/prev/first/last)
 *   POST  /repos/{owner}/{repo}/issues/{n}/comments                  201, 422 when the body is too long
 *   GET   /repos/{owner}/{repo}/issues/comments/{id}
 *   PATCH /repos/{owner}/{repo}/issues/comments/{id}
 *
 * Auth as GitHub does it: `Authorization: token …` or `Bearer …`; none → 401 "Requires authentication",
 * unknown → 401 "Bad credentials", a read-only token writing → 403 "Resource not accessible by
 * integration" (what a fork's pull_request token gets). Unknown repositories → 404.
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
  requests: { method: string; path: string; status: number }[];
  comments(repo: string, issue: number): StoredComment[];
  seed(repo: string, issue: number, body: string, user?: GitHubUser): StoredComment;
  stop(): Promise<void>;
}

export const ACTIONS_BOT: GitHubUser = { login: 'github-actions[bot]', id: 41898282, type: 'Bot' };
const HUMAN: GitHubUser = { login: 'octocat', id: 583231, type: 'User' };
/** GitHub's limit on issue comment bodies, in characters. */
const MAX_BODY = 65_536;

export async function startGitHubApi(options: GitHubApiOptions): Promise<GitHubApi> {
  const tokens = options.tokens ?? {
    ghs_test: { user: ACTIONS_BOT, write: true },
    ghs_readonly: { user: ACTIONS_BOT, write: false },
  };
  const repos = new Set(options.repos);
  const comments: StoredComment[] = [];
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

    // ---- extension endpoints (options.extensions) ----
    for (const extension of options.extensions ?? []) {
      const request: GitHubApiRequest = { method, url, identity, base: base(), now, hasRepo: (repo) => repos.has(repo), body: () => readBody(req), reply };
      if (await extension.handle(request)) return;
    }
    // ---- end of extension endpoints ----

    const list = /^\/repos\/([^/]+)\/([^/]+)\/issues\/(\d+)\/comments$/.exec(url.pathname);
    const single = /^\/repos\/([^/]+)\/([^/]+)\/issues\/comments\/(\d+)$/.exec(url.pathname);
    const match = list ?? single;
    if (match === null) return reply(404, { message: 'Not Found' });
    const repo = `${match[1]}/${match[2]}`;
    if (!repos.has(repo)) return reply(404, { message: 'Not Found' });
    const writing = method !== 'GET';
    if (writing && !identity.write) return reply(403, { message: 'Resource not accessible by integration', documentation_url: 'https://docs.github.com/rest/issues/comments' });

    if (list !== null && method === 'GET') {
      const issue = Number(list[3]);
      const perPage = Math.min(100, Math.max(1, Number(url.searchParams.get('per_page') ?? 30)));
      const page = Math.max(1, Number(url.searchParams.get('page') ?? 1));
      const all = comments.filter((comment) => comment.repo === repo && comment.issue === issue);
      const last = Math.max(1, Math.ceil(all.length / perPage));
      const link = (n: number, rel: string) => {
        const target = new URL(url.pathname, base());
        target.searchParams.set('per_page', String(perPage));
        target.searchParams.set('page', String(n));
        return `<${target.href}>; rel="${rel}"`;
      };
      const links: string[] = [];
      if (page > 1) links.push(link(page - 1, 'prev'), link(1, 'first'));
      if (page < last) links.push(link(page + 1, 'next'), link(last, 'last'));
      const slice = all.slice((page - 1) * perPage, page * perPage).map(view);
      return reply(200, slice, links.length > 0 ? { link: links.join(', ') } : {});
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
  return {
    url: base(),
    token,
    readOnlyToken,
    requests,
    comments: (repo, issue) => comments.filter((comment) => comment.repo === repo && comment.issue === issue).map((comment) => ({ ...comment })),
    seed: (repo, issue, body, user = HUMAN) => store(repo, issue, body, user),
    stop: () => new Promise<void>((resolve, reject) => {
      server.close((error) => (error ? reject(error) : resolve()));
      server.closeAllConnections(); // octokit's fetch keeps connections alive
    }),
  };
}

function validateBody(body: unknown): object | undefined {
  if (typeof body !== 'string' || body === '') {
    return { message: 'Invalid request.\n\nFor \'properties/body\', nil is not a string.', documentation_url: 'https://docs.github.com/rest/issues/comments' };
  }
  if ([...body].length > MAX_BODY) {
    return {
      message: 'Validation Failed',
      errors: [{ resource: 'IssueComment', code: 'custom', field: 'body', message: `body is too long (maximum is ${MAX_BODY} characters)` }],
      documentation_url: 'https://docs.github.com/rest/issues/comments#create-an-issue-comment',
    };
  }
  return undefined;
}
