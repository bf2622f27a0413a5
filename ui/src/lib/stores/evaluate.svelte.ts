/** Evaluate page state: the request, progress, cancellation and the report's views. */
import * as ipc from '../ipc';
import type { EvalReport, Progress } from '../ipc';
import {
  exampleRows,
  examplesCsv,
  filterRows,
  generationTimes,
  scoreTable,
  sortRows,
  type SortDirection,
  type SortKey,
} from '../eval';
import { models } from './models.svelte';
import { newTaskId } from '../format';
import { notices } from './notices.svelte';

export class EvaluateStore {
  model = $state('');
  compare = $state('');
  data = $state('');
  template = $state('dialogue_summary');
  limit = $state<number | null>(100);
  maxNewTokens = $state(64);
  numBeams = $state(1);
  running = $state(false);
  progress = $state<Progress | null>(null);
  taskId = $state<string | null>(null);
  report = $state.raw<EvalReport | null>(null);
  query = $state('');
  sortKey = $state<SortKey>('id');
  sortDirection = $state<SortDirection>('asc');

  /** Models by the names the Models page shows (their folders on hover). */
  get scores() {
    return this.report ? scoreTable(this.report, models.models) : [];
  }

  /** Each model's generation time, by name. */
  get times(): string {
    return this.report ? generationTimes(this.report, models.models) : '';
  }

  get rows() {
    if (!this.report) return [];
    return sortRows(filterRows(exampleRows(this.report), this.query), this.sortKey, this.sortDirection);
  }

  get compared(): boolean {
    return (this.report?.models.length ?? 0) >= 2;
  }

  get csv(): string {
    return examplesCsv(this.rows, this.compared);
  }

  /** Clicking a column header: sort by it, or flip the direction when it is the current one. */
  sortBy(key: SortKey): void {
    if (this.sortKey === key) this.sortDirection = this.sortDirection === 'asc' ? 'desc' : 'asc';
    else {
      this.sortKey = key;
      this.sortDirection = key === 'id' ? 'asc' : 'desc';
    }
  }

  get problems(): string[] {
    const problems: string[] = [];
    if (!this.model) problems.push('Choose the fine-tuned model');
    if (!this.data.trim()) problems.push('Choose a data file');
    return problems;
  }

  async run(): Promise<void> {
    if (this.running) return;
    if (this.problems.length) {
      notices.error(this.problems.join('; '));
      return;
    }
    const taskId = newTaskId('eval');
    this.taskId = taskId;
    this.running = true;
    this.progress = { done: 0, total: 0 };
    try {
      this.report = await ipc.evaluate(
        {
          model: this.model,
          compare: this.compare ? [this.compare] : undefined,
          data: this.data.trim(),
          template: this.template || undefined,
          limit: this.limit ?? undefined,
          max_new_tokens: this.maxNewTokens,
          num_beams: this.numBeams,
        },
        (p) => {
          if (this.taskId === taskId) this.progress = p;
        },
        taskId,
      );
    } catch (error) {
      notices.error(error, 'Evaluation');
    } finally {
      if (this.taskId === taskId) {
        this.running = false;
        this.taskId = null;
      }
    }
  }

  async cancel(): Promise<void> {
    if (!this.taskId) return;
    try {
      await ipc.cancelTask(this.taskId);
    } catch (error) {
      notices.error(error, 'Cancelling');
    }
  }

  async pickData(): Promise<void> {
    try {
      const path = await ipc.pickDataFile();
      if (path) this.data = path;
    } catch (error) {
      notices.error(error);
    }
  }

  /** Writes the whole report through the shell's `export_eval_csv`. */
  async exportCsv(): Promise<void> {
    if (!this.report) return;
    try {
      const path = await ipc.pickCsvSavePath('evaluation.csv');
      if (!path) return;
      await ipc.exportEvalCsv(this.report, path);
      notices.info(`Saved ${path}`);
    } catch (error) {
      notices.error(error, 'Exporting CSV');
    }
  }

  /** Copies the filtered, sorted rows as CSV. */
  async copyCsv(): Promise<void> {
    try {
      await navigator.clipboard.writeText(this.csv);
      notices.info(`Copied ${this.rows.length} rows as CSV`);
    } catch (error) {
      notices.error(error, 'Copying CSV');
    }
  }
}

export const evaluation = new EvaluateStore();
