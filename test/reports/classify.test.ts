import { describe, expect, it } from 'vitest';
import type { DomainPolicy, Sender } from '../../scripts/policy/model.ts';
import { arcEvidence, classify, matchSender, policyForRow, summarizeByCategory } from '../../scripts/reports/classify.ts';
import type { ClassifyContext, ClassifyRow } from '../../scripts/reports/classify.ts';

// ---------------------------------------------------------------------------------------------
// Fixtures: example.com declares Google Workspace, Amazon SES, Mailchimp and an on-premise relay.

const google: Sender = {
  name: 'Google Workspace',
  ips: [],
  spfIncludes: ['_spf.google.com'],
  dkim: [{ domain: 'example.com', selector: 'google' }],
};
const ses: Sender = { name: 'Amazon SES', ips: [], spfIncludes: ['amazonses.com'], dkim: [{ domain: 'amazonses.com' }] };
const mailchimp: Sender = {
  name: 'Mailchimp',
  ips: [],
  spfIncludes: ['servers.mcsv.net'],
  dkim: [{ domain: 'example.com', selector: 'k1' }],
};
const relay: Sender = { name: 'Office relay', ips: ['198.51.100.0/24', '2001:db8:1234::/48', '203.0.113.7'], spfIncludes: [], dkim: [] };
const wildcard: Sender = { name: 'Helpdesk', ips: [], spfIncludes: [], dkim: [{ domain: 'help.example.com' }] };

function policy(senders: Sender[], over: Partial<DomainPolicy> = {}): DomainPolicy {
  return {
    domain: 'example.com',
    p: 'reject',
    adkim: 'r',
    aspf: 'r',
    testing: false,
    rua: [],
    dns: { provider: 'manual', zone: 'example.com', ttl: 300 },
    owners: [],
    senders,
    file: 'domains/example.com.yaml',
    ...over,
  };
}

const examplePolicy = policy([google, ses, mailchimp, relay, wildcard]);

const FORWARDERS = new Set(['google.com', 'outlook.com']);
const FORWARDER_ASNS = new Set([8075]);
const isKnownForwarder = (base: string | null, asn: number | null): boolean =>
  (base !== null && FORWARDERS.has(base)) || (asn !== null && FORWARDER_ASNS.has(asn));

const context: ClassifyContext = { policy: examplePolicy, isKnownForwarder };

/** A failing row (no alignment) from an unknown host, to be specialised. */
function row(over: Partial<ClassifyRow> = {}): ClassifyRow {
  return {
    dmarc_pass: false,
    dkim_aligned: false,
    spf_aligned: false,
    dkim_results: [],
    spf_results: [],
    source_ip: '192.0.2.55',
    source_base_domain: null,
    source_name: null,
    source_type: null,
    source_asn: null,
    override_reasons: [],
    header_from: 'example.com',
    envelope_from: 'example.com',
    policy_domain: 'example.com',
    policy_adkim: 'r',
    policy_aspf: 'r',
    message_count: 1,
    ...over,
  };
}

const dkim = (domain: string, selector: string | null, result = 'pass') => ({ domain, selector, result, human_result: null });
const spf = (domain: string, result = 'pass', scope: string | null = 'mfrom') => ({ domain, scope, result, human_result: null });

// ---------------------------------------------------------------------------------------------

