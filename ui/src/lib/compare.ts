/**
 * Comparing runs (the Compare page): each run's events folded as on the Train page, then
 * overlaid one line per run on a shared step axis; the engine's config diff and best
 * metrics as table rows. Pure data: no Svelte, no IPC.
 */
import type { MeanRouge, RunComparison, RunEvent } from './ipc';
import { formatDelta, formatRouge } from './format';
import { alignSeries, downsamplePairs, MAX_CHART_POINTS, replay, type ChartSeries, type RougeKey, type RunState } from './training';

/** Names an eval event may give its invented-facts rate (the engine's `FACTS_KEYS`). */
export const FACTS_KEYS = ['invented_rate', 'invented_facts_rate', 'invented_facts', 'facts_rate'] as const;

/** One compared run: its folded events and its invented-facts curve (empty without one). */
export interface RunCurves {
  id: string;
  run: RunState;
  facts: { x: number[]; y: (number | null)[] };
}

function factsOf(value: unknown): number | null {
  if (typeof value !== 'object' || value === null) return null;
  const fields = value as Record<string, unknown>;
  for (const key of FACTS_KEYS) {
    const v = fields[key];
    if (typeof v === 'number' && Number.isFinite(v)) return v;
  }
  return null;
}

/**
 * The invented-facts rate of each eval event that carries one: the pass's own, else the
 * mean of its tasks'. Later events at the same step (a resumed run) win.
 */
export function factsCurve(events: RunEvent[]): { x: number[]; y: (number | null)[] } {
  const byStep = new Map<number, number>();
  for (const event of events) {
    if (event.kind !== 'eval') continue;
    let rate = factsOf(event);
    if (rate === null) {
      const rates = Object.values(event.tasks)
        .map(factsOf)
        .filter((r): r is number => r !== null);
      if (rates.length > 0) rate = rates.reduce((a, b) => a + b, 0) / rates.length;
    }
    if (rate !== null) byStep.set(event.step, rate);
  }
  const x = [...byStep.keys()].sort((a, b) => a - b);
  return { x, y: x.map((s) => byStep.get(s)!) };
}

/** Folds one run's stored events. */
export function runCurves(id: string, events: RunEvent[]): RunCurves {
  return { id, run: replay(events), facts: factsCurve(events) };
}

/** What an overlaid chart shows. */
export type OverlayMetric = 'loss' | 'val_loss' | 'rouge' | 'facts';

/** One line per run, coloured in run order. */
export function overlaySeries(runs: RunCurves[], points = false): ChartSeries[] {
  return runs.map((r, i) => ({ label: r.id, color: `--chart-${(i % 5) + 1}`, points }));
}

/** The (step, value) pairs of one run for `metric` (`task` and `key` for ROUGE). */
export function curveOf(r: RunCurves, metric: OverlayMetric, task = '', key: RougeKey = 'rougeL') {
  switch (metric) {
    case 'loss':
      return downsamplePairs(r.run.steps, r.run.loss, MAX_CHART_POINTS);
    case 'val_loss':
      return { x: r.run.evalSteps, y: r.run.valLoss };
    case 'rouge':
      return { x: r.run.evalSteps, y: r.run.rouge[task]?.[key] ?? r.run.evalSteps.map(() => null) };
    case 'facts':
      return r.facts;
  }
}

/** uPlot data for `metric`: the union of the runs' steps, each run's line null where it has no point. */
export function overlayData(runs: RunCurves[], metric: OverlayMetric, task = '', key: RougeKey = 'rougeL'): (number | null)[][] {
  if (runs.length === 0) return [[]];
  return alignSeries(...runs.map((r) => curveOf(r, metric, task, key)));
}

/** Every task any run validated, sorted. */
export function overlayTasks(runs: RunCurves[]): string[] {
  return [...new Set(runs.flatMap((r) => Object.keys(r.run.rouge)))].sort();
}

/** Whether any run logged an invented-facts rate. */
export function hasFacts(runs: RunCurves[]): boolean {
  return runs.some((r) => r.facts.x.length > 0);
}

