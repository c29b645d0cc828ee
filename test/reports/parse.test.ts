/**
 * Unit tests of the parse stage: the model, each quirk real reporters send (junk markup, values outside
 * the RFC 7489 Appendix C enumerations), encodings, namespaces, RFC 9990, and hostile input.
 */
import { describe, expect, test } from 'vitest';
import { ParseError, parseReport, parseReportBytes } from '../../scripts/reports/parse/index.ts';
import type { ParseErrorCode, ParseOptions, ParsedReport, WarningCode } from '../../scripts/reports/parse/index.ts';

const META = `<report_metadata>
    <org_name>receiver.example</org_name>
    <email>dmarc@receiver.example</email>
    <report_id>r-1</report_id>
    <date_range><begin>1700000000</begin><end>1700086399</end></date_range>
  </report_metadata>`;
const POLICY = `<policy_published>
    <domain>example.com</domain><adkim>r</adkim><aspf>r</aspf><p>reject</p><sp>none</sp><pct>100</pct>
  </policy_published>`;

interface RecordParts {
  row?: string;
  evaluated?: string;
  ids?: string;
  auth?: string;
  extra?: string;
}

function record(parts: RecordParts = {}): string {
  const evaluated = parts.evaluated ?? '<disposition>none</disposition><dkim>pass</dkim><spf>fail</spf>';
  const row = parts.row ?? `<source_ip>192.0.2.1</source_ip><count>3</count><policy_evaluated>${evaluated}</policy_evaluated>`;
  const ids =
    parts.ids ?? '<identifiers><envelope_from>bounce.example.com</envelope_from><header_from>example.com</header_from></identifiers>';
  const auth =
    parts.auth ??
    '<auth_results><dkim><domain>example.com</domain><selector>s1</selector><result>pass</result></dkim>' +
      '<spf><domain>bounce.example.com</domain><scope>mfrom</scope><result>fail</result></spf></auth_results>';
  return `<record><row>${row}</row>${ids}${auth}${parts.extra ?? ''}</record>`;
}

function doc(
  records: string[] = [record()],
  head = `<?xml version="1.0" encoding="UTF-8"?>\n<feedback>`,
  meta = META,
  policy = POLICY,
): string {
  return `${head}\n  ${meta}\n  ${policy}\n  ${records.join('\n  ')}\n</feedback>\n`;
}

const parse = (xml: string | Uint8Array, options?: ParseOptions): ParsedReport =>
  parseReportBytes(typeof xml === 'string' ? new TextEncoder().encode(xml) : xml, options);

/** Parses with the fast path and without: both must agree; returns the fast one. */
function both(xml: string): ParsedReport {
  const fast = parse(xml);
  const slow = parse(xml, { fastPath: false });
  expect(fast.header).toStrictEqual(slow.header);
  expect(fast.records).toStrictEqual(slow.records);
  expect(fast.warnings).toStrictEqual(slow.warnings);
  return fast;
}

const codes = (report: ParsedReport): WarningCode[] => report.warnings.map((w) => w.code);

function rejects(input: string | Uint8Array, code: ParseErrorCode, message?: RegExp, options?: ParseOptions): ParseError {
  try {
    parse(input, options);
  } catch (error) {
    expect(error).toBeInstanceOf(ParseError);
    const parseError = error as ParseError;
    expect(parseError.code).toBe(code);
    if (message) expect(parseError.message).toMatch(message);
    return parseError;
  }
  throw new Error(`expected ParseError ${code}`);
}

