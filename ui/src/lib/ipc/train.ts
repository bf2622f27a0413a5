/**
 * Training (`src-tauri/src/commands/train.rs`): a run folder per start, events streamed over a
 * channel, pause / resume / cancel, and the run history.
 */
import { call, channel, type Sparse } from './core';
import type { LoraSettings, RunComparison, RunEvent, RunInfo, StartedRun, TrainConfig } from './generated';
import type { MixSpec } from './mix';

/**
 * `run.toml`'s keys as the form sets them: the model, and any others (left out: the engine's
 * defaults; the engine rejects unknown keys). The shell fills in `mixture` and `output_dir`.
 */
export type TrainConfigKeys = Sparse<Omit<TrainConfig, 'mixture' | 'output_dir' | 'lora'>, 'model'> & {
  lora?: Sparse<LoraSettings>;
};

/** `start_training`'s spec. */
export interface TrainSpec {
  mix: MixSpec;
  config: TrainConfigKeys;
}

/** What a `RunEvent` is, by its `kind` tag. */
export type RunEventKind = RunEvent['kind'];

/** Writes the run folder and starts training; every event goes to `onEvent`. */
export const startTraining = (spec: TrainSpec, onEvent: (event: RunEvent) => void) =>
  call<StartedRun>('start_training', { spec, onEvent: channel(onEvent) });
export const pauseTraining = (runId: string) => call<void>('pause_training', { runId });
export const resumeTraining = (runId: string) => call<void>('resume_training', { runId });
export const cancelTraining = (runId: string) => call<void>('cancel_training', { runId });
/**
 * Continues a run from its newest intact checkpoint (after a crash, a cancel or an app
 * restart), as `mixtune train --resume`; every new event goes to `onEvent`.
 */
export const resumeRun = (runId: string, onEvent: (event: RunEvent) => void) =>
  call<StartedRun>('resume_run', { runId, onEvent: channel(onEvent) });

/** Every run under the runs folder. */
export const listRuns = () => call<RunInfo[]>('list_runs');

/** A run's recorded events (its `metrics.jsonl`). */
export const runEvents = (runId: string) => call<RunEvent[]>('run_events', { runId });

/** Runs side by side: the config keys that differ and the best metrics (two or more ids). */
export const compareRuns = (runIds: string[]) => call<RunComparison>('compare_runs', { runIds });
