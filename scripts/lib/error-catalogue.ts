/**
 * Every error a user of dmarcops can meet, by its stable code: what it means, when it happens and
 * what to do. `DmarcopsError` takes its hint and exit code from here, `dmarcops errors` prints it,
 * and docs/errors.md is generated from it (`npm run docs`; test/errors.test.ts keeps them in step and
 * checks that every code thrown in scripts/ is listed here).
 *
 * Codes are kebab-case and never change meaning: users search for them and the ingest ledger stores
 * the report refusal codes as reasons. Report refusals share one vocabulary across the aggregate
 * parser, the TLS-RPT parser and unpacking (`empty`, `not-a-report` and `too-deep` mean the same
 * thing whichever raised them).
 *
 * Writing an entry (after Astro's error guide): the title says what happened, `when` says why it
 * happens, the hint says what to do, in the user's words, with the command or setting to change.
 * No "Oops", no blame. A `message` template is for errors raised in more than one place, so their
 * text is written once; other messages are written where they are raised, naming the file, value or
 * server answer at fault.
 *
 * This module is data: it imports nothing, so any layer may use it.
 */

export type ErrorArea =
  | 'usage'
  | 'domains'
  | 'git'
  | 'dns'
  | 'github'
  | 'impact'
  | 'reports'
  | 'report'
  | 'alerts'
  | 'site'
  | 'mta-sts'
  | 'sandbox'
  | 'system';

/** The sections of docs/errors.md, in order. */
export const ERROR_AREAS: Record<ErrorArea, { title: string; intro: string }> = {
  usage: { title: 'Command line', intro: 'The command cannot run as written. Exit code 2; nothing was read or changed.' },
  domains: { title: 'Domain files', intro: 'Reading and writing `domains/` and what is generated from it.' },
  git: { title: 'Git', intro: 'Reading domain files at another commit (`--base`) and the history of removed files.' },
  dns: { title: 'DNS: plan, comment and apply', intro: 'Providers, plan files and the gates of `dmarcops apply`.' },
  github: { title: 'GitHub', intro: 'The pull request comment, the review record, alert and digest issues, and the workflow environment.' },
  impact: { title: 'Impact preview', intro: '`dmarcops impact` and the impact section of `dmarcops comment --impact`.' },
  reports: { title: 'Reports: ingest, fetch and the dataset', intro: 'What stops a whole `ingest` or `fetch` run.' },
  report: {
    title: 'Report refusals',
    intro:
      'One input (a file, a mail message, an attachment) that holds no usable report. These do not stop a run: the input is counted ' +
      'as invalid, its ledger row records the code as the reason (`dmarcops ledger --outcome invalid`), and the run goes on. ' +
      'The same code means the same thing whether the aggregate (RUA) parser, the TLS-RPT parser or unpacking raised it.',
  },
  alerts: {
    title: 'Alerts and the weekly digest',
    intro: '`dmarcops alerts` (issues, declare-this-sender pull requests) and `dmarcops digest` (issue, mail).',
  },
  site: { title: 'Dashboard', intro: '`dmarcops site build` and `site serve`.' },
  'mta-sts': { title: 'MTA-STS', intro: '`dmarcops mta-sts build` and `mta-sts check`.' },
  sandbox: { title: 'Cloudflare sandbox', intro: '`dmarcops sandbox cloudflare`.' },
  system: { title: 'The system', intro: 'Errors from the operating system, and errors that are bugs.' },
};

export interface ErrorEntry {
  area: ErrorArea;
  /** What happened, as a short phrase (sentence case, no full stop). */
  title: string;
  /** When and why it happens. */
  when: string;
  /** What to do about it. */
  hint: string;
  /** 2 for usage errors; 1 when not given. */
  exitCode?: number;
  /** The message, for errors raised in more than one place (`catalogueError`). */
  message?: (args: never) => string;
}

const REFUSAL_HINT = 'Nothing to do unless the input should have been a report: the sender produced it this way.';

