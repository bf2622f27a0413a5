/** Which page is shown, kept in the URL hash (`#/train`) so a reload stays on it. */
import { notices } from './notices.svelte';

export const PAGES = [
  { id: 'models', label: 'Models' },
  { id: 'datasets', label: 'Datasets' },
  { id: 'mix', label: 'Task mix' },
  { id: 'train', label: 'Train' },
  { id: 'compare', label: 'Compare runs' },
  { id: 'evaluate', label: 'Evaluate' },
  { id: 'summarize', label: 'Summarize' },
] as const;

export type PageId = (typeof PAGES)[number]['id'];

export function pageFromHash(hash: string): PageId {
  const id = hash.replace(/^#\/?/, '');
  return PAGES.find((p) => p.id === id)?.id ?? 'models';
}

class Nav {
  page = $state<PageId>(typeof location === 'undefined' ? 'models' : pageFromHash(location.hash));

  go(page: PageId): void {
    // A passing message belongs to the page it came from.
    if (page !== this.page) notices.clearInfo();
    this.page = page;
    if (typeof location !== 'undefined' && location.hash !== `#/${page}`) location.hash = `#/${page}`;
  }

  /** Follows back/forward and typed hashes. */
  listen(): () => void {
    const onHash = () => (this.page = pageFromHash(location.hash));
    window.addEventListener('hashchange', onHash);
    return () => window.removeEventListener('hashchange', onHash);
  }
}

export const nav = new Nav();
