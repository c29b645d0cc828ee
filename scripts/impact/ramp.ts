/**
 * The RFC 9989 ramp, one domain-file edit at a time: p=none → quarantine with t=y → quarantine →
 * reject with t=y → reject, then alignment tightened (DKIM, then SPF) last, once everything
 * enforces. `percent` is never a rung: RFC 9989 removed pct, and `testing` (t=y, receivers apply
 * one step less) is its replacement (RFC 9989 Appendix A.6). Pure.
 */
import type { DomainPolicy } from '../policy/model.ts';
import type { KeyChange } from './model.ts';

export interface Rung {
  /** The domain's policy with the rung applied. */
  policy: DomainPolicy;
  /** The edit in words, e.g. "policy: quarantine, testing: true". */
  step: string;
  changes: KeyChange[];
}

/** The next rung from `policy`; null at the end of the ramp (p=reject, no testing, strict alignment). */
export function nextRung(policy: DomainPolicy): Rung | null {
  const changes: KeyChange[] = [];
  const next: DomainPolicy = { ...policy };
  const set = (key: KeyChange['key'], before: string, after: string): void => {
    changes.push({ key, before, after, via: 'domain-file' });
  };
  if (policy.p === 'none') {
    next.p = 'quarantine';
    set('policy', 'none', 'quarantine');
    if (!policy.testing) {
      next.testing = true;
      set('testing', 'false', 'true');
    }
  } else if (policy.testing) {
    next.testing = false;
    set('testing', 'true', 'false');
  } else if (policy.p === 'quarantine') {
    next.p = 'reject';
    next.testing = true;
    set('policy', 'quarantine', 'reject');
    set('testing', 'false', 'true');
  } else if (policy.adkim === 'r') {
    next.adkim = 's';
    set('alignment.dkim', 'relaxed', 'strict');
  } else if (policy.aspf === 'r') {
    next.aspf = 's';
    set('alignment.spf', 'relaxed', 'strict');
  } else {
    return null;
  }
  return { policy: next, step: changes.map((c) => `${c.key}: ${c.after}`).join(', '), changes };
}
