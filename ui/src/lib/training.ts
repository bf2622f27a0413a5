/**
 * Folding a run's events (live from the Channel, or replayed from `metrics.jsonl` through
 * `run_events`) into chart series and status. Pure data: no Svelte, no IPC.
 */
import { formatRouge } from './format';
import type { ForgettingReport, RunEvent, RunStatus as HistoryStatus, RunSummary, SamplePrediction, TaskEval } from './ipc';

/** One line of a chart. */
export interface ChartSeries {
  label: string;
  /** CSS variable name (`--chart-1`) or colour. */
  color: string;
  dash?: number[];
  points?: boolean;
}

/** A shown run's status: the engine's (`RunStatus` of the history), or not started yet. */
export type RunStatus = 'idle' | 'starting' | HistoryStatus;

export const ROUGE_KEYS = ['rouge1', 'rouge2', 'rougeL', 'rougeLsum'] as const;
export type RougeKey = (typeof ROUGE_KEYS)[number];

export interface RunState {
  status: RunStatus;
  device: string | null;
  outputDir: string | null;
  totalSteps: number;
  /** Step the latest (re)start began from. */
  startStep: number;
  /** Latest optimizer step reported. */
  step: number;
  etaS: number | null;
  elapsedS: number;
  epoch: number;
  trainableParameters: number | null;
  totalParameters: number | null;
  /** Per optimizer step reported (x = step). */
  steps: number[];
  loss: number[];
  learningRate: number[];
  tokensPerS: number[];
  gradNorm: number[];
  examplesPerTask: Record<string, number>;
  /** f16 runs: the latest loss scale and the steps skipped for overflowing gradients (null in f32). */
  lossScale: { scale: number; skippedSteps: number } | null;
  /** Per validation pass (x = step). */
  evalSteps: number[];
  valLoss: number[];
  /** Whether each pass was the best so far (by the config's `best_metric`). */
  evalBest: boolean[];
  /** Task -> ROUGE variant -> values aligned with `evalSteps` (null where the task was missing). */
  rouge: Record<string, Record<RougeKey, (number | null)[]>>;
  /** Tasks of `rouge` that are `[[watch]]` tasks: scored, never trained on. */
  watched: string[];
  /** The latest forgetting report: every task's ROUGE-L from the baseline pass to now. */
  forgetting: ForgettingReport | null;
  /** Every pass's report, so a resumed run falls back to the one before its checkpoint. */
  forgettingHistory: ForgettingReport[];
  bestStep: number | null;
  samples: SamplePrediction[];
  checkpoints: { step: number; path: string }[];
  summary: RunSummary | null;
  message: string | null;
  /** What the run said at its start: a damaged checkpoint skipped, validation it cannot run. */
  notes: string[];
  /** While the GPU prepares kernels for a new batch shape (before the step that needs them). */
  preparing: string | null;
  /** Bumped on every change; charts redraw when it moves. */
  version: number;
}

export function emptyRun(): RunState {
  return {
    status: 'idle',
    device: null,
    outputDir: null,
    totalSteps: 0,
    startStep: 0,
    step: 0,
    etaS: null,
    elapsedS: 0,
    epoch: 0,
    trainableParameters: null,
    totalParameters: null,
    steps: [],
    loss: [],
    learningRate: [],
    tokensPerS: [],
    gradNorm: [],
    examplesPerTask: {},
    lossScale: null,
    evalSteps: [],
    valLoss: [],
    evalBest: [],
    rouge: {},
    watched: [],
    forgetting: null,
    forgettingHistory: [],
    bestStep: null,
    samples: [],
    checkpoints: [],
    summary: null,
    message: null,
    notes: [],
    preparing: null,
    version: 0,
  };
}