describe('classify: one row per category and edge case', () => {
  const cases: { name: string; row: ClassifyRow; ctx?: ClassifyContext; category: string; sender?: string; evidence?: string[] }[] = [
    {
      name: 'Google Workspace, DKIM and SPF aligned → compliant',
      row: row({
        dmarc_pass: true,
        dkim_aligned: true,
        spf_aligned: true,
        dkim_results: [dkim('example.com', 'google')],
        spf_results: [spf('example.com')],
        source_ip: '209.85.220.41',
        source_base_domain: 'google.com',
        source_name: 'Google',
      }),
      category: 'compliant',
      evidence: ['dkim-aligned', 'spf-aligned'],
    },
    {
      name: 'declared sender passing → compliant, not authorised-failing',
      row: row({ dmarc_pass: true, spf_aligned: true, source_ip: '198.51.100.20', spf_results: [spf('example.com')] }),
      category: 'compliant',
      evidence: ['spf-aligned'],
    },
    {
      name: 'undeclared service passing (someone set up DKIM) → compliant',
      row: row({ dmarc_pass: true, dkim_aligned: true, dkim_results: [dkim('example.com', 's1')], source_name: 'SendGrid' }),
      category: 'compliant',
    },
    {
      name: 'mailing list broke our signature, ARC pass in the override comment → forwarded',
      row: row({
        dkim_results: [dkim('example.com', 'google', 'fail'), dkim('lists.example.org', 'ml', 'pass')],
        spf_results: [spf('lists.example.org')],
        envelope_from: 'lists.example.org',
        source_ip: '192.0.2.200',
        source_base_domain: 'example.org',
        override_reasons: [{ type: 'local_policy', comment: 'arc=pass as.1.lists.example.org=pass ams.1.lists.example.org=pass' }],
      }),
      category: 'forwarded',
      evidence: ['dkim-aligned-signature-failed', 'arc:arc=pass as.1.lists.example.org=pass ams.1.lists.example.org=pass'],
    },
    {
      name: 'Gmail forwarding: our signature broken, SPF fails, known forwarder by base domain → forwarded',
      row: row({
        dkim_results: [dkim('example.com', 'google', 'fail')],
        spf_results: [spf('example.com', 'softfail')],
        source_ip: '209.85.220.69',
        source_base_domain: 'google.com',
        source_name: 'Google',
      }),
      category: 'forwarded',
      evidence: ['dkim-aligned-signature-failed', 'known-forwarder:google.com'],
    },
    {
      name: 'known forwarder by ASN only (no PTR) → forwarded',
      row: row({
        dkim_results: [dkim('example.com', 'selector1', 'fail')],
        spf_results: [spf('example.com', 'fail')],
        source_ip: '40.107.1.1',
        source_asn: 8075n,
      }),
      category: 'forwarded',
      evidence: ['dkim-aligned-signature-failed', 'known-forwarder:AS8075'],
    },
    {
      name: 'override type mailing_list → forwarded',
      row: row({ dkim_results: [dkim('example.com', 'k1', 'fail')], override_reasons: [{ type: 'mailing_list', comment: null }] }),
      category: 'forwarded',
      evidence: ['dkim-aligned-signature-failed', 'override:mailing_list'],
    },
    {
      name: 'inconsistent row: DKIM aligned pass but dmarc_pass false, via forwarder → forwarded',
      row: row({ dmarc_pass: false, dkim_aligned: true, dkim_results: [dkim('example.com', 'google')], source_base_domain: 'outlook.com' }),
      category: 'forwarded',
      evidence: ['dkim-aligned', 'known-forwarder:outlook.com'],
    },
    {
      name: 'forwarder without any DKIM signature → unauthorised',
      row: row({
        spf_results: [spf('example.com', 'fail')],
        source_ip: '209.85.220.70',
        source_base_domain: 'google.com',
        source_name: 'Google',
      }),
      category: 'unauthorised',
      evidence: ['no-declared-sender', 'source:Google'],
    },
    {
      name: 'forwarder carrying only a third party signature → unauthorised',
      row: row({ dkim_results: [dkim('gmail.com', '20230601')], source_base_domain: 'google.com' }),
      category: 'unauthorised',
    },
    {
      name: 'ARC comment but arc=fail → not forwarded',
      row: row({ dkim_results: [dkim('example.com', 'x', 'fail')], override_reasons: [{ type: 'local_policy', comment: 'arc=fail' }] }),
      category: 'unauthorised',
    },
    {
      name: 'SES without custom MAIL FROM or DKIM → authorised-failing by SPF include',
      row: row({
        dkim_results: [dkim('amazonses.com', 'ug7nbtf4gccmlpwj322ax3p6ow6yfsug')],
        spf_results: [spf('eu-west-1.amazonses.com')],
        envelope_from: 'eu-west-1.amazonses.com',
        source_ip: '54.240.4.1',
        source_base_domain: 'amazonses.com',
        source_name: 'Amazon SES',
      }),
      category: 'authorised-failing',
      sender: 'Amazon SES',
      evidence: ['dkim:d=amazonses.com s=ug7nbtf4gccmlpwj322ax3p6ow6yfsug pass', 'spf-include:eu-west-1.amazonses.com under amazonses.com'],
    },
    {
      name: 'relay inside an IPv4 CIDR → authorised-failing',
      row: row({ source_ip: '198.51.100.200', spf_results: [spf('example.com', 'fail')] }),
      category: 'authorised-failing',
      sender: 'Office relay',
      evidence: ['ip:198.51.100.200 in 198.51.100.0/24'],
    },
    {
      name: 'relay inside an IPv6 CIDR (non-canonical spelling) → authorised-failing',
      row: row({ source_ip: '2001:DB8:1234:0:0:0:0:25' }),
      category: 'authorised-failing',
      sender: 'Office relay',
      evidence: ['ip:2001:db8:1234::25 in 2001:db8:1234::/48'],
    },
    {
      name: 'single declared address, IPv4-mapped source → authorised-failing',
      row: row({ source_ip: '::ffff:203.0.113.7' }),
      category: 'authorised-failing',
      sender: 'Office relay',
    },
    {
      name: 'IPv6 just outside the /48 → unauthorised',
      row: row({ source_ip: '2001:db8:1235::25' }),
      category: 'unauthorised',
    },
    {
      name: 'DKIM entry without selector matches any selector (failing signature) → authorised-failing',
      row: row({ header_from: 'example.com', dkim_results: [dkim('help.example.com', 'zendesk2', 'fail')], policy_adkim: 's' }),
      category: 'authorised-failing',
      sender: 'Helpdesk',
      evidence: ['dkim:d=help.example.com s=zendesk2 fail'],
    },
    {
      name: 'DKIM entry with selector does not match another selector → unauthorised',
      row: row({ dkim_results: [dkim('example.com', 'k9', 'fail')], policy_adkim: 's', header_from: 'news.example.com' }),
      category: 'unauthorised',
    },
    {
      name: 'multiple signatures, only one (the declared one) from our domain → authorised-failing by selector',
      row: row({
        dkim_results: [dkim('mcsv.net', 'k2'), dkim('mcdlv.net', 'k3'), dkim('example.com', 'k1', 'fail')],
        spf_results: [spf('mail123.mcsv.net')],
        envelope_from: 'mail123.mcsv.net',
        source_ip: '205.201.131.1',
      }),
      category: 'authorised-failing',
      sender: 'Mailchimp',
      // mail123.mcsv.net is not under the include servers.mcsv.net: the selector is the evidence.
      evidence: ['dkim:d=example.com s=k1 fail'],
    },
    {
      name: 'envelope under an include but SPF failing is no evidence (spoofable) → unauthorised',
      row: row({ spf_results: [spf('bounce.amazonses.com', 'fail')], envelope_from: 'bounce.amazonses.com' }),
      category: 'unauthorised',
    },
    {
      name: 'HELO-scoped pass under an include is no evidence → unauthorised',
      row: row({ spf_results: [spf('a1-2.smtp-out.amazonses.com', 'pass', 'helo')] }),
      category: 'unauthorised',
    },
    {
      name: 'missing domain file → no senders: relay IP is unauthorised',
      row: row({ source_ip: '198.51.100.200' }),
      ctx: { policy: undefined, isKnownForwarder },
      category: 'unauthorised',
      evidence: ['no-domain-file'],
    },
    {
      name: 'missing domain file still recognises forwarding',
      row: row({ dkim_results: [dkim('example.com', 'google', 'fail')], source_base_domain: 'google.com' }),
      ctx: { policy: undefined, isKnownForwarder },
      category: 'forwarded',
    },
    {
      name: 'no forwarder lookup and no ARC evidence → unauthorised',
      row: row({ dkim_results: [dkim('example.com', 'google', 'fail')], source_base_domain: 'google.com' }),
      ctx: { policy: undefined },
      category: 'unauthorised',
    },
    {
      name: 'no forwarder lookup, ARC evidence alone suffices',
      row: row({ dkim_results: [dkim('example.com', 'google', 'fail')], override_reasons: [{ type: 'trusted_forwarder', comment: '' }] }),
      ctx: { policy: undefined },
      category: 'forwarded',
    },
    {
      name: 'plain spoofing from a botnet → unauthorised',
      row: row({ source_ip: '185.220.101.1', spf_results: [spf('example.com', 'fail')], envelope_from: 'example.com' }),
      category: 'unauthorised',
      evidence: ['no-declared-sender'],
    },
  ];

  for (const c of cases) {
    it(c.name, () => {
      const result = classify(c.row, c.ctx ?? context);
      expect(result.category).toBe(c.category);
      if (c.sender !== undefined) expect(result.sender).toBe(c.sender);
      if (c.evidence !== undefined) {
        if (c.category === 'authorised-failing') expect(result.evidence).toEqual(expect.arrayContaining(c.evidence));
        else expect(result.evidence).toEqual(c.evidence);
      }
      if (c.category !== 'authorised-failing') expect(result.sender).toBeUndefined();
    });
  }
});

