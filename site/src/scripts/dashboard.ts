/**
 * The dashboard's one island: window picker, sortable and filterable tables, expandable sources,
 * all state in the URL (?w=, ?from=&to=, ?sort=<table>:<column>:<dir>, ?q.<table>=, ?open=<source>).
 * It re-renders with the same views the build used (site/src/lib/pages.ts); charts are redrawn with
 * Plot, loaded only when the window differs from the one drawn at build.
 */
import { DEFAULT_WINDOW } from '../../../scripts/site/model.ts';
import {
  type DomainPayload,
  type IpPayload,
  type OverviewPayload,
  domainView,
  overviewView,
  dailyTableRows,
  type Kpis,
} from '../lib/pages.ts';
import {
  type DayRange,
  type SortState,
  type Tally,
  renderHead,
  resolveWindow,
  sortFromParams,
  windowFromParams,
  windowToParams,
  type WindowSpec,
  type Column,
} from '../lib/view.ts';
import { AUTH_COLUMNS, DOMAIN_COLUMNS, HEADER_FROM_COLUMNS, REPORTER_COLUMNS, SOURCE_COLUMNS } from '../lib/pages.ts';
import {
  TLS_MX_COLUMNS,
  TLS_ORG_COLUMNS,
  TLS_TYPE_COLUMNS,
  type TlsPayload,
  type TlsTally,
  tlsDailyTableRows,
  tlsDetailColumns,
  tlsView,
} from '../lib/tls.ts';

const TABLE_COLUMNS: Record<string, Column<never>[]> = {
  domains: DOMAIN_COLUMNS as Column<never>[],
  'sources-table': SOURCE_COLUMNS as Column<never>[],
  'reporters-table': REPORTER_COLUMNS as Column<never>[],
  'header-from-table': HEADER_FROM_COLUMNS as Column<never>[],
  'auth-table': AUTH_COLUMNS as Column<never>[],
  'tls-types-table': TLS_TYPE_COLUMNS as Column<never>[],
  'tls-orgs-table': TLS_ORG_COLUMNS as Column<never>[],
  'tls-mx-table': TLS_MX_COLUMNS as Column<never>[],
  // Set per page: a redacted build has no sending-MTA column.
  'tls-details-table': tlsDetailColumns(true) as Column<never>[],
};

/** A domain page's payload: the DMARC part and the TLS section's (null without one). */
type DomainPagePayload = DomainPayload & { tls?: TlsPayload | null };

interface Rendered {
  kpis: Kpis | Record<string, string>;
  daily: Tally[];
  /** The TLS section's daily sessions, when the page has one. */
  tlsDaily: TlsTally[] | null;
  tables: Record<string, string>;
  /** Other parts of the page that follow the window: `[data-view="<name>"]` → its HTML (escaped by the views). */
  parts: Record<string, string>;
}

function params(): URLSearchParams {
  return new URLSearchParams(location.search);
}

function setParams(next: URLSearchParams): void {
  const query = next.toString();
  history.replaceState(null, '', query ? `?${query}` : location.pathname);
}

function sortOf(table: string, p: URLSearchParams): SortState | null {
  const fromUrl = sortFromParams(p, table);
  if (fromUrl) return fromUrl;
  const fallback = document.getElementById(table)?.dataset.defaultSort;
  if (!fallback) return null;
  const [column, direction] = fallback.split(':');
  return column ? { column, descending: direction !== 'asc' } : null;
}