/** Index of the first entry of sorted `xs` that is >= `step`. */
function firstAtOrAfter(xs: number[], step: number): number {
  let lo = 0;
  let hi = xs.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (xs[mid] < step) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Drops every point at step >= `step`: a resumed run replays steps after its checkpoint, so
 * `metrics.jsonl` may hold the same steps twice; the later ones win.
 */
function truncateFrom(run: RunState, step: number): void {
  const s = firstAtOrAfter(run.steps, step);
  if (s < run.steps.length) {
    for (const series of [run.steps, run.loss, run.learningRate, run.tokensPerS, run.gradNorm]) {
      series.length = s;
    }
  }
  const e = firstAtOrAfter(run.evalSteps, step);
  if (e < run.evalSteps.length) {
    run.evalSteps.length = e;
    run.valLoss.length = e;
    run.evalBest.length = e;
    for (const variants of Object.values(run.rouge)) {
      for (const key of ROUGE_KEYS) variants[key].length = e;
    }
    const best = run.evalBest.lastIndexOf(true);
    run.bestStep = best < 0 ? null : run.evalSteps[best];
  }
  run.forgettingHistory = run.forgettingHistory.filter((r) => r.step < step);
  if (run.forgetting && run.forgetting.step >= step) run.forgetting = run.forgettingHistory.at(-1) ?? null;
  run.checkpoints = run.checkpoints.filter((c) => c.step < step);
}

function addEval(run: RunState, tasks: Record<string, TaskEval>): void {
  const index = run.evalSteps.length - 1;
  for (const name of Object.keys(tasks)) {
    if (!run.rouge[name]) {
      run.rouge[name] = {
        rouge1: [],
        rouge2: [],
        rougeL: [],
        rougeLsum: [],
      };
    }
  }
  for (const [name, variants] of Object.entries(run.rouge)) {
    const task = tasks[name];
    for (const key of ROUGE_KEYS) {
      while (variants[key].length < index) variants[key].push(null);
      variants[key][index] = task ? task[key] : null;
    }
  }
}

/** What the Train page says while a new batch shape's GPU kernels are prepared. */
export function preparingMessage(event: { batch: number; source_len: number; target_len: number; cached: boolean }): string {
  const shape = `${event.batch}×${event.source_len}→${event.target_len} tokens`;
  return event.cached
    ? `Loading GPU kernels for batch shape ${shape} (prepared by an earlier run)…`
    : `Preparing GPU kernels for batch shape ${shape}: first use on this GPU only, compiled and tuned once, then cached…`;
}

/** Applies one event to `run` in place and returns it. */
export function foldEvent(run: RunState, event: RunEvent): RunState {
  switch (event.kind) {
    case 'started':
      truncateFrom(run, event.start_step + 1);
      run.status = 'running';
      run.device = event.device;
      run.outputDir = event.output_dir;
      run.totalSteps = event.total_steps;
      run.startStep = event.start_step;
      run.step = event.start_step;
      run.trainableParameters = event.trainable_parameters;
      run.totalParameters = event.total_parameters;
      run.notes = event.notes;
      run.summary = null;
      run.message = null;
      run.etaS = null;
      break;
    case 'preparing_kernels':
      run.preparing = preparingMessage(event);
      break;
    case 'step': {
      run.preparing = null;
      const last = run.steps[run.steps.length - 1];
      if (last !== undefined && event.step <= last) truncateFrom(run, event.step);
      run.steps.push(event.step);
      run.loss.push(event.loss);
      run.learningRate.push(event.learning_rate);
      run.tokensPerS.push(event.tokens_per_s);
      run.gradNorm.push(event.grad_norm);
      run.step = event.step;
      run.examplesPerTask = { ...event.examples_per_task };
      run.etaS = event.eta_s ?? null;
      run.lossScale = event.loss_scale ? { scale: event.loss_scale.scale, skippedSteps: event.loss_scale.skipped_steps } : null;
      run.elapsedS = event.elapsed_s ?? run.elapsedS;
      run.epoch = event.epoch ?? run.epoch;
      if (run.status !== 'paused') run.status = 'running';
      break;
    }
    case 'eval': {
      const last = run.evalSteps[run.evalSteps.length - 1];
      if (last !== undefined && event.step <= last) truncateFrom(run, event.step);
      run.evalSteps.push(event.step);
      run.valLoss.push(event.val_loss);
      run.evalBest.push(event.best);
      const watched = event.watched ?? {};
      addEval(run, { ...event.tasks, ...watched });
      for (const name of Object.keys(watched)) {
        if (!run.watched.includes(name)) run.watched = [...run.watched, name].sort();
      }
      if (event.forgetting) run.forgettingHistory = [...run.forgettingHistory, event.forgetting];
      run.forgetting = event.forgetting ?? null;
      if (event.best) run.bestStep = event.step;
      run.samples = event.samples;
      break;
    }
    case 'checkpoint':
      run.checkpoints = [...run.checkpoints.filter((c) => c.step !== event.step), { step: event.step, path: event.path }];
      break;
    case 'paused':
      run.status = 'paused';
      run.step = Math.max(run.step, event.step);
      // No estimate while nothing runs; the next step gives a new one.
      run.etaS = null;
      break;
    case 'resumed':
      run.status = 'running';
      break;
    case 'config_changed':
      run.notes = [...run.notes, `config changed at step ${event.step}: ${event.changes.join('; ')}`];
      break;
    case 'finished': {
      const { kind: _kind, ...summary } = event;
      run.status = 'finished';
      run.summary = summary;
      if (summary.forgetting) run.forgetting = summary.forgetting;
      run.step = Math.max(run.step, event.steps);
      run.etaS = null;
      break;
    }
    case 'cancelled':
      run.status = 'cancelled';
      run.etaS = null;
      run.message = event.checkpoint
        ? `Cancelled at step ${event.step}; resumable from ${event.checkpoint}`
        : `Cancelled at step ${event.step}`;
      break;
    case 'failed':
      run.status = 'failed';
      run.etaS = null;
      run.message = event.message;
      break;
  }
  if (event.kind === 'finished' || event.kind === 'cancelled' || event.kind === 'failed') run.preparing = null;
  run.version += 1;
  return run;
}

/** A run rebuilt from its stored events (page reopened). */
export function replay(events: RunEvent[]): RunState {
  const run = emptyRun();
  for (const event of events) foldEvent(run, event);
  return run;
}

/** Whether the run can still be paused, resumed or cancelled. */
export function isActive(status: RunStatus): boolean {
  return status === 'starting' || status === 'running' || status === 'paused';
}

/** `1h 02m`, `3m 05s`, `45s`; an em dash when unknown. */
export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds) || seconds < 0) return '—';
  const total = Math.round(seconds);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  if (h > 0) return `${h}h ${String(m).padStart(2, '0')}m`;
  if (m > 0) return `${m}m ${String(s).padStart(2, '0')}s`;
  return `${s}s`;
}

