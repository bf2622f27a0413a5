/**
 * Preparing GPU kernels ahead of a run (`src-tauri/src/commands/gpu.rs`, `mixtune prepare-gpu
 * --config`): how far a run of the Train page's settings is prepared on this machine, and
 * preparing the rest (cancel with `cancelTask`).
 */
import { call, channel } from './core';
import type { GpuPreparation, PrepareProgress, PrepareSummary } from './generated';
import type { TrainSpec } from './train';

/** How many of the run's shapes this machine has prepared (nothing runs). */
export const gpuPreparation = (spec: TrainSpec) => call<GpuPreparation>('gpu_preparation', { spec });

/** Prepares the run's shapes not yet prepared; each step's start and end go to `onEvent`. */
export const prepareGpu = (spec: TrainSpec, taskId: string, onEvent: (event: PrepareProgress) => void) =>
  call<PrepareSummary>('prepare_gpu', { spec, taskId, onEvent: channel(onEvent) });