describe('model', () => {
  test('a plain RFC 7489 report', () => {
    const report = both(doc());
    expect(report.header).toStrictEqual({
      orgName: 'receiver.example',
      email: 'dmarc@receiver.example',
      extraContactInfo: undefined,
      reportId: 'r-1',
      dateBegin: 1700000000,
      dateEnd: 1700086399,
      errors: [],
      generator: undefined,
      schema: 'rfc7489',
      xmlNamespace: undefined,
      version: undefined,
      policy: {
        domain: 'example.com',
        p: 'reject',
        sp: 'none',
        np: undefined,
        adkim: 'r',
        aspf: 'r',
        pct: 100,
        fo: undefined,
        testing: undefined,
        discoveryMethod: undefined,
      },
    });
    expect(report.records).toStrictEqual([
      {
        sourceIp: '192.0.2.1',
        count: 3,
        disposition: 'none',
        evalDkim: 'pass',
        evalSpf: 'fail',
        reasons: [],
        headerFrom: 'example.com',
        envelopeFrom: 'bounce.example.com',
        envelopeFromDerived: undefined,
        envelopeTo: undefined,
        dkim: [{ domain: 'example.com', selector: 's1', result: 'pass', humanResult: undefined }],
        spf: [{ domain: 'bounce.example.com', scope: 'mfrom', result: 'fail', humanResult: undefined }],
        extensions: undefined,
        raw: undefined,
      },
    ]);
    expect(report.warnings).toEqual([]);
    expect(report.stats).toMatchObject({ records: 1, messages: 3, fastPath: 1, fallback: 0, encoding: 'utf-8' });
  });

  test('RFC 9990: namespace, new fields, disposition pass, extensions', () => {
    const xml = `<?xml version="1.0" encoding="UTF-8"?>
<feedback xmlns="urn:ietf:params:xml:ns:dmarc-2.0" xmlns:ext="https://ext.example/1">
  <version>1.0</version>
  <report_metadata>
    <org_name>Sample Reporter</org_name><email>report_sender@example-reporter.com</email>
    <extra_contact_info lang="en">...</extra_contact_info>
    <report_id>3v98abbp8ya9n3va8yr8oa3ya</report_id>
    <date_range><begin>302832000</begin><end>302918399</end></date_range>
    <generator>Example DMARC Aggregate Reporter v1.2</generator>
  </report_metadata>
  <policy_published>
    <domain>example.com</domain><p>quarantine</p><sp>none</sp><np>none</np>
    <testing>n</testing><discovery_method>treewalk</discovery_method>
  </policy_published>
  <extension><ext:note>report level</ext:note></extension>
  <record>
    <row><source_ip>2001:db8::1</source_ip><count>2</count>
      <policy_evaluated><disposition>pass</disposition><dkim>pass</dkim><spf>fail</spf>
        <reason><type>policy_test_mode</type><comment lang="en">t=y</comment></reason></policy_evaluated></row>
    <identifiers><envelope_from></envelope_from><header_from>example.com</header_from></identifiers>
    <auth_results>
      <dkim><domain>example.com</domain><selector>abc</selector><result>pass</result><human_result lang="en">good</human_result></dkim>
      <spf><domain>example.com</domain><scope>mfrom</scope><result>policy</result><human_result>x</human_result></spf>
    </auth_results>
    <ext:score><ext:value>7</ext:value></ext:score>
  </record>
</feedback>`;
    const report = both(xml);
    expect(report.header).toMatchObject({
      schema: 'rfc9990',
      xmlNamespace: 'urn:ietf:params:xml:ns:dmarc-2.0',
      version: '1.0',
      generator: 'Example DMARC Aggregate Reporter v1.2',
      extraContactInfo: '...',
      extensions: { note: 'report level' },
      policy: { domain: 'example.com', p: 'quarantine', np: 'none', testing: 'n', discoveryMethod: 'treewalk', pct: undefined },
    });
    const [first] = report.records;
    expect(first).toMatchObject({
      disposition: 'pass',
      // Present but empty: the null reverse-path of RFC 9990, kept, not derived.
      envelopeFrom: '',
      envelopeFromDerived: undefined,
      reasons: [{ type: 'policy_test_mode', comment: 't=y' }],
      dkim: [{ domain: 'example.com', selector: 'abc', result: 'pass', humanResult: 'good' }],
      spf: [{ domain: 'example.com', scope: 'mfrom', result: 'policy', humanResult: 'x' }],
      extensions: { score: { value: '7' } },
    });
    // Attributes (lang, xmlns:ext) send these records to fast-xml-parser.
    expect(report.stats.fallback).toBe(1);
  });

  test('schema: draft namespaces, 0.1 is RFC 7489, a lone np is the Google hybrid', () => {
    const withNs = (ns: string) => doc([record()], `<feedback xmlns="${ns}">`);
    expect(parse(withNs('http://dmarc.org/dmarc-xml/0.2')).header.schema).toBe('draft');
    expect(parse(withNs('http://dmarc.org/dmarc-xml/0.1')).header.schema).toBe('rfc7489');
    const google = doc([record()], undefined, META, POLICY.replace('<pct>100</pct>', '<pct>100</pct><np>reject</np>'));
    expect(parse(google).header).toMatchObject({ schema: 'rfc7489', policy: { np: 'reject', pct: 100 } });
  });

  test('namespace prefixes on every element: matched by local name, same output', () => {
    const plain = parse(doc());
    const prefixed = doc()
      .replace(/<(\/?)([a-z_]+)>/g, '<$1dmarc:$2>')
      .replace('<dmarc:feedback>', '<dmarc:feedback xmlns:dmarc="urn:ietf:params:xml:ns:dmarc-2.0">');
    const report = both(prefixed);
    expect(report.records).toStrictEqual(plain.records);
    expect(report.header).toStrictEqual({ ...plain.header, schema: 'rfc9990', xmlNamespace: 'urn:ietf:params:xml:ns:dmarc-2.0' });
    expect(report.stats.fastPath).toBe(1);
  });

  test('Microsoft xmlns:xsd/xsi on the root: no namespace', () => {
    const head = '<feedback xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">';
    expect(parse(doc([record()], head)).header).toMatchObject({ schema: 'rfc7489', xmlNamespace: undefined });
  });
});