export function initDashboard(): void {
  const root = document.querySelector<HTMLElement>('[data-page]');
  const payloadText = document.getElementById('page-data')?.textContent;
  if (!root || !payloadText) return;
  const kind = root.dataset.page;
  const payload = JSON.parse(payloadText) as OverviewPayload | DomainPagePayload;
  if (kind !== 'overview')
    TABLE_COLUMNS['tls-details-table'] = tlsDetailColumns((payload as DomainPagePayload).redacted) as Column<never>[];
  let ips: IpPayload[] | null = null;
  let drawnWindow = JSON.stringify({ preset: DEFAULT_WINDOW });

  async function render(): Promise<void> {
    const p = params();
    const spec: WindowSpec = windowFromParams(p, DEFAULT_WINDOW);
    const range = resolveWindow(spec, payload.days);
    let rendered: Rendered;
    if (kind === 'overview') {
      const view = overviewView(payload as OverviewPayload, range, sortOf('domains', p));
      rendered = { kpis: view.kpis, daily: view.daily, tlsDaily: null, tables: { domains: view.rows }, parts: {} };
    } else {
      if (ips === null && JSON.stringify(spec) !== JSON.stringify({ preset: DEFAULT_WINDOW })) ips = await loadIps(root as HTMLElement);
      const view = domainView(
        payload as DomainPayload,
        range,
        {
          sources: sortOf('sources-table', p),
          reporters: sortOf('reporters-table', p),
          headerFrom: sortOf('header-from-table', p),
          auth: sortOf('auth-table', p),
        },
        ips ?? [],
      );
      rendered = {
        kpis: view.kpis,
        daily: view.daily,
        tlsDaily: null,
        tables: {
          'sources-table': view.sources,
          'reporters-table': view.reporters,
          'header-from-table': view.headerFrom,
          'auth-table': view.auth,
        },
        parts: { provenance: view.provenance },
      };
      const tls = (payload as DomainPagePayload).tls;
      if (tls) {
        const t = tlsView(
          tls,
          range,
          {
            types: sortOf('tls-types-table', p),
            orgs: sortOf('tls-orgs-table', p),
            mx: sortOf('tls-mx-table', p),
            details: sortOf('tls-details-table', p),
          },
          (payload as DomainPagePayload).redacted,
        );
        rendered.kpis = { ...view.kpis, ...t.kpis };
        rendered.tlsDaily = t.daily;
        Object.assign(rendered.tables, {
          'tls-types-table': t.types,
          'tls-orgs-table': t.orgs,
          'tls-mx-table': t.mx,
          'tls-details-table': t.details,
        });
        rendered.parts['tls-provenance'] = t.provenance;
      }
    }
    for (const [key, value] of Object.entries(rendered.kpis)) {
      const el = document.querySelector(`[data-kpi="${key}"]`);
      if (el) el.textContent = value;
    }
    for (const [id, rows] of Object.entries(rendered.tables)) replaceRows(id, rows, p);
    for (const [name, html] of Object.entries(rendered.parts)) {
      for (const el of document.querySelectorAll(`[data-view="${name}"]`)) el.innerHTML = html;
    }
    updatePicker(spec, range, payload.days);
    const windowKey = JSON.stringify(spec);
    if (windowKey !== drawnWindow) {
      drawnWindow = windowKey;
      await redrawChart(payload.days, range, rendered.daily);
      if (rendered.tlsDaily) await redrawTlsChart(payload.days, range, rendered.tlsDaily);
    }
    reopen(p);
  }

  function rerender(): void {
    render().catch((error: unknown) => console.warn('dmarcops: could not update the view', error));
  }

  // Window presets and custom range.
  for (const link of document.querySelectorAll<HTMLAnchorElement>('[data-preset]')) {
    link.addEventListener('click', (event) => {
      event.preventDefault();
      const p = params();
      windowToParams({ preset: link.dataset.preset as never }, p, DEFAULT_WINDOW);
      setParams(p);
      rerender();
    });
    // role="button": Space activates it too (a link alone answers Enter only).
    link.addEventListener('keydown', (event) => {
      if (event.key === ' ') {
        event.preventDefault();
        link.click();
      }
    });
  }
  document.querySelector<HTMLFormElement>('[data-custom-range]')?.addEventListener('submit', (event) => {
    event.preventDefault();
    const form = event.currentTarget as HTMLFormElement;
    const from = (form.elements.namedItem('from') as HTMLInputElement).value;
    const to = (form.elements.namedItem('to') as HTMLInputElement).value;
    if (!from || !to) return;
    const p = params();
    windowToParams(from <= to ? { from, to } : { from: to, to: from }, p, DEFAULT_WINDOW);
    setParams(p);
    rerender();
  });

  // Sorting: header buttons; state per table in ?sort=.
  for (const table of document.querySelectorAll<HTMLTableElement>('table[data-sortable]')) {
    table.querySelector('thead')?.addEventListener('click', (event) => {
      const th = (event.target as HTMLElement).closest<HTMLElement>('th[data-col]');
      if (!th) return;
      const column = th.dataset.col as string;
      const p = params();
      const now = sortOf(table.id, p);
      const descending = now?.column === column ? !now.descending : true;
      const others = p.getAll('sort').filter((v) => !v.startsWith(`${table.id}:`));
      p.delete('sort');
      for (const other of others) p.append('sort', other);
      p.append('sort', `${table.id}:${column}:${descending ? 'desc' : 'asc'}`);
      setParams(p);
      rerender();
      requestAnimationFrame(() =>
        document.querySelector<HTMLButtonElement>(`#${CSS.escape(table.id)} th[data-col="${CSS.escape(column)}"] button`)?.focus(),
      );
    });
  }

  // Filters: text and facet buttons, state in ?q.<table>= and ?f.<table>=name:value.
  for (const input of document.querySelectorAll<HTMLInputElement>('input[data-filter]')) {
    const table = input.dataset.filter as string;
    input.value = params().get(`q.${table}`) ?? '';
    input.addEventListener('input', () => {
      const p = params();
      if (input.value) p.set(`q.${table}`, input.value);
      else p.delete(`q.${table}`);
      setParams(p);
      applyFilter(table, p);
    });
  }
  for (const button of document.querySelectorAll<HTMLButtonElement>('button[data-facet]')) {
    const table = button.dataset.facet as string;
    const value = `${button.dataset.facetName}:${button.dataset.facetValue}`;
    button.setAttribute('aria-pressed', String(params().getAll(`f.${table}`).includes(value)));
    button.addEventListener('click', () => {
      const p = params();
      const active = p.getAll(`f.${table}`);
      p.delete(`f.${table}`);
      const next = active.includes(value) ? active.filter((v) => v !== value) : [...active, value];
      for (const v of next) p.append(`f.${table}`, v);
      button.setAttribute('aria-pressed', String(!active.includes(value)));
      setParams(p);
      applyFilter(table, p);
    });
  }

  // Expanding a source shows its IPs; the open ones are remembered in ?open=.
  root.addEventListener('click', (event) => {
    const button = (event.target as HTMLElement).closest<HTMLButtonElement>('button[data-expand]');
    if (!button) return;
    const key = button.dataset.expand as string;
    const open = button.getAttribute('aria-expanded') !== 'true';
    setExpanded(button, open);
    const p = params();
    const keys = p.getAll('open').filter((k) => k !== key);
    p.delete('open');
    for (const k of open ? [...keys, key] : keys) p.append('open', k);
    setParams(p);
  });

  const p = params();
  const needsRender = [...p.keys()].some((k) => k === 'w' || k === 'from' || k === 'sort');
  if (needsRender) rerender();
  else {
    for (const id of Object.keys(TABLE_COLUMNS)) if (document.getElementById(id)) applyFilter(id, p);
    reopen(p);
  }
}

