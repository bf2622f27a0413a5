/**
 * Preparing a run's GPU kernels ahead of it, as the Train page says it: the line before Start
 * (how far this machine has prepared the settings' shapes) and a running preparation's
 * progress, folded from the shell's `PrepareProgress` events.
 */
import type { GpuPreparation, PrepareProgress, PrepareSummary, Work } from './ipc';
import { formatDuration } from './training';

/** A step of a preparation: `training step 8×512→128 tokens`, `generation 1×256 tokens`. */
export function prepareStepLabel(work: Work, [batch, length, other]: [number, number, number]): string {
  return work === 'train' ? `training step ${batch}×${length}→${other} tokens` : `generation ${batch}×${length} tokens`;
}

/** Steps of a preparation plan: its training shapes and its generations. */
export function planSteps(status: GpuPreparation): number {
  return status.training_shapes + status.generations;
}

/** Whether Prepare has anything to do for `status` (on a GPU, steps not yet prepared). */
export function needsPreparation(status: GpuPreparation | null): boolean {
  return status !== null && status.on_gpu && status.prepared < planSteps(status);
}

/**
 * What the Train page says of the settings' GPU kernels before Start; `null` on the CPU,
 * which compiles none.
 */
export function preparationLine(status: GpuPreparation): string | null {
  if (!status.on_gpu) return null;
  const total = planSteps(status);
  const kept = status.keeps_tuning
    ? ''
    : ' This build keeps no tuning results between launches (it was built without `gpu-cache`, which scripts/setup.sh builds with), so only the driver’s own pipeline cache outlasts the app.';
  if (status.prepared >= total) {
    return `GPU kernels for these settings are prepared on ${status.device} (${total} of ${total} shapes): a run’s first steps load them from the caches.${kept}`;
  }
  const done = status.prepared === 0 ? 'not prepared yet' : `prepared for ${status.prepared} of ${total} shapes`;
  return `GPU kernels for these settings are ${done} on ${status.device}: a run’s first step on each new batch shape compiles and tunes them first (a minute or more, once per machine). Prepare does it ahead for all ${total} shapes (${status.training_shapes} training, ${status.generations} generation).${kept}`;
}

/** A running preparation, as the Train page shows it. */
export interface PrepareState {
  /** Steps of the plan, and those finished (run now or found prepared). */
  total: number;
  finished: number;
  /** Steps run now, and those an earlier run or preparation had done. */
  ran: number;
  skipped: number;
  /** The step running now (`null` between steps). */
  current: string | null;
}

export function emptyPrepare(): PrepareState {
  return { total: 0, finished: 0, ran: 0, skipped: 0, current: null };
}

/** `state` after one event of the preparation (a new object). */
export function foldPrepare(state: PrepareState, event: PrepareProgress): PrepareState {
  if (event.kind === 'starting') {
    return { ...state, total: event.total, current: prepareStepLabel(event.work, event.shape) };
  }
  const skipped = event.outcome.kind === 'already_prepared';
  return {
    ...state,
    finished: state.finished + 1,
    ran: state.ran + (skipped ? 0 : 1),
    skipped: state.skipped + (skipped ? 1 : 0),
    current: null,
  };
}

/** What the page says while a step runs: `Preparing training step 8×512→128 tokens (3 of 22)…`. */
export function prepareProgressLine(state: PrepareState): string {
  const at = Math.min(state.finished + 1, Math.max(state.total, 1));
  return state.current
    ? `Preparing ${state.current} (${at} of ${state.total}): compiling and tuning its kernels…`
    : `Preparing GPU kernels (${state.finished} of ${state.total} done)…`;
}

/** The notice when a preparation ends. */
export function preparedMessage(summary: PrepareSummary): string {
  const skipped = summary.skipped > 0 ? ` (${summary.skipped} already prepared)` : '';
  return `Prepared GPU kernels for ${summary.prepared} shape${summary.prepared === 1 ? '' : 's'} in ${formatDuration(summary.seconds)}${skipped}: runs of these settings start on them.`;
}