describe('matchSender', () => {
  it('returns null without senders, and the evidence that matched', () => {
    expect(matchSender(row({ source_ip: '198.51.100.9' }), [])).toBeNull();
    const match = matchSender(row({ source_ip: '198.51.100.9' }), [google, relay]);
    expect(match?.sender.name).toBe('Office relay');
    expect(match?.evidence).toEqual([{ type: 'ip', ip: '198.51.100.9', range: '198.51.100.0/24' }]);
  });

  it('matches DKIM domain and selector case-insensitively, any result', () => {
    const match = matchSender(row({ dkim_results: [dkim('Example.COM', 'Google', 'temperror')] }), [google]);
    expect(match?.evidence).toEqual([
      {
        type: 'dkim',
        domain: 'example.com',
        selector: 'google',
        result: 'temperror',
        entry: { domain: 'example.com', selector: 'google' },
      },
    ]);
  });

  it('prefers the strongest evidence when several senders match', () => {
    // A forged signature claims Google's selector, but the IP is the relay's.
    const r = row({ source_ip: '198.51.100.1', dkim_results: [dkim('example.com', 'google', 'fail')] });
    expect(matchSender(r, [google, relay])?.sender.name).toBe('Office relay');
    // Equal strength: declaration order.
    const both = row({ dkim_results: [dkim('example.com', 'google', 'fail'), dkim('example.com', 'k1', 'fail')] });
    expect(matchSender(both, [mailchimp, google])?.sender.name).toBe('Mailchimp');
  });

  it('ignores unparsable ips entries and null fields', () => {
    const odd: Sender = { name: 'Odd', ips: ['not-an-ip', '192.0.2.0/99', '192.0.2.0/x'], spfIncludes: [], dkim: [] };
    expect(matchSender(row({ source_ip: '192.0.2.1' }), [odd])).toBeNull();
    expect(matchSender({ source_ip: null, dkim_results: null, spf_results: null }, [odd, google, relay])).toBeNull();
  });

  it('an include matches the domain itself and subdomains, not lookalikes', () => {
    expect(matchSender(row({ spf_results: [spf('amazonses.com')] }), [ses])?.evidence).toEqual([
      { type: 'spf-include', domain: 'amazonses.com', include: 'amazonses.com' },
    ]);
    expect(matchSender(row({ spf_results: [spf('notamazonses.com')] }), [ses])).toBeNull();
    expect(matchSender(row({ spf_results: [spf('mail.example.com', 'pass', null)] }), [google])).toBeNull();
  });
});

