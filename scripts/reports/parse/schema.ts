/**
 * The header elements the parser knows, by local name: RFC 7489 Appendix C and RFC 9990 Appendix A
 * merged, plus `version` inside `report_metadata` (seen in the wild). Order is never checked.
 * Records have their own hand-written reader (records.ts).
 */
import { ANY, LEAF, LEAVES, container } from './collect.ts';

/** Root of the header draft; top-level header elements are fed one after another. */
export const HEADER_ROOT = container({
  version: LEAF,
  report_metadata: container({
    org_name: LEAF,
    email: LEAF,
    extra_contact_info: LEAF,
    report_id: LEAF,
    date_range: container({ begin: LEAF, end: LEAF }),
    error: LEAVES,
    generator: LEAF,
    version: LEAF,
  }),
  policy_published: container({
    domain: LEAF,
    discovery_method: LEAF,
    adkim: LEAF,
    aspf: LEAF,
    p: LEAF,
    sp: LEAF,
    np: LEAF,
    pct: LEAF,
    fo: LEAF,
    testing: LEAF,
  }),
  extension: ANY,
});

/** Top-level elements that belong to the header. */
export const HEADER_ELEMENTS: ReadonlySet<string> = new Set(['version', 'report_metadata', 'policy_published', 'extension']);