async function loadIps(root: HTMLElement): Promise<IpPayload[]> {
  const url = root.dataset.ipsUrl;
  if (!url) return [];
  try {
    const response = await fetch(url);
    return response.ok ? ((await response.json()) as IpPayload[]) : [];
  } catch {
    return [];
  }
}

function replaceRows(id: string, rows: string, p: URLSearchParams): void {
  const table = document.getElementById(id);
  if (!table) return;
  for (const body of table.querySelectorAll(':scope > tbody')) body.remove();
  table.insertAdjacentHTML('beforeend', rows);
  const head = table.querySelector('thead');
  const columns = TABLE_COLUMNS[id];
  if (head && columns) head.innerHTML = renderHead(columns, sortOf(id, p));
  applyFilter(id, p);
}

function applyFilter(id: string, p: URLSearchParams): void {
  const table = document.getElementById(id);
  if (!table) return;
  const text = (p.get(`q.${id}`) ?? '').trim().toLowerCase();
  const facets = p.getAll(`f.${id}`).map((v) => v.split(':') as [string, string]);
  // Facets of the same name widen (OR); different names narrow (AND).
  const byName = new Map<string, string[]>();
  for (const [name, value] of facets) byName.set(name, [...(byName.get(name) ?? []), value]);
  let shown = 0;
  for (const body of table.querySelectorAll<HTMLElement>(':scope > tbody[data-row]')) {
    const matchesText = text === '' || (body.dataset.search ?? '').includes(text);
    const matchesFacets = [...byName].every(([name, values]) => values.includes(body.getAttribute(`data-${name}`) ?? ''));
    body.hidden = !(matchesText && matchesFacets);
    if (!body.hidden) shown++;
  }
  const empty = document.querySelector<HTMLElement>(`[data-empty-for="${CSS.escape(id)}"]`);
  if (empty) empty.hidden = shown > 0;
}