describe('hints for authorised-failing', () => {
  it('no signature aligned with From: sign with d=<domain>, and use a custom MAIL FROM', () => {
    const result = classify(
      row({
        dkim_results: [dkim('amazonses.com', 'abc')],
        spf_results: [spf('eu-west-1.amazonses.com')],
        envelope_from: 'eu-west-1.amazonses.com',
      }),
      context,
    );
    expect(result.category).toBe('authorised-failing');
    expect(result.hint).toContain('sign with d=example.com');
    expect(result.hint).toContain('d=amazonses.com only');
    expect(result.hint).toContain('use a Return-Path under example.com (custom MAIL FROM)');
  });

  it('no DKIM at all', () => {
    const result = classify(row({ source_ip: '198.51.100.3' }), context);
    expect(result.hint).toContain('it sends no DKIM signature');
    expect(result.hint).toContain('sign with d=example.com');
  });

  it('aligned signature failing: check the selector public key', () => {
    const result = classify(row({ dkim_results: [dkim('example.com', 'k1', 'fail')], source_ip: '205.201.131.1' }), context);
    expect(result.sender).toBe('Mailchimp');
    expect(result.hint).toContain("check the selector's public key at k1._domainkey.example.com");
    expect(result.hint).not.toContain('sign with');
  });

  it('SPF failing for the From domain: add the include', () => {
    const result = classify(
      row({
        dkim_results: [dkim('example.com', 'google', 'fail')],
        spf_results: [spf('example.com', 'softfail')],
        source_ip: '209.85.1.1',
      }),
      { policy: examplePolicy },
    );
    expect(result.category).toBe('authorised-failing');
    expect(result.hint).toContain('add include:_spf.google.com to the SPF record of example.com');
  });

  it('unauthorised mail from a named service suggests declaring it', () => {
    const result = classify(row({ source_name: 'SendGrid', source_ip: '167.89.1.1' }), context);
    expect(result.category).toBe('unauthorised');
    expect(result.hint).toContain('declare it in senders: of domains/example.com.yaml');
    expect(classify(row(), context).hint).toBeUndefined();
  });

  it('a relaxed subdomain signature counts as aligned', () => {
    const result = classify(row({ dkim_results: [dkim('mail.example.com', 'k1', 'fail')], source_ip: '198.51.100.3' }), context);
    expect(result.hint).toContain('._domainkey.mail.example.com');
  });
});