/** `step 120 / 1000 (12%)`. */
export function stepLabel(run: Pick<RunState, 'step' | 'totalSteps'>): string {
  if (run.totalSteps <= 0) return `step ${run.step}`;
  const percent = Math.floor((100 * run.step) / run.totalSteps);
  return `step ${run.step} / ${run.totalSteps} (${percent}%)`;
}

/**
 * Series sampled at different steps (train loss every step, validation loss every N steps)
 * on one x axis for uPlot: the union of steps, null where a series has no point.
 */
export function alignSeries(
  ...series: { x: number[]; y: (number | null)[] }[]
): [number[], ...(number | null)[][]] {
  const xs = Array.from(new Set(series.flatMap((s) => s.x))).sort((a, b) => a - b);
  const position = new Map(xs.map((x, i) => [x, i]));
  const ys = series.map((s) => {
    const out: (number | null)[] = new Array(xs.length).fill(null);
    s.x.forEach((x, i) => {
      out[position.get(x)!] = s.y[i] ?? null;
    });
    return out;
  });
  return [xs, ...ys];
}

/** Keeps at most `max` points by striding (the last point always kept), for long runs. */
export function downsample<T>(values: T[], max: number): T[] {
  if (values.length <= max || max < 2) return values;
  const stride = (values.length - 1) / (max - 1);
  const out: T[] = [];
  for (let i = 0; i < max; i++) out.push(values[Math.round(i * stride)]);
  return out;
}

/** Calls `draw` at most once per animation frame however often `schedule` is called. */
export function rafThrottle(draw: () => void): { schedule: () => void; cancel: () => void } {
  let handle: number | null = null;
  return {
    schedule() {
      if (handle !== null) return;
      handle = requestAnimationFrame(() => {
        handle = null;
        draw();
      });
    },
    cancel() {
      if (handle !== null) cancelAnimationFrame(handle);
      handle = null;
    },
  };
}

/** At most `max` (x, y) pairs, evenly strided, first and last kept. */
export function downsamplePairs(x: number[], y: (number | null)[], max: number): { x: number[]; y: (number | null)[] } {
  if (x.length <= max) return { x, y };
  const idx = downsample(
    x.map((_, i) => i),
    max,
  );
  return { x: idx.map((i) => x[i]), y: idx.map((i) => y[i]) };
}

/** Points kept per chart line; more would only cost redraw time. */
export const MAX_CHART_POINTS = 2000;

/** Train loss (every logged step) and validation loss (every eval) on one x axis. */
export function lossChartData(run: RunState, max = MAX_CHART_POINTS) {
  return alignSeries(downsamplePairs(run.steps, run.loss, max), { x: run.evalSteps, y: run.valLoss });
}

export function singleSeriesData(x: number[], y: number[], max = MAX_CHART_POINTS): (number | null)[][] {
  const d = downsamplePairs(x, y, max);
  return [d.x, d.y];
}

/**
 * One line per task of the chosen ROUGE variant, x = eval steps: trained tasks first, then
 * the watched ones (`watched[i]` says which).
 */
export function rougeChartData(
  run: RunState,
  key: RougeKey,
): { tasks: string[]; watched: boolean[]; data: (number | null)[][] } {
  const names = Object.keys(run.rouge).sort();
  const tasks = [...names.filter((t) => !run.watched.includes(t)), ...names.filter((t) => run.watched.includes(t))];
  return {
    tasks,
    watched: tasks.map((t) => run.watched.includes(t)),
    data: [run.evalSteps, ...tasks.map((t) => run.rouge[t][key])],
  };
}

/** One sentence on a forgetting report: which tasks dropped by more than its threshold. */
export function forgettingVerdict(report: ForgettingReport): string {
  const dropped = report.tasks.filter((t) => t.dropped).map((t) => t.task);
  const threshold = `${formatRouge(report.threshold)} ROUGE-L points`;
  if (dropped.length === 0) return `No task dropped by more than ${threshold} since step ${report.baseline_step}.`;
  return `${dropped.length} of ${report.tasks.length} tasks dropped by more than ${threshold} since step ${report.baseline_step}: ${dropped.join(', ')}.`;
}