function setExpanded(button: HTMLButtonElement, open: boolean): void {
  button.setAttribute('aria-expanded', String(open));
  const arrow = button.querySelector('[aria-hidden]');
  if (arrow) arrow.textContent = open ? '▾' : '▸';
  const body = button.closest('tbody');
  for (const row of body?.querySelectorAll<HTMLElement>('tr.ips') ?? []) row.hidden = !open;
}

function reopen(p: URLSearchParams): void {
  const open = new Set(p.getAll('open'));
  for (const button of document.querySelectorAll<HTMLButtonElement>('button[data-expand]'))
    setExpanded(button, open.has(button.dataset.expand as string));
}

function updatePicker(spec: WindowSpec, range: DayRange, days: readonly string[]): void {
  for (const link of document.querySelectorAll<HTMLElement>('[data-preset]'))
    link.setAttribute('aria-pressed', String('preset' in spec && spec.preset === link.dataset.preset));
  for (const label of document.querySelectorAll('[data-range-label]')) label.textContent = range.label;
  const form = document.querySelector<HTMLFormElement>('[data-custom-range]');
  if (form) {
    (form.elements.namedItem('from') as HTMLInputElement).value = days[range.start] ?? '';
    (form.elements.namedItem('to') as HTMLInputElement).value = days[range.end] ?? '';
  }
}

async function redrawChart(days: string[], range: DayRange, daily: Tally[]): Promise<void> {
  const figure = document.querySelector<HTMLElement>('[data-chart-figure]');
  if (!figure) return;
  const rows = figure.querySelector('[data-daily-rows]');
  if (rows) rows.innerHTML = dailyTableRows(days, range, daily);
  const { categoryBars, passRateLine } = await import('../lib/charts.ts');
  const windowDays = days.slice(range.start, range.end + 1);
  const label = figure.dataset.chartLabel ?? 'Messages per day by category';
  figure.querySelector('[data-chart="bars"]')?.replaceChildren(categoryBars(windowDays, daily, { document, label }));
  if (figure.dataset.passLine === 'yes')
    figure
      .querySelector('[data-chart="rate"]')
      ?.replaceChildren(passRateLine(windowDays, daily, { document, label: `DMARC pass rate per day, ${label}` }));
}

async function redrawTlsChart(days: string[], range: DayRange, daily: TlsTally[]): Promise<void> {
  const figure = document.querySelector<HTMLElement>('[data-tls-chart-figure]');
  if (!figure) return;
  const rows = figure.querySelector('[data-tls-daily-rows]');
  if (rows) rows.innerHTML = tlsDailyTableRows(days, range, daily);
  const { tlsFailedBars, tlsSessionBars } = await import('../lib/charts.ts');
  const windowDays = days.slice(range.start, range.end + 1);
  const label = figure.dataset.chartLabel ?? 'TLS sessions per day';
  figure.querySelector('[data-chart="tls-sessions"]')?.replaceChildren(tlsSessionBars(windowDays, daily, { document, label }));
  figure
    .querySelector('[data-chart="tls-failed"]')
    ?.replaceChildren(tlsFailedBars(windowDays, daily, { document, label: `Failed TLS sessions per day, ${label}` }));
}
