/** Light/dark theme: follows `prefers-color-scheme` unless the user picked one. */
export type ThemeChoice = 'system' | 'light' | 'dark';
const KEY = 'mixtune.theme';

function stored(): ThemeChoice {
  try {
    const value = localStorage.getItem(KEY);
    return value === 'light' || value === 'dark' ? value : 'system';
  } catch {
    return 'system';
  }
}

function systemDark(): boolean {
  return typeof matchMedia === 'function' && matchMedia('(prefers-color-scheme: dark)').matches;
}

/** The next choice of the toggle: system -> light -> dark -> system. */
export function nextTheme(choice: ThemeChoice): ThemeChoice {
  return choice === 'system' ? 'light' : choice === 'light' ? 'dark' : 'system';
}

class Theme {
  choice = $state<ThemeChoice>(typeof localStorage === 'undefined' ? 'system' : stored());

  /** The theme in effect. */
  get effective(): 'light' | 'dark' {
    if (this.choice !== 'system') return this.choice;
    return systemDark() ? 'dark' : 'light';
  }

  toggle(): void {
    this.set(nextTheme(this.choice));
  }

  set(choice: ThemeChoice): void {
    this.choice = choice;
    try {
      if (choice === 'system') localStorage.removeItem(KEY);
      else localStorage.setItem(KEY, choice);
    } catch {
      // Storage may be unavailable; the choice still applies to this window.
    }
    this.apply();
  }

  /** Sets `data-theme` on the root element (CSS falls back to the media query without it). */
  apply(): void {
    if (typeof document === 'undefined') return;
    if (this.choice === 'system') delete document.documentElement.dataset.theme;
    else document.documentElement.dataset.theme = this.choice;
  }
}

export const theme = new Theme();