describe('arcEvidence', () => {
  it('reads override types and arc=pass comments', () => {
    expect(
      arcEvidence(
        row({
          override_reasons: [
            { type: 'Forwarded', comment: null },
            { type: 'local_policy', comment: 'ARC=pass' },
            { type: 'other', comment: 'arc=none' },
          ],
        }),
      ),
    ).toEqual(['override:forwarded', 'arc:ARC=pass']);
    expect(arcEvidence(row({ override_reasons: null }))).toEqual([]);
  });
});

describe('summarizeByCategory', () => {
  it('sums message_count per record, never per signature', () => {
    const rows: ClassifyRow[] = [
      row({
        dmarc_pass: true,
        dkim_aligned: true,
        dkim_results: [dkim('example.com', 'google'), dkim('gappssmtp.com', 'x')],
        message_count: 120n,
      }),
      row({ dmarc_pass: true, spf_aligned: true, message_count: 30 }),
      row({ dkim_results: [dkim('example.com', 'google', 'fail')], source_base_domain: 'google.com', message_count: 4 }),
      row({ source_ip: '198.51.100.7', message_count: 7 }),
      row({ message_count: 1000 }),
      row({ message_count: null }),
    ];
    expect(summarizeByCategory(rows, context)).toEqual({
      compliant: { messages: 150, records: 2 },
      forwarded: { messages: 4, records: 1 },
      'authorised-failing': { messages: 7, records: 1 },
      unauthorised: { messages: 1000, records: 2 },
    });
  });

  it('takes a per-row context, e.g. from policyForRow', () => {
    const other = policy([relay], { domain: 'other.org', file: 'domains/other.org.yaml' });
    const policies = [policy([]), other];
    const rows = [
      row({ source_ip: '198.51.100.7', message_count: 5 }),
      row({ source_ip: '198.51.100.7', header_from: 'other.org', policy_domain: 'other.org', message_count: 3 }),
      row({ source_ip: '198.51.100.7', header_from: 'news.other.org', policy_domain: 'news.other.org', message_count: 2 }),
    ];
    const summary = summarizeByCategory(rows, (r) => ({ policy: policyForRow(r, policies) }));
    expect(summary['authorised-failing']).toEqual({ messages: 5, records: 2 });
    expect(summary.unauthorised).toEqual({ messages: 5, records: 1 });
  });
});

describe('policyForRow', () => {
  it('finds the own or organizational domain file, else undefined', () => {
    const policies = [policy([])];
    expect(policyForRow(row({ policy_domain: 'example.com' }), policies)?.domain).toBe('example.com');
    expect(policyForRow(row({ policy_domain: 'mail.example.com' }), policies)?.domain).toBe('example.com');
    expect(policyForRow(row({ policy_domain: 'example.net' }), policies)).toBeUndefined();
    expect(policyForRow(row({ policy_domain: 'not a domain!' }), policies)).toBeUndefined();
    expect(policyForRow({}, policies)).toBeUndefined();
  });
});