describe('encodings', () => {
  const latin = 'Société Générale';
  const cp1252 = (text: string): Uint8Array => Uint8Array.from(text, (c) => (c === '€' ? 0x80 : c === '—' ? 0x97 : c.charCodeAt(0)));

  test('windows-1252 from the XML declaration (AOL)', () => {
    const xml = doc(
      [record()],
      '<?xml version="1.0" encoding="windows-1252"?><feedback>',
      META.replace('receiver.example<', `${latin} € —<`),
    );
    const report = parse(cp1252(xml));
    expect(report.header.orgName).toBe(`${latin} € —`);
    expect(report.stats.encoding).toBe('windows-1252');
  });

  test('ISO-8859-1 from the declaration', () => {
    const xml = doc([record()], "<?xml version='1.0' encoding='ISO-8859-1'?><feedback>", META.replace('receiver.example<', `${latin}<`));
    expect(parse(cp1252(xml)).header.orgName).toBe(latin);
  });

  test('UTF-8 byte order mark (Hotmail), with and without a declaration', () => {
    const bom = [0xef, 0xbb, 0xbf];
    for (const xml of [doc(), doc([record()], '<feedback>')]) {
      const report = parse(Uint8Array.from([...bom, ...new TextEncoder().encode(xml)]));
      expect(report.records).toHaveLength(1);
      expect(report.warnings).toEqual([]);
    }
  });

  test('UTF-16 with a byte order mark', () => {
    const xml = doc([record()], '<?xml version="1.0" encoding="UTF-16"?><feedback>', META.replace('receiver.example<', `${latin}<`));
    const bytes = new Uint8Array(2 + xml.length * 2);
    bytes.set([0xff, 0xfe]);
    for (let i = 0; i < xml.length; i++) new DataView(bytes.buffer).setUint16(2 + i * 2, xml.charCodeAt(i), true);
    const report = parse(bytes);
    expect(report.header.orgName).toBe(latin);
    expect(report.stats.encoding).toBe('utf-16le');
  });

  test('declared UTF-8 with a stray windows-1252 byte: decoded as windows-1252, with a warning', () => {
    const xml = doc([record()], '<?xml version="1.0" encoding="UTF-8"?><feedback>', META.replace('receiver.example<', `${latin}<`));
    const report = parse(cp1252(xml));
    expect(report.header.orgName).toBe(latin);
    expect(codes(report)).toContain('invalid-utf8');
  });

  test('an unknown encoding label falls back to UTF-8 with a warning', () => {
    const report = parse(doc([record()], '<?xml version="1.0" encoding="x-klingon"?><feedback>'));
    expect(report.records).toHaveLength(1);
    expect(report.warnings[0]).toMatchObject({ code: 'encoding', message: expect.stringContaining('x-klingon') });
  });
});