export const ERRORS = {
  // ---------------------------------------------------------------------------------------------
  // Command line
  usage: {
    area: 'usage',
    title: 'The command line is not right',
    when:
      'An unknown option, a missing argument, a value of the wrong form (`--max-deletes x`), two options that exclude each other, or an option given to the ' +
      'wrong action.',
    hint: '`dmarcops <command> --help` lists the options of a command, with their values.',
    exitCode: 2,
  },
  'unknown-command': {
    area: 'usage',
    title: 'No such command',
    when: 'The first argument is not one of the commands.',
    hint: '`dmarcops --help` lists the commands.',
    exitCode: 2,
  },

  // ---------------------------------------------------------------------------------------------
  // Domain files
  'domains-unreadable': {
    area: 'domains',
    title: 'The domains folder cannot be read',
    when: 'The folder given by `--domains` (default `domains`) does not exist or is not readable.',
    hint: 'Run from the repository root, or pass `--domains <dir>`; `dmarcops new <domain>` creates the folder.',
  },
  'domains-invalid': {
    area: 'domains',
    title: 'The domain files have errors',
    when: 'A command that needs valid domain files (record, codeowners, plan, apply, ingest, mta-sts…) found errors; they are printed above it.',
    hint: 'Run `dmarcops validate` and fix the errors it lists.',
  },
  'domain-not-found': {
    area: 'domains',
    title: 'No domain file for that domain',
    when: 'A domain named on the command line has no file in the domains folder.',
    hint: 'Check the spelling, or create the file with `dmarcops new <domain>`.',
    message: ({ name, dir }: { name: string; dir: string }) =>
      `no domain file for ${name} in ${dir}; create one with \`dmarcops new ${name}\``,
  },
  'domain-file-exists': {
    area: 'domains',
    title: 'The domain file exists already',
    when: '`dmarcops new` never overwrites a domain file.',
    hint: 'Edit the existing file, or delete it first if you mean to start over.',
  },
  'domain-name-invalid': {
    area: 'domains',
    title: 'Not a domain name dmarcops can create a file for',
    when: '`dmarcops new` checks the file it would write and found errors (usually the domain name itself).',
    hint: 'Give the domain as it is in DNS, e.g. `example.com` (no scheme, no `_dmarc.` prefix).',
  },
  'admins-missing': {
    area: 'domains',
    title: 'No admins in domains/_defaults.yaml',
    when: '`dmarcops codeowners` needs `admins:` to own new files and everything that is not a domain file.',
    hint: 'Add the GitHub team (with write access) that maintains this repository, e.g.\n  admins:\n    - "@your-org/dmarcops-admins"',
    message: ({ file }: { file: string }) =>
      `no \`admins:\` in ${file}: CODEOWNERS needs them to own new files and everything that is not a domain file`,
  },
  'codeowners-path-invalid': {
    area: 'domains',
    title: 'A file name that CODEOWNERS cannot hold',
    when: 'A domain file name holds a control character, which a CODEOWNERS line cannot express.',
    hint: 'Rename the file to `<domain>.yaml`.',
  },

  // ---------------------------------------------------------------------------------------------
  // Git
  'git-ref-invalid': {
    area: 'git',
    title: 'Not a git ref',
    when: '`--base` was given an empty value or one starting with `-`.',
    hint: 'Pass a branch, tag or commit, e.g. `--base origin/main`.',
  },
  'git-outside-repository': {
    area: 'git',
    title: 'The domains folder is outside the git repository',
    when: '`--base` reads the domain files from git, so the folder must be inside the repository.',
    hint: 'Run from inside the repository, with `--domains` pointing into it.',
  },
  'git-failed': {
    area: 'git',
    title: 'Git could not answer',
    when: 'Git is missing, this is not a repository, or the ref is not there (a shallow clone, a branch not fetched).',
    hint: 'Fetch the ref first (`git fetch origin main`); in GitHub Actions, check out with `fetch-depth: 0`.',
  },
  'base-invalid': {
    area: 'git',
    title: 'The domain files at --base have errors',
    when: '`plan --base` and `impact --base` read the domain files at the `--base` ref, and they do not validate there.',
    hint: "Fix the base branch first, or plan without `--base` (then no change counts as the pull request's own).",
  },
  'base-domains-uncommitted': {
    area: 'git',
    title: 'The --base-domains folder is not what its commit holds',
    when:
      '`plan --base-domains` records the HEAD commit of the checkout holding the folder as the base, so the folder must be exactly ' +
      'what that commit holds; it is not in a git checkout, or a file under it is changed, added or removed.',
    hint: 'Plan against a clean checkout of the base branch (`git status -- <folder>` shows nothing), or use `--base <ref>`.',
  },

  // ---------------------------------------------------------------------------------------------
  // DNS
  'dns-provider-unknown': {
    area: 'dns',
    title: 'Unknown DNS provider',
    when: '`dns.provider` names a provider dmarcops does not have.',
    hint: 'Use one of `cloudflare`, `powerdns`, `rfc2136` or `manual` (docs/dns.md).',
  },
  'dns-provider-config': {
    area: 'dns',
    title: 'The DNS provider is not configured',
    when: 'A credential or setting the provider needs is missing from the environment or malformed (the message names the variable, never its value).',
    hint: 'Set the variables docs/dns.md lists for the provider; in GitHub Actions, as secrets of the environment the job uses.',
  },
  'dns-provider-auth': {
    area: 'dns',
    title: 'The DNS provider refused the credentials',
    when: 'The API token, API key or TSIG key was rejected, or lacks a permission the request needs.',
    hint:
      'Check the credential and its permissions: Cloudflare tokens need Zone:Read and DNS:Read (DNS:Edit to apply); a TSIG key must be allowed to update the ' +
      'zone.',
  },
  'dns-zone-not-found': {
    area: 'dns',
    title: 'The zone is not at the provider',
    when: 'The provider has no zone of that name that these credentials can read.',
    hint: 'Check `dns.zone` in the domain file (or `_defaults.yaml`) and that the credentials can read that zone.',
  },
  'dns-zone-ambiguous': {
    area: 'dns',
    title: 'Several zones have that name',
    when: 'The Cloudflare token can read zones of the same name in more than one account.',
    hint: 'Set `CLOUDFLARE_ACCOUNT_ID` to the account that holds the zone.',
  },
  'dns-zone-changed': {
    area: 'dns',
    title: 'The zone changed since it was planned',
    when: 'Between reading and writing, a record dmarcops was about to replace or delete changed; nothing was written to that zone.',
    hint: 'Run the plan again, review it, and apply that.',
  },
  'dns-provider-failed': {
    area: 'dns',
    title: 'The DNS provider failed',
    when: 'The provider could not be reached, did not answer in time, answered with an error, or gave an answer dmarcops cannot read.',
    hint: "The message has the provider's answer. Retry later; `dmarcops apply` picks up where it stopped, one zone at a time.",
  },
  'dns-manual-zone': {
    area: 'dns',
    title: 'The zone is published by hand',
    when: 'A change falls in a zone whose provider is `manual`, which dmarcops never writes.',
    hint: 'Publish the records `dmarcops record <domain>` prints at your DNS host.',
  },
  'plan-file-unreadable': {
    area: 'dns',
    title: 'The plan file cannot be read',
    when: '`--plan` names a file that does not exist or cannot be read.',
    hint: 'Write it with `dmarcops plan --out plan.json` first; in a workflow, download the artifact before this step.',
    message: ({ file, reason }: { file: string; reason: string }) => `cannot read ${file}: ${reason}`,
  },
  'plan-file-invalid': {
    area: 'dns',
    title: 'Not a dmarcops plan',
    when: 'The `--plan` file is not JSON, or not the JSON `dmarcops plan --out` writes (docs/plan.md).',
    hint: 'Pass the file `dmarcops plan --out` wrote, unchanged.',
  },
  'apply-refused': {
    area: 'dns',
    title: 'Apply refused: nothing changed',
    when:
      'A gate refused the run before anything was written: the reviewed plan is stale, ' +
      'a risky change lacks --force or the review, too many deletions, or the run is not on the default branch.',
    hint: 'The message names the gate; docs/plan.md, "The gates", says what each needs.',
  },
  'apply-failed': {
    area: 'dns',
    title: 'Apply failed or did not converge',
    when: 'A provider failed while writing, or planning again after writing still found changes.',
    hint: 'The lines above say which zone. Fix the cause and run apply again: it picks up where this run stopped.',
  },
  'force-on-push': {
    area: 'dns',
    title: '--force on a push',
    when: "In GitHub Actions, a run triggered by a push may not use `--force`: the merged pull request's label decides.",
    hint: 'Add the `dmarcops:force` label to the pull request, or run the workflow by hand (workflow_dispatch) with `force`.',
    exitCode: 2,
  },
  'review-too-large': {
    area: 'dns',
    title: 'Too many changes to record for review',
    when: 'The review record in the pull request comment holds one identity per change, and this plan has more than fit.',
    hint: 'Split the pull request into smaller ones.',
  },

  // ---------------------------------------------------------------------------------------------
  // GitHub
  'github-token-missing': {
    area: 'github',
    title: 'GITHUB_TOKEN is not set',
    when: 'Commenting on a pull request, apply in GitHub Actions, alerts (issues and pull requests) and `digest --issue` call the GitHub API.',
    hint:
      "In the workflow: `env: GITHUB_TOKEN: ${{ github.token }}` with the job's `permissions:` (pull-requests: write to comment, read to apply; " +
      'issues: write for alerts and the digest).',
  },
  'github-repository-invalid': {
    area: 'github',
    title: 'GITHUB_REPOSITORY is not owner/repo',
    when: 'GitHub Actions sets it; outside Actions it must be set by hand.',
    hint: 'Set `GITHUB_REPOSITORY=owner/repo`.',
  },
  'github-token-refused': {
    area: 'github',
    title: 'GitHub refused the token',
    when: 'The API answered 401: the token is wrong or expired.',
    hint: "Use the workflow's `github.token`, or a fresh token.",
  },
  'github-permission': {
    area: 'github',
    title: 'The token lacks a permission',
    when: 'The API answered 403 to a request the job needs.',
    hint: 'Give the job the permission the message names, e.g. `permissions: pull-requests: read`.',
  },
  'github-api-failed': {
    area: 'github',
    title: 'The GitHub API failed',
    when: 'A GitHub API request failed for another reason (network, 5xx, rate limit).',
    hint: "Run the job again; the message has GitHub's answer.",
  },
  'pull-request-head-moved': {
    area: 'github',
    title: "The pull request's head is not the commit that was planned",
    when:
      '`comment --head` records a review only for the head the pull request has now; a commit was pushed after the plan was made ' +
      '(a fork pull request planned on workflow_run).',
    hint: 'Nothing to do: the push starts a new dns-plan run, and dns-plan-fork plans and records the new head.',
  },
  'pull-request-not-reviewable': {
    area: 'github',
    title: 'The pull request is not open against the default branch',
    when: '`comment --head` records a review only for an open pull request into the default branch (the only branch apply runs on).',
    hint: 'Check --pr; a pull request into another branch, or closed, is not planned for apply.',
  },
  'github-event-unreadable': {
    area: 'github',
    title: 'The workflow event cannot be read',
    when: 'GITHUB_EVENT_PATH is unset or points to a file that is not the event payload, or the payload lacks what is needed (the default branch).',
    hint: 'Run the step in GitHub Actions, or point GITHUB_EVENT_PATH at a saved event payload.',
  },
  'apply-not-default-branch': {
    area: 'github',
    title: 'Apply runs only on the default branch',
    when: 'In GitHub Actions, GITHUB_REF is not the default branch: what another branch holds was not merged after review.',
    hint: 'Merge the pull request and let the workflow run on the default branch; restrict the environment to it (docs/roles.md).',
  },
  'github-identity-mismatch': {
    area: 'github',
    title: 'The token writes as another identity than the one tracked',
    when:
      'Alerts and the digest recognise their issues by author. An issue just created was written by another login than the one whose issues count ' +
      '(a GitHub App token writes as `<app>[bot]`), so the next run would not find it and open it again; the run stopped after that issue.',
    hint: 'Set DMARCOPS_GITHUB_LOGIN to the login the message names, then close the duplicate issue if one was opened.',
  },
  'github-sha-invalid': {
    area: 'github',
    title: 'GITHUB_SHA is not the pushed commit',
    when: 'After a merge, apply looks for the pull request of the pushed commit, named by GITHUB_SHA.',
    hint: 'Run apply from the push workflow GitHub starts, which sets GITHUB_SHA.',
  },

  // ---------------------------------------------------------------------------------------------
  // Impact preview
  'impact-file-invalid': {
    area: 'impact',
    title: 'Not a dmarcops impact report',
    when: 'The `--impact` file of `dmarcops comment` is not JSON, or not the JSON `dmarcops impact --out` writes (another version, or edited).',
    hint: 'Pass the file `dmarcops impact --out` wrote in the same job, unchanged, with the same version of dmarcops.',
  },
  'impact-too-large': {
    area: 'impact',
    title: 'Too many sources to replay',
    when: 'The window holds more source groups (sender, source and authentication combinations) for the changed domains than one replay can hold.',
    hint: 'Replay a shorter window with `--days`.',
  },

  // ---------------------------------------------------------------------------------------------
  // Reports: a whole run
  'input-not-found': {
    area: 'reports',
    title: 'No such file or folder',
    when: 'A path given to `dmarcops ingest` does not exist or cannot be read.',
    hint: 'Check the path; folders are walked, mbox and Maildir are read as mailboxes.',
  },
  'dataset-locked': {
    area: 'reports',
    title: 'The dataset is in use',
    when: "Another dmarcops process holds the dataset's lock file (`<data>/.lock`).",
    hint: 'Wait for it to finish. If that process is gone (the message names it), the lock is taken over once it is stale, or remove the lock file.',
  },
  'imap-config': {
    area: 'reports',
    title: 'The IMAP settings are incomplete or malformed',
    when: 'A DMARCOPS_IMAP_* variable is missing or has a value dmarcops cannot use (the message names it).',
    hint: '`dmarcops fetch --help` lists the variables; set them as secrets in the workflow.',
  },
  'imap-connect': {
    area: 'reports',
    title: 'Cannot connect to the IMAP server',
    when: 'The host does not resolve, refuses the connection or does not answer.',
    hint: 'Check DMARCOPS_IMAP_HOST and DMARCOPS_IMAP_PORT, and that the server accepts connections from where this runs.',
  },
  'imap-tls': {
    area: 'reports',
    title: "The IMAP server's TLS failed",
    when: 'The certificate is not trusted or not valid for the host, or the TLS mode does not match the port.',
    hint: 'For a private CA set DMARCOPS_IMAP_CA_FILE; check DMARCOPS_IMAP_TLS (implicit on 993, starttls on 143).',
  },
  'imap-auth': {
    area: 'reports',
    title: 'The IMAP server refused the login',
    when: 'The user name or password is wrong, or the account needs an app password.',
    hint: 'Check DMARCOPS_IMAP_USER and DMARCOPS_IMAP_PASSWORD (an app password where the provider requires one).',
  },
  'imap-mailbox': {
    area: 'reports',
    title: 'A mailbox folder is missing or cannot be opened',
    when: 'The mailbox to read, or the Processed or Invalid folder, does not exist and cannot be created.',
    hint: 'Check DMARCOPS_IMAP_MAILBOX, DMARCOPS_IMAP_PROCESSED_FOLDER and DMARCOPS_IMAP_INVALID_FOLDER.',
  },
  'imap-uidvalidity': {
    area: 'reports',
    title: 'The mailbox changed under dmarcops',
    when: "The mailbox's UIDVALIDITY changed between reading and filing: its message numbers mean something else now.",
    hint: 'Run fetch again: messages already stored are recognised as duplicates.',
  },
  'imap-fetch': {
    area: 'reports',
    title: 'Reading the mailbox failed',
    when: 'Listing or downloading messages failed part-way.',
    hint: 'Run fetch again; nothing was moved, and reports already stored are recognised.',
  },
  'imap-move': {
    area: 'reports',
    title: 'Filing messages failed',
    when: 'Moving messages to Processed or Invalid failed after the run was committed.',
    hint: 'Run fetch again (or `fetch --file-only`): the committed ledger says where each message goes.',
  },

  // ---------------------------------------------------------------------------------------------
  // Report refusals (ledger reasons)
  empty: {
    area: 'report',
    title: 'Empty input',
    when: 'The input, attachment or decompressed payload has no bytes (or only whitespace).',
    hint: REFUSAL_HINT,
  },
  'not-a-report': {
    area: 'report',
    title: 'Not a report',
    when: 'The input holds no aggregate or TLS report: a mail without a report attachment, a document of another kind, a bounce.',
    hint: 'Nothing to do for mail that is not a report. If it is a report dmarcops should read, keep the input and report it.',
  },
  corrupt: {
    area: 'report',
    title: 'Damaged archive or message',
    when: 'A gzip or ZIP archive, or a MIME message, is truncated or malformed.',
    hint: REFUSAL_HINT,
  },
  'limit-size': {
    area: 'report',
    title: 'Too large once unpacked',
    when: 'A layer (attachment, gzip member, ZIP entry, message) is larger than `--max-payload-bytes` (default 256 MiB).',
    hint: 'Raise `--max-payload-bytes` if the report is genuine, then `dmarcops ingest --retry` the original.',
  },
  'limit-ratio': {
    area: 'report',
    title: 'Compressed too well to be a report',
    when: 'Past 1 MiB, a layer decompresses more than `--max-ratio` (default 200) times its size: the shape of a decompression bomb.',
    hint: 'Raise `--max-ratio` only for a sender you trust.',
  },
  'limit-depth': {
    area: 'report',
    title: 'Nested too deeply',
    when: 'More than five layers of attachments, archives and attached messages.',
    hint: REFUSAL_HINT,
  },
  'limit-parts': {
    area: 'report',
    title: 'Too many parts',
    when: 'More than 200 attachments, archive entries or parts in one input.',
    hint: REFUSAL_HINT,
  },
  'not-xml': { area: 'report', title: 'Not XML', when: 'The payload the aggregate parser was given is not XML text.', hint: REFUSAL_HINT },
  'dtd-forbidden': {
    area: 'report',
    title: 'The XML has a DOCTYPE',
    when: 'Aggregate reports (RFC 7489, appendix C) have no DTD; one is refused because entity tricks hide in it.',
    hint: REFUSAL_HINT,
  },
  'malformed-xml': {
    area: 'report',
    title: 'Malformed XML',
    when: 'The XML is not well-formed (the message has the line).',
    hint: REFUSAL_HINT,
  },
  'element-too-large': {
    area: 'report',
    title: 'An XML element is too large',
    when: 'One element or text node is larger than any genuine report has.',
    hint: REFUSAL_HINT,
  },
  'too-deep': {
    area: 'report',
    title: 'Nested too deeply',
    when: 'XML elements or JSON values are nested deeper than a report schema allows.',
    hint: REFUSAL_HINT,
  },
  truncated: {
    area: 'report',
    title: 'The report ends early',
    when: 'The XML stops before its closing tag (a cut-off attachment).',
    hint: REFUSAL_HINT,
  },
  'header-not-found': {
    area: 'report',
    title: 'No report header',
    when: 'The XML has no `<report_metadata>` or `<policy_published>`, so whose report it is cannot be told.',
    hint: REFUSAL_HINT,
  },
  'header-too-large': {
    area: 'report',
    title: 'The report header is too large',
    when:
      'The header (`report_metadata`, `policy_published`) holds more than 48 KiB of text once clipped. Genuine headers hold a few ' +
      "hundred bytes; the store repeats the header on each of the report's records, so a forged one is refused.",
    hint: REFUSAL_HINT,
  },
  'too-large': {
    area: 'report',
    title: 'The TLS report is too large',
    when: 'The TLS-RPT JSON is larger than the parser accepts.',
    hint: REFUSAL_HINT,
  },
  'corrupt-gzip': {
    area: 'report',
    title: 'Damaged gzip',
    when: "The TLS report's gzip stream is malformed or truncated.",
    hint: REFUSAL_HINT,
  },
  'invalid-utf8': {
    area: 'report',
    title: 'Not UTF-8',
    when: 'The TLS report is not valid UTF-8 text (RFC 8460 requires UTF-8 JSON).',
    hint: REFUSAL_HINT,
  },
  'malformed-json': {
    area: 'report',
    title: 'Malformed JSON',
    when: 'The TLS report is not well-formed JSON (the message has the line and column).',
    hint: REFUSAL_HINT,
  },
  'string-too-long': {
    area: 'report',
    title: 'A string is too long',
    when: 'A JSON string in the TLS report is longer than the parser accepts.',
    hint: REFUSAL_HINT,
  },
  'too-many-items': {
    area: 'report',
    title: 'Too many items',
    when: 'A JSON array or object in the TLS report has more entries than the parser accepts.',
    hint: REFUSAL_HINT,
  },
  'forbidden-key': {
    area: 'report',
    title: 'A forbidden JSON key',
    when: 'The TLS report uses a key such as `__proto__` that could alter objects built from it.',
    hint: REFUSAL_HINT,
  },
  'unsupported-version': {
    area: 'report',
    title: 'Unsupported report version',
    when: 'The TLS report declares a version other than the RFC 8460 one.',
    hint: REFUSAL_HINT,
  },
  'invalid-field': {
    area: 'report',
    title: 'A field is missing or of the wrong type',
    when: 'A required TLS-RPT field is missing, or has the wrong type (the message has the JSON path).',
    hint: REFUSAL_HINT,
  },
  'invalid-date': {
    area: 'report',
    title: 'An invalid date',
    when: 'A TLS-RPT date-range is not an RFC 3339 date-time, or ends before it starts.',
    hint: REFUSAL_HINT,
  },
  'invalid-count': {
    area: 'report',
    title: 'An invalid count',
    when: 'A TLS-RPT session count is negative, fractional or beyond what can be stored.',
    hint: REFUSAL_HINT,
  },
  'rows-too-large': {
    area: 'report',
    title: 'The TLS report would take too much room once stored',
    when:
      "Report and policy values repeat on each row of `tls/`: one row would be over 64 KiB, or all rows over eight times the report's JSON " +
      '(at least 64 MiB). The store refused it before writing anything.',
    hint: REFUSAL_HINT,
  },

  // ---------------------------------------------------------------------------------------------
  // Alerts and the digest
  'alerts-config-invalid': {
    area: 'alerts',
    title: 'The alerts config has errors',
    when: '`domains/_alerts.yaml` (or the `--config` file) does not match its schema; the findings are printed above it.',
    hint: 'Run `dmarcops validate`, which checks the alerts config with the domain files, and fix what it lists (docs/alerts.md).',
  },
  'declare-sender-disabled': {
    area: 'alerts',
    title: 'Declare-this-sender pull requests are not enabled',
    when: '`dmarcops alerts --propose-senders` was run, and the alerts config does not say `declare_sender: { enabled: true }`.',
    hint: 'Set `declare_sender.enabled: true` in domains/_alerts.yaml (docs/alerts.md), or run without `--propose-senders`.',
  },
  'declare-sender-failed': {
    area: 'alerts',
    title: 'The sender could not be added to the domain file',
    when:
      'The domain file on the base branch is not a YAML mapping, or is not a file, or would not load with the new `senders:` entry; ' +
      'no pull request was opened.',
    hint: 'Fix the domain file on the base branch (`dmarcops validate`), or declare the sender by hand.',
  },
  'smtp-config': {
    area: 'alerts',
    title: 'The mail settings are incomplete or malformed',
    when: '`dmarcops digest --mail` with DMARCOPS_SMTP_HOST set, and another DMARCOPS_SMTP_* variable missing or of the wrong form (the message names it).',
    hint: '`dmarcops digest --help` lists the variables; set them as secrets of the digest workflow (docs/alerts.md).',
  },
  'smtp-failed': {
    area: 'alerts',
    title: 'Mailing the digest failed',
    when: 'The SMTP server could not be reached, its certificate was not trusted, it refused the login, or it refused the message.',
    hint:
      "The message has the server's answer. Check DMARCOPS_SMTP_HOST, DMARCOPS_SMTP_PORT and DMARCOPS_SMTP_TLS, the login, and " +
      'DMARCOPS_SMTP_CA_FILE for a private CA; `digest --mail --dry-run` checks the settings without sending.',
  },
  'smtp-recipients-refused': {
    area: 'alerts',
    title: 'The mail server refused recipients',
    when: 'The SMTP server took the digest for some recipients and refused others (or all of them).',
    hint: 'Check DMARCOPS_SMTP_TO, and that the server relays to those addresses for DMARCOPS_SMTP_USER.',
  },

  // ---------------------------------------------------------------------------------------------
  // Dashboard
  'site-over-budget': {
    area: 'site',
    title: 'A page is over the weight budget',
    when:
      'After building, a page with its scripts, styles and images weighs more than ' +
      '300 KiB gzip-compressed. The site is built; the table says what is heavy.',
    hint: 'Make the page lighter (move data behind a lazily loaded chunk), or look at what grew in the last change.',
  },
  'site-build-failed': {
    area: 'site',
    title: 'The Astro build failed',
    when: 'Astro could not render a page: a change under site/, or data the pages do not expect.',
    hint: "Astro's message above names the page. `--debug` prints the stack. If site/ is unchanged, it is a bug: report it.",
  },
  'site-out-unsafe': {
    area: 'site',
    title: 'Refusing to build into that folder',
    when: 'The build empties `--out` first, and that folder holds the Astro project, the dataset, the domain files or the current folder.',
    hint: 'Pass an output folder of its own, e.g. `--out site/dist`.',
  },
  'site-url-invalid': {
    area: 'site',
    title: 'The site URL is not an absolute http(s) URL',
    when: "`--site-url` or DMARCOPS_SITE_URL must be the deployed site's full address.",
    hint: 'E.g. `https://example.github.io/dmarc/`.',
  },
  'site-not-built': {
    area: 'site',
    title: 'No built site',
    when: '`dmarcops site serve` serves the output of `site build`, and the folder is not there.',
    hint: 'Run `dmarcops site build` first (with the same `--out`).',
  },
  'port-in-use': {
    area: 'site',
    title: 'The port is in use',
    when: 'Another program listens on the port `site serve` or `sandbox` was asked to use.',
    hint: 'Pass another `--port`; 0 picks a free one.',
  },

  // ---------------------------------------------------------------------------------------------
  // MTA-STS
  'mta-sts-not-configured': {
    area: 'mta-sts',
    title: 'The domain has no mta_sts',
    when: '`dmarcops mta-sts check <domain>` was given a domain whose file has no `mta_sts:` key.',
    hint: 'Add `mta_sts:` to the domain file (docs/mta-sts.md), or leave the domain out.',
    message: ({ name, file }: { name: string; file: string }) => `${name} has no mta_sts in ${file}: nothing to check`,
  },

  // ---------------------------------------------------------------------------------------------
  // Sandbox
  'sandbox-zones-invalid': {
    area: 'sandbox',
    title: 'The zones file is not usable',
    when: 'The `--zones` file cannot be read, is not JSON, or a zone or record in it is malformed (the message has the place).',
    hint: 'Start from docs/sandbox-zones.json.',
    exitCode: 2,
  },

  // ---------------------------------------------------------------------------------------------
  // System
  'system-error': {
    area: 'system',
    title: 'The operating system refused',
    when: 'A file or network operation failed: no space left, no permission, a file that vanished, a refused connection.',
    hint: "The message has the operating system's error code (ENOSPC, EACCES…) and the path; `--debug` prints where it happened.",
  },
} satisfies Record<string, ErrorEntry>;

export type ErrorCode = keyof typeof ERRORS;

/** The codes whose entry has a message template. */
export type TemplatedCode = { [C in ErrorCode]: (typeof ERRORS)[C] extends { message: (args: never) => string } ? C : never }[ErrorCode];

/** What a template's message names. */
export type MessageArgs<C extends TemplatedCode> = (typeof ERRORS)[C] extends { message: (args: infer A) => string } ? A : never;

export function errorHint(code: ErrorCode): string {
  return ERRORS[code].hint;
}

/** Where a user reports a bug: printed by the exit path for errors that are not `DmarcopsError`s. */
export const BUG_REPORT =
  'this is a bug in dmarcops, not something you did: please report it to the repository your copy was made from (CONTRIBUTING.md, "Reporting a bug"), ' +
  'with the command and what `--debug` prints';
