/** Links under the site's base path (`/` locally, `/<repo>/` on GitHub Pages): every internal link goes through here. */
const BASE = import.meta.env.BASE_URL.replace(/\/?$/, '/');

export function href(path = ''): string {
  return BASE + path.replace(/^\//, '');
}

export const domainHref = (domain: string): string => href(`d/${encodeURIComponent(domain)}/`);
export const reportHref = (key: string): string => href(`reports/r/${encodeURIComponent(key)}/`);
export const monthHref = (month: string): string => href(`reports/${encodeURIComponent(month)}/`);