describe('quirks (each leaves a warning, raw values kept)', () => {
  test('PascalCase and upper-case results are lowercased; hardfail → fail; unknown values kept', () => {
    const auth =
      '<auth_results><dkim><domain>Example.COM</domain><result>Pass</result></dkim><dkim><domain>x.example</domain><result>unknown</result></dkim>' +
      '<spf><domain>example.com</domain><scope>MFROM</scope><result>HardFail</result></spf>' +
      '<spf><domain>example.com</domain><scope>helo</scope><result>SoftFail</result></spf></auth_results>';
    const report = both(doc([record({ auth, evaluated: '<disposition>NONE</disposition><dkim>Pass</dkim><spf>softfail</spf>' })]));
    const [r] = report.records;
    expect(r).toMatchObject({
      disposition: 'none',
      evalDkim: 'pass',
      evalSpf: 'softfail',
      dkim: [
        { domain: 'example.com', result: 'pass' },
        { domain: 'x.example', result: 'unknown' },
      ],
      spf: [
        { scope: 'mfrom', result: 'fail' },
        { scope: 'helo', result: 'softfail' },
      ],
      raw: {
        'policy_evaluated/disposition': 'NONE',
        'policy_evaluated/dkim': 'Pass',
        'auth_results/dkim[0]/result': 'Pass',
        'auth_results/spf[0]/scope': 'MFROM',
        'auth_results/spf[0]/result': 'HardFail',
        'auth_results/spf[1]/result': 'SoftFail',
      },
    });
    expect(codes(report)).toEqual(expect.arrayContaining(['value-case', 'value-alias', 'nonstandard-value']));
    expect(report.warnings.find((w) => w.code === 'value-alias')).toMatchObject({ record: 0, count: 1 });
  });

  test('missing envelope_from: derived from the SPF mfrom domain, flagged', () => {
    const ids = '<identifiers><header_from>example.com</header_from></identifiers>';
    const auth =
      '<auth_results><spf><domain>mail.example.net</domain><scope>mfrom</scope><result>pass</result></spf>' +
      '<spf><domain>helo.example.net</domain><scope>helo</scope><result>pass</result></spf></auth_results>';
    const report = both(doc([record({ ids, auth })]));
    expect(report.records[0]).toMatchObject({ envelopeFrom: 'mail.example.net', envelopeFromDerived: true });
    expect(codes(report)).toContain('envelope-from-derived');
    // No SPF result at all: nothing to derive from.
    const none = both(doc([record({ ids, auth: '<auth_results></auth_results>' })]));
    expect(none.records[0]).toMatchObject({ envelopeFrom: undefined, envelopeFromDerived: undefined });
  });

  test('missing SPF scope, several results, spf before dkim (Hotmail)', () => {
    const auth =
      '<auth_results><spf><domain>a.example</domain><result>pass</result></spf><spf><domain>b.example</domain><result>none</result></spf>' +
      '<dkim><domain>a.example</domain><result>pass</result></dkim>' +
      '<dkim><domain>b.example</domain><selector>s</selector><result>fail</result></dkim></auth_results>';
    const report = both(doc([record({ auth })]));
    expect(report.records[0]?.spf.map((s) => [s.domain, s.scope])).toEqual([
      ['a.example', undefined],
      ['b.example', undefined],
    ]);
    expect(report.records[0]?.dkim).toHaveLength(2);
    expect(report.warnings.find((w) => w.code === 'spf-scope-missing')?.count).toBe(2);
  });

  test('<identities> instead of <identifiers>', () => {
    const ids = '<identities><header_from>example.com</header_from></identities>';
    const report = both(doc([record({ ids })]));
    expect(report.records[0]?.headerFrom).toBe('example.com');
    expect(codes(report)).toContain('identities-element');
  });

  test.for([
    ['empty', '<begin></begin><end/>', null, null, ['empty-value']],
    ['reversed', '<begin>1700086399</begin><end>1700000000</end>', 1700000000, 1700086399, ['date-range-reversed']],
    ['literal integer', '<begin>integer</begin><end>1335657599</end>', null, 1335657599, ['invalid-date']],
    ['fractional', '<begin>1700000000.25</begin><end>1700086399.9</end>', 1700000000, 1700086399, ['fractional-date']],
  ] as const)('dates: %s', ([, range, begin, end, expected]) => {
    const report = both(doc([record()], undefined, META.replace(/<date_range>.*<\/date_range>/, `<date_range>${range}</date_range>`)));
    expect(report.header).toMatchObject({ dateBegin: begin, dateEnd: end });
    expect(codes(report)).toEqual(expect.arrayContaining([...expected]));
    if (expected[0] !== 'empty-value') expect(report.header.raw).toBeDefined();
  });

  test('whitespace around values is trimmed (no warning)', () => {
    const xml = doc().replace(/>([^<>\s]+)</g, '>\n\t  $1  \r\n<');
    const report = both(xml);
    expect(report.records).toStrictEqual(parse(doc()).records);
    expect(report.header).toStrictEqual(parse(doc()).header);
    expect(report.warnings).toEqual([]);
  });

  test('empty elements: <sp/>, <extra_contact_info/>, <source_ip/>', () => {
    const meta = META.replace('<report_id>', '<extra_contact_info/><report_id>');
    const policy = POLICY.replace('<sp>none</sp>', '<sp/>');
    const row = '<source_ip/><count>0</count><policy_evaluated><disposition/><dkim>fail</dkim><spf>fail</spf></policy_evaluated>';
    const report = both(doc([record({ row })], undefined, meta, policy));
    expect(report.header.extraContactInfo).toBeUndefined();
    expect(report.header.policy.sp).toBeUndefined();
    expect(report.records[0]).toMatchObject({ sourceIp: '', count: 0, disposition: null });
    expect(report.warnings.filter((w) => w.code === 'empty-value')).toHaveLength(4);
  });

  test('zero records', () => {
    const report = both(doc([]));
    expect(report.records).toEqual([]);
    expect(report.header.policy.domain).toBe('example.com');
  });

  test('<version> misplaced inside report_metadata', () => {
    const report = both(doc([record()], undefined, META.replace('<org_name>', '<version>1.0</version><org_name>')));
    expect(report.header.version).toBe('1.0');
    expect(codes(report)).toContain('version-misplaced');
  });

  test('stray xs:schema tags (IKEA) before, inside and after the root', () => {
    const head = '<?xml version="1.0"?>\n<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">\n<feedback>\n<xs:schema>';
    const report = both(`${doc([record()], head)}</xs:schema>\n`);
    expect(report.records).toHaveLength(1);
    expect(report.warnings.filter((w) => w.code === 'stray-schema-tag').length).toBe(3);
  });

  test('a stray quote after the declaration (sitnet.dk, IKEA)', () => {
    const report = both(doc([record()], '<?xml version="1.0" encoding="UTF-8"?>"\n<feedback>'));
    expect(report.records).toHaveLength(1);
    expect(codes(report)).toEqual(['junk-before-root']);
  });

  test('leading whitespace before the declaration', () => {
    expect(codes(both(`\n  ${doc()}`))).toEqual(['xml-declaration-not-at-start']);
  });

  test("kddi's broken closing tag <report_id>…0/report_id> is repaired, with a warning", () => {
    const report = both(
      doc([record()], undefined, META.replace('<report_id>r-1</report_id>', '<report_id>20240130122811787510/report_id>')),
    );
    expect(report.header.reportId).toBe('20240130122811787510');
    expect(report.warnings).toContainEqual(
      expect.objectContaining({ code: 'repaired-markup', message: expect.stringContaining('report_id') }),
    );
  });

  test("uwaterloo's literal <> in a value", () => {
    const report = both(doc([record()], undefined, META.replace('dmarc@receiver.example', 'dmarc@receiver.example <>')));
    expect(report.header.email).toBe('dmarc@receiver.example <>');
    expect(codes(report)).toContain('repaired-markup');
  });

  test('a broken record is repaired the same way', () => {
    const report = both(doc([record({ ids: '<identifiers><header_from>example.com/header_from></identifiers>' })]));
    expect(report.records[0]?.headerFrom).toBe('example.com');
    expect(report.stats.fallback).toBe(1);
  });

  test('reasons: several, text-only (kddi), empty (dropped)', () => {
    const evaluated =
      '<disposition>none</disposition><dkim>fail</dkim><spf>fail</spf>' +
      '<reason><type>forwarded</type><comment>arc=pass</comment></reason><reason>Mailing_List</reason><reason><type/><comment/></reason>';
    const report = both(doc([record({ evaluated })]));
    expect(report.records[0]?.reasons).toStrictEqual([
      { type: 'forwarded', comment: 'arc=pass' },
      { type: 'mailing_list', comment: undefined },
    ]);
    expect(codes(report)).toEqual(expect.arrayContaining(['text-reason', 'empty-reason', 'value-case']));
  });

  test('policy_evaluated without <dkim> (AOL), bad count, bad pct, bad IP', () => {
    const row =
      '<source_ip>not-an-ip</source_ip><count>many</count><policy_evaluated><disposition>none</disposition><spf>pass</spf></policy_evaluated>';
    const report = both(doc([record({ row })], undefined, META, POLICY.replace('<pct>100</pct>', '<pct>string</pct>')));
    expect(report.records[0]).toMatchObject({ sourceIp: 'not-an-ip', count: null, evalDkim: null, raw: { 'row/count': 'many' } });
    expect(report.header.policy.pct).toBeUndefined();
    expect(report.header.raw).toEqual({ 'policy_published/pct': 'string' });
    expect(codes(report)).toEqual(expect.arrayContaining(['missing-element', 'invalid-number', 'invalid-source-ip']));
  });

  test('comments, CDATA and entities in a record go to fast-xml-parser and mean the same', () => {
    const plain = parse(doc());
    const fancy = doc([
      record({
        ids: '<identifiers><!-- c --><envelope_from>bounce.example.com</envelope_from><header_from><![CDATA[example.com]]></header_from></identifiers>',
      }),
    ]);
    const report = both(fancy);
    expect(report.records).toStrictEqual(plain.records);
    expect(report.stats.fallback).toBe(1);
    const entities = both(doc([record({ extra: '<note>caf&#233; &amp; &#x263A; &lt;ok&gt; &nbsp;</note>' })]));
    expect(entities.records[0]?.extensions).toEqual({ note: 'café & ☺ <ok> &nbsp;' });
    expect(codes(entities)).toContain('unknown-entity');
  });

  test('unknown elements are dropped with a warning; repeated single elements keep the first', () => {
    const row =
      '<source_ip>192.0.2.1</source_ip><source_ip>192.0.2.9</source_ip><count>1</count><colour>red</colour>' +
      '<policy_evaluated><disposition>none</disposition><dkim>pass</dkim><spf>pass</spf></policy_evaluated>';
    const report = both(doc([record({ row })]));
    expect(report.records[0]?.sourceIp).toBe('192.0.2.1');
    expect(codes(report)).toEqual(expect.arrayContaining(['duplicate-element', 'unknown-element']));
  });

  test('a second policy_published is ignored (parsedmarc takes the first)', () => {
    const policy = `${POLICY}${POLICY.replace('example.com', 'other.example')}`;
    const report = both(doc([record()], undefined, META, policy));
    expect(report.header.policy.domain).toBe('example.com');
    expect(codes(report)).toContain('duplicate-element');
  });

  test('missing policy domain: salvaged with a warning (the pipeline decides)', () => {
    const report = both(doc([record()], undefined, META, POLICY.replace('<domain>example.com</domain>', '<domain></domain>')));
    expect(report.header.policy.domain).toBe('');
    expect(codes(report)).toContain('missing-policy-domain');
  });

  test('header after the records: records wait for it', async () => {
    const xml = `<feedback>${record()}${record()}${META}${POLICY}</feedback>`;
    const stream = await parseReport([new TextEncoder().encode(xml)]);
    expect(stream.header.orgName).toBe('receiver.example');
    let n = 0;
    for await (const batch of stream.records) n += batch.length;
    expect(n).toBe(2);
    expect(stream.warnings.map((w) => w.code)).toContain('header-after-records');
  });

  test('truncated document: an error by default, or salvage with a warning', () => {
    const cut = doc([record(), record(), record()]).slice(0, -120);
    rejects(cut, 'truncated', /ends before <\/feedback> inside <record>/);
    const salvaged = parse(cut, { salvageTruncated: true });
    expect(salvaged.records).toHaveLength(2);
    expect(codes(salvaged)).toContain('truncated');
    // The corpus's mangled files: the middle cut out.
    rejects(
      '<feedback><report_metadata><org_name>o2.pl</org_name></report_metadata><policy_published>' +
        '<domain>x.com</domain><result></result></spf></auth_results></record></feedback>',
      'truncated',
    );
  });
});