/** One row of the config-diff table. */
export interface DiffRow {
  key: string;
  /** Each run's value as shown; an em dash where a run does not set it. */
  values: string[];
  /** Per run: whether its value differs from the first run's. */
  changed: boolean[];
}

/** The engine's config diff as table rows, optionally only keys matching `filter`. */
export function diffRows(comparison: RunComparison, filter = ''): DiffRow[] {
  const needle = filter.trim().toLowerCase();
  return comparison.config_diff
    .filter((d) => !needle || d.key.toLowerCase().includes(needle))
    .map((d) => ({
      key: d.key,
      values: d.values.map((v) => v ?? '—'),
      changed: d.values.map((v) => v !== d.values[0]),
    }));
}

/** One row of the best-metrics table. */
export interface BestRow {
  label: string;
  values: string[];
  /** Index of the best run on this row (lowest loss or rate, highest ROUGE), or null. */
  best: number | null;
}

const fixed = (v: number | null | undefined, digits = 4) => (v === null || v === undefined ? '—' : v.toFixed(digits));
const pct = (v: number | null | undefined) => (v === null || v === undefined ? '—' : `${(v * 100).toFixed(1)}%`);

function bestIndex(values: (number | null | undefined)[], higher: boolean): number | null {
  let best: number | null = null;
  values.forEach((v, i) => {
    if (v === null || v === undefined) return;
    const current = best === null ? null : values[best];
    if (current === null || current === undefined || (higher ? v > current : v < current)) best = i;
  });
  // A row where only one run has a value, or where runs tie for the best, has no winner.
  const present = values.filter((v): v is number => v !== null && v !== undefined);
  if (best === null || present.length < 2) return null;
  const top = values[best];
  return present.filter((v) => v === top).length > 1 ? null : best;
}

const ROUGE_ROWS: [string, keyof MeanRouge][] = [
  ['ROUGE-1', 'rouge1'],
  ['ROUGE-2', 'rouge2'],
  ['ROUGE-L', 'rougeL'],
  ['ROUGE-Lsum', 'rougeLsum'],
];

/** The best metrics side by side, as `mixtune runs --compare` prints them. */
export function bestRows(comparison: RunComparison): BestRow[] {
  const runs = comparison.runs;
  const rows: BestRow[] = [];
  const add = (label: string, raw: (number | null | undefined)[], format: (v: number | null | undefined) => string, higher: boolean) =>
    rows.push({ label, values: raw.map(format), best: bestIndex(raw, higher) });
  rows.push({ label: 'status', values: runs.map((r) => r.status), best: null });
  rows.push({ label: 'steps', values: runs.map((r) => `${r.best.steps} / ${r.best.total_steps}`), best: null });
  add('last loss', runs.map((r) => r.best.last_loss), (v) => fixed(v), false);
  add('best val loss', runs.map((r) => r.best.best_val_loss), (v) => fixed(v), false);
  for (const [label, key] of ROUGE_ROWS) {
    add(`best ${label}`, runs.map((r) => r.best.rouge?.[key]), formatRouge, true);
  }
  const tasks = [...new Set(runs.flatMap((r) => Object.keys(r.best.tasks)))].sort();
  for (const task of tasks) {
    add(`${task} ROUGE-L`, runs.map((r) => r.best.tasks[task]?.rougeL), formatRouge, true);
  }
  if (runs.some((r) => r.best.forgetting)) {
    // The worst task's ROUGE-L change since the step-0 pass: higher (less lost) is better.
    const worst = runs.map((r) => (r.best.forgetting?.tasks.length ? Math.min(...r.best.forgetting.tasks.map((t) => t.delta)) : null));
    add('forgetting (worst ROUGE-L change)', worst, (v) => (v === null || v === undefined ? '—' : formatDelta(v)), true);
  }
  if (runs.some((r) => r.best.invented_facts_rate !== null)) {
    add('invented facts', runs.map((r) => r.best.invented_facts_rate), pct, false);
  }
  return rows;
}
