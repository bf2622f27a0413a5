/** Evaluation (`src-tauri/src/commands/eval.rs`): ROUGE of a model, optionally against a base. */
import { call, channel, type Sparse } from './core';
import type { EvalReport, EvalRequest, Progress } from './generated';

/** `EvalRequest` as the page sends it: keys left out take the engine's defaults. */
export type EvalRequestKeys = Sparse<EvalRequest, 'model' | 'data'>;

/** Generates for every example and scores it; cancellable with `cancelTask(taskId)`. */
export const evaluate = (request: EvalRequestKeys, onProgress: (p: Progress) => void, taskId?: string) =>
  call<EvalReport>('evaluate', { request, onProgress: channel(onProgress), taskId: taskId ?? null });

export const exportEvalCsv = (report: EvalReport, path: string) => call<void>('export_eval_csv', { report, path });