describe('rejected with a clear reason', () => {
  test.for([
    ['empty', '', 'empty', /empty/],
    ['text', 'Hello world, gzip!', 'not-xml', /not XML/],
    ['other root', '<?xml version="1.0"?><invalid><a/></invalid>', 'not-a-report', /root element is <invalid>/],
    ['html', '<!-- x --><html><body>hi</body></html>', 'not-a-report', /<html>/],
    ['only a declaration', '<?xml version="1.0"?>', 'not-a-report', /no root element/],
    [
      'bad markup in a record',
      doc([record({ ids: '<identifiers><header_from>a</header_from></oops></identifiers>' })]),
      'malformed-xml',
      /record 1 is not well-formed/,
    ],
  ] as const)('%s', ([, input, code, message]) => {
    const error = rejects(input, code, message, { name: 'payload.xml' });
    expect(error.message.startsWith('payload.xml: ')).toBe(true);
  });

  test('both readers reject the same broken record', () => {
    const bad = doc([record({ row: '<source_ip>1.2.3.4</source_ip><count>1</count></policy_evaluated>' })]);
    rejects(bad, 'malformed-xml');
    rejects(bad, 'malformed-xml', undefined, { fastPath: false });
  });
});

describe('hostile input', () => {
  /** Streams `head`, then `filler` repeated up to `total` bytes, then `tail`, never holding it all. */
  async function* huge(head: string, filler: string, total: number, tail = ''): AsyncGenerator<Uint8Array> {
    const encoder = new TextEncoder();
    yield encoder.encode(head);
    const block = encoder.encode(filler.repeat(Math.ceil(65_536 / filler.length)));
    for (let sent = 0; sent < total; sent += block.length) yield block;
    yield encoder.encode(tail);
  }

  async function consume(chunks: AsyncIterable<Uint8Array>): Promise<ParseError> {
    try {
      const report = await parseReport(chunks);
      for await (const _ of report.records) {
        // drain
      }
    } catch (error) {
      expect(error).toBeInstanceOf(ParseError);
      return error as ParseError;
    }
    throw new Error('expected a ParseError');
  }

  test('billion laughs: refused at the DTD, nothing expanded', () => {
    const lol = [
      '<?xml version="1.0"?>',
      '<!DOCTYPE lolz [',
      ' <!ENTITY lol "lol">',
      ...Array.from({ length: 9 }, (_, i) => ` <!ENTITY lol${i + 1} "${`&lol${i || ''};`.repeat(10)}">`),
      ']>',
      '<feedback><report_metadata><org_name>&lol9;</org_name></report_metadata></feedback>',
    ].join('\n');
    const started = performance.now();
    rejects(lol, 'dtd-forbidden', /DTD/);
    expect(performance.now() - started).toBeLessThan(100);
  });

  test('external entity (XXE): refused', () => {
    rejects(
      '<?xml version="1.0"?><!DOCTYPE f [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>' +
        '<feedback><report_metadata><org_name>&xxe;</org_name></report_metadata></feedback>',
      'dtd-forbidden',
    );
    // An entity reference without a DTD stays as written.
    const report = parse(doc([record()], undefined, META.replace('receiver.example<', '&xxe;<')));
    expect(report.header.orgName).toBe('&xxe;');
    expect(codes(report)).toContain('unknown-entity');
    // A DTD hidden inside the document.
    rejects(doc([record(), '<!DOCTYPE x [<!ENTITY a "b">]>']), 'dtd-forbidden');
    rejects(doc([record({ extra: '<!DOCTYPE x [<!ENTITY a "b">]>' })]), 'dtd-forbidden');
  });

  test('200 MB of nested tags: refused by the element size cap, memory bounded', async () => {
    const before = process.memoryUsage().rss;
    const error = await consume(huge('<feedback>', '<a>', 200 * 2 ** 20));
    expect(error.code).toBe('element-too-large');
    expect(error.message).toMatch(/<a> at character 10 is larger than 1048576 characters/);
    expect(process.memoryUsage().rss - before).toBeLessThan(100 * 2 ** 20);
  });

  test('nested tags inside a record, under the size cap: refused for depth by both readers', () => {
    const deep = doc([record({ extra: `${'<x>'.repeat(5000)}${'</x>'.repeat(5000)}` })]);
    rejects(deep, 'too-deep');
    rejects(deep, 'too-deep', undefined, { fastPath: false });
  });

  test('a huge single element (200 MB org_name): refused by the size cap', async () => {
    const error = await consume(huge('<feedback><report_metadata><org_name>', 'A', 200 * 2 ** 20));
    expect(error.code).toBe('element-too-large');
  });

  test('a huge record and a huge start tag', async () => {
    expect((await consume(huge(`<feedback>${META}${POLICY}<record><row><source_ip>`, '1', 5 * 2 ** 20))).code).toBe('element-too-large');
    expect((await consume(huge('<feedback attr="', 'x', 5 * 2 ** 20))).code).toBe('element-too-large');
  });

  test('200 MB of text between elements: refused', async () => {
    const error = await consume(huge(`<feedback>${META}`, 'junk ', 200 * 2 ** 20));
    expect(error.code).toBe('malformed-xml');
  });

  test('the cap is configurable', () => {
    rejects(doc([record()]), 'element-too-large', /<report_metadata> at character 52 is larger than 100 characters/, {
      maxElementChars: 100,
    });
  });
});

