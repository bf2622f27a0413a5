/** Compare page state: runs picked from the history, their comparison and overlaid curves. */
import * as ipc from '../ipc';
import type { RunComparison, RunInfo } from '../ipc';
import { runCurves, type RunCurves } from '../compare';
import { notices } from './notices.svelte';
import { training } from './training.svelte';

export class CompareStore {
  /** The run history: the Train page's, so a run's status is the same on both pages. */
  get runs(): RunInfo[] {
    return training.runs;
  }
  /** Run ids picked, in the order picked (the first is the reference column). */
  selected = $state<string[]>([]);
  comparison = $state.raw<RunComparison | null>(null);
  curves = $state.raw<RunCurves[]>([]);
  loading = $state(false);
  #request = 0;

  async refresh(): Promise<void> {
    await training.refreshRuns();
    const known = this.runs.map((r) => r.id);
    this.selected = this.selected.filter((id) => known.includes(id));
  }

  toggle(id: string): void {
    this.selected = this.selected.includes(id) ? this.selected.filter((s) => s !== id) : [...this.selected, id];
  }

  get canCompare(): boolean {
    return this.selected.length >= 2 && !this.loading;
  }

  /** Loads the comparison and every picked run's events. */
  async compare(): Promise<void> {
    if (this.selected.length < 2) return notices.error('Pick two or more runs to compare');
    const ids = [...this.selected];
    const request = ++this.#request;
    this.loading = true;
    try {
      const [comparison, events] = await Promise.all([
        ipc.compareRuns(ids),
        Promise.all(ids.map((id) => ipc.runEvents(id))),
      ]);
      if (request !== this.#request) return;
      this.comparison = comparison;
      this.curves = ids.map((id, i) => runCurves(id, events[i]));
    } catch (error) {
      notices.error(error, 'Comparing runs');
    } finally {
      if (request === this.#request) this.loading = false;
    }
  }
}

export const comparer = new CompareStore();
