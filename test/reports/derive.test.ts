import { describe, expect, it } from 'vitest';
import {
  alignmentModes,
  deriveAlignment,
  dkimAligned,
  domainsAligned,
  spfAligned,
  spfIdentityResults,
} from '../../scripts/reports/derive.ts';
import type { DkimAuthResult, ReportRecord, SpfAuthResult } from '../../scripts/reports/parse/types.ts';

function record(over: Partial<ReportRecord> = {}): ReportRecord {
  return {
    sourceIp: '192.0.2.1',
    count: 1,
    disposition: 'none',
    evalDkim: 'pass',
    evalSpf: 'pass',
    reasons: [],
    headerFrom: 'example.com',
    envelopeFrom: 'example.com',
    dkim: [],
    spf: [],
    ...over,
  };
}
const dkim = (domain: string, result: DkimAuthResult['result'] = 'pass', selector = 's1'): DkimAuthResult => ({ domain, selector, result });
const spf = (domain: string, result: SpfAuthResult['result'] = 'pass', scope?: string): SpfAuthResult =>
  scope === undefined ? { domain, result } : { domain, result, scope };

const relaxed = { adkim: 'r', aspf: 'r' } as const;
const strict = { adkim: 's', aspf: 's' } as const;

describe('domainsAligned', () => {
  it('relaxed: same organizational domain, any subdomain on either side', () => {
    expect(domainsAligned('mail.example.com', 'example.com', 'r')).toBe(true);
    expect(domainsAligned('example.com', 'news.example.com', 'r')).toBe(true);
    expect(domainsAligned('a.b.example.com', 'c.example.com', 'r')).toBe(true);
    expect(domainsAligned('example.net', 'example.com', 'r')).toBe(false);
    expect(domainsAligned('evil-example.com', 'example.com', 'r')).toBe(false);
  });

  it('strict: exact names only', () => {
    expect(domainsAligned('example.com', 'example.com', 's')).toBe(true);
    expect(domainsAligned('mail.example.com', 'example.com', 's')).toBe(false);
    expect(domainsAligned('example.com', 'news.example.com', 's')).toBe(false);
  });

  it('compares case-insensitively and ignores a trailing dot', () => {
    expect(domainsAligned('Mail.EXAMPLE.com', 'example.COM', 'r')).toBe(true);
    expect(domainsAligned('EXAMPLE.com.', 'example.com', 's')).toBe(true);
  });

  it('uses the ICANN public suffixes: multi-label suffixes, and private suffixes are not boundaries', () => {
    expect(domainsAligned('mail.example.co.uk', 'example.co.uk', 'r')).toBe(true);
    expect(domainsAligned('a.co.uk', 'b.co.uk', 'r')).toBe(false);
    // github.io is in the PSL's PRIVATE section: ignored, so these share the org domain github.io.
    expect(domainsAligned('alice.github.io', 'bob.github.io', 'r')).toBe(true);
  });

  it('never aligns a public suffix or an empty name', () => {
    expect(domainsAligned('com', 'example.com', 'r')).toBe(false);
    expect(domainsAligned('co.uk', 'co.uk', 'r')).toBe(false);
    expect(domainsAligned('', 'example.com', 'r')).toBe(false);
    expect(domainsAligned('example.com', '', 's')).toBe(false);
    expect(domainsAligned(undefined, 'example.com', 'r')).toBe(false);
  });

  it('maps IDNs to A-labels before comparing', () => {
    expect(domainsAligned('mail.bücher.de', 'xn--bcher-kva.de', 'r')).toBe(true);
  });
});

describe('DKIM alignment', () => {
  it('passes when one of several signatures passes and aligns', () => {
    const r = record({ dkim: [dkim('esp.example.net'), dkim('mail.example.com'), dkim('other.org', 'fail')] });
    expect(dkimAligned(r, 'r')).toBe(true);
    expect(dkimAligned(r, 's')).toBe(false);
  });

  it('an aligned signature that fails does not count, even if an unaligned one passes', () => {
    const r = record({ dkim: [dkim('example.com', 'fail'), dkim('esp.example.net', 'pass')] });
    expect(dkimAligned(r, 'r')).toBe(false);
  });

  it('treats every result but pass as failing: neutral, policy, temperror, unknown values, null', () => {
    for (const result of ['neutral', 'policy', 'temperror', 'permerror', 'none', 'unknown', 'invalid', null] as const) {
      expect(dkimAligned(record({ dkim: [dkim('example.com', result)] }), 'r')).toBe(false);
    }
  });

  it('no signatures: not aligned', () => {
    expect(dkimAligned(record({ dkim: [] }), 'r')).toBe(false);
  });

  it('strict needs the exact header_from; relaxed accepts the parent domain signing for a subdomain', () => {
    const r = record({ headerFrom: 'news.example.com', dkim: [dkim('example.com')] });
    expect(dkimAligned(r, 'r')).toBe(true);
    expect(dkimAligned(r, 's')).toBe(false);
    expect(dkimAligned(record({ headerFrom: 'news.example.com', dkim: [dkim('NEWS.example.com')] }), 's')).toBe(true);
  });
});

