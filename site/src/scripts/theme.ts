/** The theme switch: system → light → dark, remembered in localStorage. */
const ORDER = ['system', 'light', 'dark'] as const;
type Theme = (typeof ORDER)[number];
const LABELS: Record<Theme, string> = { system: 'System', light: 'Light', dark: 'Dark' };

function current(): Theme {
  const value = document.documentElement.dataset.theme;
  return value === 'light' || value === 'dark' ? value : 'system';
}

function apply(theme: Theme, button: HTMLElement): void {
  if (theme === 'system') delete document.documentElement.dataset.theme;
  else document.documentElement.dataset.theme = theme;
  try {
    if (theme === 'system') localStorage.removeItem('dmarcops-theme');
    else localStorage.setItem('dmarcops-theme', theme);
  } catch {
    // Storage can be disabled; the theme still applies to this page.
  }
  button.setAttribute('aria-label', `Colour theme: ${LABELS[theme]}`);
  const label = button.querySelector('[data-theme-label]');
  if (label) label.textContent = LABELS[theme];
}

export function initTheme(): void {
  const button = document.querySelector<HTMLElement>('[data-theme-toggle]');
  if (!button) return;
  apply(current(), button);
  button.addEventListener('click', () => apply(ORDER[(ORDER.indexOf(current()) + 1) % ORDER.length] as Theme, button));
}
