/** Per-domain IP series, fetched by the domain page only when the window changes (kept out of the page's first load). */
import type { APIRoute } from 'astro';
import { siteData } from '../../../lib/data.ts';
import { domainIps } from '../../../lib/pages.ts';

export async function getStaticPaths() {
  const { data } = await siteData();
  return data.domains.map((domain) => ({ params: { domain: domain.domain }, props: { domain } }));
}

export const GET: APIRoute = ({ props }) =>
  new Response(JSON.stringify(domainIps(props.domain)), { headers: { 'content-type': 'application/json' } });