describe('SPF alignment', () => {
  it('uses the mfrom result', () => {
    const r = record({ envelopeFrom: 'bounce.example.com', spf: [spf('bounce.example.com', 'pass', 'mfrom')] });
    expect(spfAligned(r, 'r')).toBe(true);
    expect(spfAligned(r, 's')).toBe(false);
  });

  it('a result without scope counts as mfrom', () => {
    expect(spfAligned(record({ spf: [spf('example.com')] }), 's')).toBe(true);
  });

  it('ignores a passing aligned helo when an mfrom result exists', () => {
    const r = record({
      envelopeFrom: 'esp.example.net',
      spf: [spf('mx.example.com', 'pass', 'helo'), spf('esp.example.net', 'pass', 'mfrom')],
    });
    expect(spfIdentityResults(r).map((x) => x.domain)).toEqual(['esp.example.net']);
    expect(spfAligned(r, 'r')).toBe(false);
  });

  it('helo-only: counts when there is no envelope_from (null reverse-path)', () => {
    const base = { spf: [spf('mx.example.com', 'pass', 'helo')] };
    const { envelopeFrom: _drop, ...noEnvelope } = record(base);
    expect(spfAligned(noEnvelope, 'r')).toBe(true);
    expect(spfAligned(record({ ...base, envelopeFrom: '' }), 'r')).toBe(true);
    // The parser copied envelope_from from that SPF result: still no MAIL FROM of its own.
    expect(spfAligned(record({ ...base, envelopeFrom: 'mx.example.com', envelopeFromDerived: true }), 'r')).toBe(true);
  });

  it('helo-only: does not count when the report states a MAIL FROM domain', () => {
    const r = record({ envelopeFrom: 'bounce.example.com', spf: [spf('mx.example.com', 'pass', 'helo')] });
    expect(spfAligned(r, 'r')).toBe(false);
  });

  it('missing envelope_from with an mfrom result: the result decides', () => {
    const { envelopeFrom: _drop, ...r } = record({ spf: [spf('example.com', 'pass', 'mfrom')] });
    expect(spfAligned(r, 's')).toBe(true);
  });

  it('an mfrom result with an empty domain stands for the stated envelope_from', () => {
    expect(spfAligned(record({ envelopeFrom: 'example.com', spf: [spf('', 'pass', 'mfrom')] }), 's')).toBe(true);
    const { envelopeFrom: _drop, ...none } = record({ spf: [spf('', 'pass', 'mfrom')] });
    expect(spfAligned(none, 'r')).toBe(false);
  });

  it('softfail, unknown and null results fail', () => {
    for (const result of ['softfail', 'neutral', 'none', 'fail', 'temperror', 'unknown', null] as const) {
      expect(spfAligned(record({ spf: [spf('example.com', result, 'mfrom')] }), 'r')).toBe(false);
    }
  });

  it('case differences do not matter', () => {
    const r = record({ headerFrom: 'Example.COM', spf: [spf('BOUNCE.example.com', 'pass', 'mfrom')] });
    expect(spfAligned(r, 'r')).toBe(true);
  });

  it('ignores scopes other than mfrom and helo', () => {
    expect(spfAligned(record({ spf: [spf('example.com', 'pass', 'pra')] }), 'r')).toBe(false);
  });
});

describe('deriveAlignment', () => {
  it('dmarc_pass is DKIM aligned or SPF aligned', () => {
    const both = record({ dkim: [dkim('example.com')], spf: [spf('example.com', 'pass', 'mfrom')] });
    expect(deriveAlignment(both, strict)).toEqual({ dkimAligned: true, spfAligned: true, dmarcPass: true });
    const dkimOnly = record({ dkim: [dkim('example.com')], spf: [spf('esp.example.net', 'pass', 'mfrom')] });
    expect(deriveAlignment(dkimOnly, relaxed)).toEqual({ dkimAligned: true, spfAligned: false, dmarcPass: true });
    const spfOnly = record({ headerFrom: 'news.example.com', dkim: [dkim('esp.example.net')], spf: [spf('bounce.example.com')] });
    expect(deriveAlignment(spfOnly, relaxed)).toEqual({ dkimAligned: false, spfAligned: true, dmarcPass: true });
    expect(deriveAlignment(spfOnly, strict)).toEqual({ dkimAligned: false, spfAligned: false, dmarcPass: false });
  });

  it('uses each mode for its own mechanism', () => {
    const r = record({ headerFrom: 'example.com', dkim: [dkim('mail.example.com')], spf: [spf('bounce.example.com')] });
    expect(deriveAlignment(r, { adkim: 'r', aspf: 's' })).toEqual({ dkimAligned: true, spfAligned: false, dmarcPass: true });
    expect(deriveAlignment(r, { adkim: 's', aspf: 'r' })).toEqual({ dkimAligned: false, spfAligned: true, dmarcPass: true });
  });

  it('nothing aligns without a header_from', () => {
    const r = record({ headerFrom: '', dkim: [dkim('example.com')], spf: [spf('example.com')] });
    expect(deriveAlignment(r, relaxed).dmarcPass).toBe(false);
  });
});

describe('alignmentModes', () => {
  it('takes the reported modes, then the fallback, then relaxed', () => {
    expect(alignmentModes({ adkim: 's', aspf: 'r' })).toEqual({ adkim: 's', aspf: 'r' });
    expect(alignmentModes({})).toEqual({ adkim: 'r', aspf: 'r' });
    expect(alignmentModes({}, { adkim: 's', aspf: 's' })).toEqual({ adkim: 's', aspf: 's' });
    expect(alignmentModes({ adkim: 'r' }, { adkim: 's', aspf: 's' })).toEqual({ adkim: 'r', aspf: 's' });
    // Values outside the enumeration are not modes.
    expect(alignmentModes({ adkim: 'strict', aspf: 'x' })).toEqual({ adkim: 'r', aspf: 'r' });
  });
});