describe('report-level text (repeated on every record row by the store)', () => {
  const withMeta = (extra: string): string => META.replace('</report_metadata>', `${extra}</report_metadata>`);

  test('error elements: the first 10 kept, each clipped to 1,000 characters, with a warning', () => {
    const errors = Array.from({ length: 18 }, (_, i) => `<error>${i} ${'x'.repeat(50_000)}</error>`).join('');
    const report = both(doc([record()], undefined, withMeta(errors)));
    expect(report.header.errors).toHaveLength(10);
    expect(report.header.errors.every((e) => e.length === 1000 && e.endsWith('…'))).toBe(true);
    expect(report.header.errors[3]?.startsWith('3 xxx')).toBe(true);
    const warning = report.warnings.find((w) => w.code === 'text-clipped');
    expect(warning?.message).toBe(
      '18 <report_metadata/error> elements, the longest 50,003 characters: kept the first 10, each at most 1,000 characters',
    );
    expect(report.records).toHaveLength(1);
  });

  test('a few short errors are kept whole, without a warning', () => {
    const report = both(doc([record()], undefined, withMeta('<error>one</error><error>two</error>')));
    expect(report.header.errors).toEqual(['one', 'two']);
    expect(codes(report)).not.toContain('text-clipped');
  });

  test('a header holding more than 48 KiB (a 60,000-character org_name) is refused, naming the size', () => {
    const long = META.replace('<org_name>receiver.example</org_name>', `<org_name>${'y'.repeat(60_000)}</org_name>`);
    const error = rejects(
      doc([record()], undefined, long),
      'header-too-large',
      /the report header holds 58\.\d KiB of text \(at most 48 KiB\)/,
    );
    expect(error.message.length).toBeLessThan(600);
    rejects(doc([record()], undefined, long), 'header-too-large', undefined, { fastPath: false });
  });

  test('a nonstandard policy value of 50,000 characters (kept with its raw text) makes the header too large', () => {
    rejects(doc([record()], undefined, META, POLICY.replace('<p>reject</p>', `<p>${'z'.repeat(50_000)}</p>`)), 'header-too-large');
  });

  test('warnings stop at 16,384 characters of messages: the rest are only counted', () => {
    // Each record's unreadable source address makes a warning of its own (the address is quoted).
    const records = Array.from({ length: 150 }, (_, i) => record({ row: `<source_ip>${'q'.repeat(200)}${i}</source_ip><count>1</count>` }));
    const report = parse(doc(records));
    const chars = report.warnings.filter((w) => w.code !== 'too-many-warnings').reduce((sum, w) => sum + w.message.length, 0);
    expect(chars).toBeLessThanOrEqual(16_384);
    expect(chars).toBeGreaterThan(14_000);
    const tooMany = report.warnings.find((w) => w.code === 'too-many-warnings');
    expect(tooMany?.message).toMatch(/more than 200 distinct warnings or 16,384 characters of them/);
    expect(report.warnings.reduce((sum, w) => sum + (w.count ?? 1), 0)).toBeGreaterThanOrEqual(150);
  });
});

describe('both readers agree on odd but valid markup', () => {
  test.for([
    ['mixed text in an extension', '<ext>x<b/> <c/>y</ext>'],
    ['text around an unknown child of a leaf', ''],
    ['self-closing everything', '<ext/><note/>'],
    ['a prefixed extension with its own namespace declaration', '<e:x xmlns:e="urn:e">1</e:x>'],
  ] as const)('%s', ([name, extra]) => {
    const ids =
      name === 'text around an unknown child of a leaf'
        ? '<identifiers><header_from>exa<b/> <c/>mple.com</header_from></identifiers>'
        : undefined;
    both(doc([record({ extra, ids })]));
  });
});
