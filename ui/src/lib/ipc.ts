/**
 * The only module that talks to the Tauri shell (docs/ipc.md). Every `invoke`, `Channel`,
 * `listen` and dialog call of the front end goes through here, so components and stores
 * never import `@tauri-apps/*` themselves and tests mock one place.
 *
 * Types mirror the engine's serde types; field names stay snake_case (the engine types have
 * no `rename_all`), while command *argument* names are camelCase (Tauri maps `run_id` to
 * `runId`).
 */
import { Channel, invoke } from '@tauri-apps/api/core';
import { listen, type UnlistenFn } from '@tauri-apps/api/event';
import { open as openDialog, save as saveDialog } from '@tauri-apps/plugin-dialog';

// ---------------------------------------------------------------- environment

export interface DeviceInfo {
  label: string;
  is_gpu: boolean;
}

export interface AppInfo {
  version: string;
  device: DeviceInfo;
  runs_dir: string;
  cache_dir: string;
}

// ---------------------------------------------------------------- models

export type ModelSource = 'cache' | 'folder' | 'run';

export interface ModelInfo {
  id: string;
  path: string;
  source: ModelSource;
  architecture: string;
  d_model: number;
  num_layers: number;
  num_decoder_layers: number;
  vocab_size: number;
  parameters: number;
  size_bytes: number;
}

export interface DownloadProgress {
  file: string;
  downloaded_bytes: number;
  total_bytes: number;
}

// ---------------------------------------------------------------- datasets (src/data, src/cli/data_cmd.rs)

/** `src/data/format.rs` `Format` (lowercase). */
export type DataFormat = 'jsonl' | 'json' | 'csv' | 'tsv' | 'parquet';
/** `src/data/chat.rs` `SpeakerStyle` (kebab-case). */
export type SpeakerStyle = 'keep' | 'person-tags';
/** `src/data/split.rs` `Split`. */
export type Split = 'train' | 'validation' | 'test';
/** `src/data/schema.rs` `SchemaKind`. */
export type SchemaKind = 'dialogsum' | 'dialogsum-multi' | 'samsum' | 'generic' | 'custom';

export interface Schema {
  kind: SchemaKind;
  /** Canonical field -> column. */
  fields: Record<string, string>;
  id_column: string | null;
  split_column: string | null;
}

export interface Location {
  row: number;
  line: number | null;
}

export interface DataRecord {
  id: string;
  split: Split;
  location: Location;
  fields: Record<string, string>;
}

/** `src/mixture/preview.rs` `Bucket`: lengths in `low..=high`, `high` null above the limit. */
export interface Bucket {
  low: number;
  high: number | null;
  count: number;
}

/** `src/mixture/preview.rs` `LengthStats`. */
export interface LengthStats {
  count: number;
  min: number;
  median: number;
  p95: number;
  max: number;
  mean: number;
  limit: number;
  over_limit: number;
  histogram: Bucket[];
}

/** `src/data/checks.rs` `Finding`. */
export interface Finding {
  count: number;
  example_ids: string[];
}

/** `src/data/checks.rs` `CheckReport`. */
export interface CheckReport {
  records: number;
  empty_fields: Record<string, Finding>;
  duplicates: Finding;
  split_overlap: Finding;
  cross_dataset_overlap: Finding;
  over_long_inputs: Finding;
  over_long_targets: Finding;
}

/** What `mixtune data inspect --json` prints (`src/cli/data_cmd.rs` `InspectReport`). */
export interface DatasetReport {
  file: string;
  format: DataFormat;
  columns: string[];
  schema: Schema;
  rows: number;
  splits: Record<string, number>;
  preview: DataRecord[];
  length_unit: string;
  input_lengths: LengthStats;
  target_lengths: LengthStats | null;
  checks: CheckReport;
}

export interface InspectOptions {
  format?: DataFormat;
  /** Canonical field -> column; the keys `id` and `split` name those columns. */
  columns?: Record<string, string>;
  speakers?: SpeakerStyle;
}

export interface DatasetDropped {
  paths: string[];
}

// ---------------------------------------------------------------- templates and mixes

export interface TemplatePhrasing {
  name?: string;
  /** The input template (docs/ipc.md calls it `source`; the engine's `Phrasing` calls it `input`). */
  source: string;
  target: string;
}

export interface TemplateInfo {
  name: string;
  file: string;
  description: string;
  fields: string[];
  phrasings: TemplatePhrasing[];
}

/** `src/mixture/sampler.rs` `Strategy`. */
export type Strategy = 'proportional' | 'temperature' | 'explicit';

/** The `[mixture]` table (`src/mixture/config.rs` `MixtureSettings`). */
export interface MixSettings {
  strategy: Strategy;
  seed: number;
  temperature?: number;
  cap?: number;
  max_source_tokens: number;
  max_target_tokens: number;
  validation_fraction?: number;
  test_fraction?: number;
  speakers?: SpeakerStyle;
}

/** One `[[task]]` (`src/mixture/config.rs` `TaskConfig`). */
export interface MixTask {
  name: string;
  data: string;
  template: string;
  /** The rate under `explicit`, a multiplier otherwise. */
  weight?: number;
  columns?: Record<string, string>;
  format?: DataFormat;
  split?: Split;
  /** A separate file of held-out examples for validation during training. */
  eval_data?: string;
  /**
   * Edited phrasings (docs/ipc.md `phrasings?`); sent only when the user changed the
   * template's. The shell turns them into a template file for this task.
   */
  phrasings?: TemplatePhrasing[];
}

/** The mixture TOML as JSON. */
export interface MixSpec {
  mixture: MixSettings;
  task: MixTask[];
}

export interface RenderedExample {
  task: string;
  example_id: string;
  phrasing: string;
  source: string;
  target: string;
}

export interface TaskPreview {
  name: string;
  data: string;
  template: string;
  records: number;
  train_examples: number;
  rate: number;
  observed_share: number;
  phrasings: RenderedExample[];
}

/** `src/mixture/preview.rs` `MixturePreview`. */
export interface MixturePreview {
  config: string;
  samples: number;
  length_unit: string;
  tasks: TaskPreview[];
  source_lengths: LengthStats;
  target_lengths: LengthStats;
  checks: CheckReport;
}

// ---------------------------------------------------------------- training (src/train)

export type ScheduleKind = 'constant' | 'linear' | 'cosine';
export type TrainMethod = 'full' | 'lora';
export type OptimizerKind = 'adamw' | 'adafactor';
/** LoRA module names (`LORA_MODULES`). */
export const LORA_MODULES = ['q', 'k', 'v', 'o', 'wi', 'wi_0', 'wi_1', 'wo'] as const;

/** `src/train/config.rs` `LoraSettings` (PEFT names). */
export interface LoraSettings {
  rank?: number;
  alpha?: number;
  dropout?: number;
  target_modules?: string[];
}

/**
 * `src/train/config.rs` `TrainConfig` as TOML keys. `mixture` and `output_dir` are filled
 * in by the shell (it writes `mix.toml` into the new run folder). Keys not set are left out
 * so the engine's defaults apply (the engine rejects unknown keys).
 */
export interface TrainConfig {
  model: string;
  mixture?: string;
  output_dir?: string;
  /** Optimizer steps (or give `epochs`). */
  max_steps?: number;
  epochs?: number;
  method?: TrainMethod;
  lora?: LoraSettings;
  optimizer?: OptimizerKind;
  batch_size?: number;
  grad_accumulation?: number;
  learning_rate?: number;
  schedule?: ScheduleKind;
  warmup_steps?: number;
  weight_decay?: number;
  adam_beta1?: number;
  adam_beta2?: number;
  adam_epsilon?: number;
  max_grad_norm?: number;
  seed?: number;
  log_every?: number;
  adafactor_scale_parameter?: boolean;
  adafactor_relative_step?: boolean;
  eval_every?: number;
  eval_examples?: number;
  eval_max_new_tokens?: number;
  sample_predictions?: number;
  save_every?: number;
  keep_last?: number;
  keep_best?: boolean;
  /** `val_loss`, `rouge1`/`rouge2`/`rougeL`/`rougeLsum` or `TASK/rougeL` etc. */
  best_metric?: string;
  early_stopping_patience?: number;
  early_stopping_threshold?: number;
}

export interface TrainSpec {
  mix: MixSpec;
  config: TrainConfig;
}

export interface StartedRun {
  run_id: string;
  output_dir: string;
}

/** `src/train/trainer.rs` `StepMetrics`. */
export interface StepMetrics {
  step: number;
  loss: number;
  learning_rate: number;
  grad_norm: number;
  tokens_per_s: number;
  examples_per_task: Record<string, number>;
  epoch?: number;
  elapsed_s?: number;
  eta_s?: number | null;
}

/** `src/train/events.rs` `TaskEval`. */
export interface TaskEval {
  loss: number;
  rouge1: number;
  rouge2: number;
  rougeL: number;
  rougeLsum: number;
  examples: number;
}

export interface SamplePrediction {
  task: string;
  example_id: string;
  source: string;
  reference: string;
  prediction: string;
}

/** `src/train/events.rs` `EvalMetrics`. */
export interface EvalMetrics {
  step: number;
  val_loss: number;
  tasks: Record<string, TaskEval>;
  metric: number;
  best: boolean;
  samples: SamplePrediction[];
  seconds: number;
}

/** `src/train/events.rs` `RunSummary`. */
export interface RunSummary {
  output_dir: string;
  model_dir: string;
  adapter_dir: string | null;
  steps: number;
  first_loss: number | null;
  last_loss: number | null;
  best_checkpoint: string | null;
  best_metric: number | null;
  stopped_early: boolean;
}

/** `src/train/events.rs` `RunEvent`, tagged by `kind`. */
export type RunEvent =
  | {
      kind: 'started';
      output_dir: string;
      device: string;
      total_steps: number;
      start_step: number;
      trainable_parameters: number;
      total_parameters: number;
    }
  | ({ kind: 'step' } & StepMetrics)
  | ({ kind: 'eval' } & EvalMetrics)
  | { kind: 'checkpoint'; step: number; path: string }
  | { kind: 'paused'; step: number }
  | { kind: 'resumed'; step: number }
  | ({ kind: 'finished' } & RunSummary)
  | { kind: 'cancelled'; step: number; checkpoint: string | null }
  | { kind: 'failed'; step: number; message: string };

export type RunEventKind = RunEvent['kind'];

/** `src/train/runs.rs` `RunStatus`: from the last event of the run's log. */
export type RunInfoStatus = 'running' | 'paused' | 'finished' | 'cancelled' | 'failed';

/** One run of the history (`src/train/runs.rs` `RunInfo`). */
export interface RunInfo {
  /** The folder name: the `run_id` of the other training commands. */
  id: string;
  output_dir: string;
  /** The base model the config names. */
  model: string;
  method: TrainMethod;
  /** `running` also for a run that was killed (resumable from its checkpoints). */
  status: RunInfoStatus;
  steps: number;
  total_steps: number;
  last_loss: number | null;
  val_loss: number | null;
  /** Mean ROUGE-1 over tasks of the last validation pass. */
  rouge1: number | null;
  best_metric: number | null;
  best_metric_name: string;
  checkpoints: number;
  model_dir: string | null;
  error: string | null;
  /** Seconds since the epoch of the log's last change. */
  modified: number;
}

// ---------------------------------------------------------------- evaluation and ROUGE (src/eval/rouge.rs)

/** `MeanRouge`: mean F-measures. */
export interface MeanRouge {
  rouge1: number;
  rouge2: number;
  rougeL: number;
  rougeLsum: number;
}

/** `src/eval/compare.rs` `EvalRequest` (unset keys take the engine's defaults). */
export interface EvalRequest {
  /** A folder or a hub id. */
  model: string;
  /** A second model to compare with (typically the base the first was tuned from). */
  compare?: string;
  data: string;
  /** Built-in template name or path; default `dialogue_summary`. */
  template?: string;
  limit?: number;
  max_new_tokens?: number;
  num_beams?: number;
  batch_size?: number;
  /** Porter-stem tokens before matching (default true, as `use_stemmer=True`). */
  stem?: boolean;
}

export interface Progress {
  done: number;
  total: number;
}

/** `src/eval/compare.rs` `ModelScores`. */
export interface ModelScores {
  model: string;
  rouge: MeanRouge;
  /** Seconds spent generating. */
  seconds: number;
}

/** `src/eval/compare.rs` `EvalRow`: one example with every model's prediction. */
export interface EvalRow {
  id: string;
  source: string;
  reference: string;
  /** In the order of `EvalReport.models`. */
  predictions: string[];
  /** ROUGE-1 F-measure of each prediction. */
  rouge1: number[];
}

/** `src/eval/compare.rs` `EvalReport` (what `mixtune eval --json` prints). */
export interface EvalReport {
  data: string;
  examples: number;
  /** The model, then the comparison model when given. */
  models: ModelScores[];
  /** First model minus the comparison model, absolute F-measure points. */
  improvement: MeanRouge | null;
  rows: EvalRow[];
}

// ---------------------------------------------------------------- summarize

export interface SummarizeRequest {
  model: string;
  chat: string;
  max_new_tokens?: number;
  num_beams?: number;
  do_sample?: boolean;
  temperature?: number;
  top_p?: number;
  top_k?: number;
  speakers?: SpeakerStyle;
}

export interface SummarizeResult {
  summary: string;
  prompt: string;
}

export type SummarizeFileRequest = Omit<SummarizeRequest, 'chat'> & { path: string };

export interface SummaryRow {
  id: string;
  dialogue: string;
  summary: string;
}

// ---------------------------------------------------------------- errors

/** A readable one-line message from whatever a command rejected with. */
export function errorMessage(error: unknown): string {
  if (typeof error === 'string') return error;
  if (error instanceof Error) return error.message;
  if (error && typeof error === 'object' && 'message' in error) {
    return String((error as { message: unknown }).message);
  }
  try {
    return JSON.stringify(error);
  } catch {
    return String(error);
  }
}

/** True inside the desktop shell (false in a plain browser during `npm run dev`). */
export function inTauri(): boolean {
  return typeof window !== 'undefined' && '__TAURI_INTERNALS__' in window;
}

/** `invoke` that always rejects with a readable string. */
async function call<T>(command: string, args?: Record<string, unknown>): Promise<T> {
  if (!inTauri()) {
    throw `\`${command}\` needs the Mixtune desktop app (this window is a plain browser)`;
  }
  try {
    return await invoke<T>(command, args);
  } catch (error) {
    throw errorMessage(error);
  }
}

/** A channel whose messages go to `handler`. */
function channel<T>(handler: (message: T) => void): Channel<T> {
  const ch = new Channel<T>();
  ch.onmessage = handler;
  return ch;
}

// ---------------------------------------------------------------- commands

export const appInfo = () => call<AppInfo>('app_info');

export const listModels = () => call<ModelInfo[]>('list_models');
export const addModelFolder = (path: string) => call<ModelInfo>('add_model_folder', { path });
export const downloadModel = (repoId: string, onProgress: (p: DownloadProgress) => void) =>
  call<ModelInfo>('download_model', { repoId, onProgress: channel(onProgress) });

export const inspectDataset = (path: string, options?: InspectOptions) =>
  call<DatasetReport>('inspect_dataset', { path, options: options ?? null });

export const listTemplates = async (): Promise<TemplateInfo[]> => {
  const templates = await call<TemplateInfo[]>('list_templates');
  return templates.map(normalizeTemplate);
};

/** Accepts the engine's `input` key for a phrasing's source as well as the contract's `source`. */
export function normalizeTemplate(template: TemplateInfo): TemplateInfo {
  return {
    ...template,
    phrasings: (template.phrasings ?? []).map((p) => {
      const raw = p as TemplatePhrasing & { input?: string };
      return { name: raw.name, source: raw.source ?? raw.input ?? '', target: raw.target };
    }),
  };
}

export const previewMix = (mix: MixSpec) => call<MixturePreview>('preview_mix', { mix });

export const startTraining = (spec: TrainSpec, onEvent: (event: RunEvent) => void) =>
  call<StartedRun>('start_training', { spec, onEvent: channel(onEvent) });
export const pauseTraining = (runId: string) => call<void>('pause_training', { runId });
export const resumeTraining = (runId: string) => call<void>('resume_training', { runId });
export const cancelTraining = (runId: string) => call<void>('cancel_training', { runId });
export const listRuns = () => call<RunInfo[]>('list_runs');
export const runEvents = (runId: string) => call<RunEvent[]>('run_events', { runId });

export const evaluate = (
  request: EvalRequest,
  onProgress: (p: Progress) => void,
  taskId?: string,
) => call<EvalReport>('evaluate', { request, onProgress: channel(onProgress), taskId: taskId ?? null });
export const exportEvalCsv = (report: EvalReport, path: string) =>
  call<void>('export_eval_csv', { report, path });

export const summarize = (request: SummarizeRequest, onToken: (text: string) => void) =>
  call<SummarizeResult>('summarize', {
    request,
    onToken: channel<{ text: string }>((m) => onToken(m.text)),
  });
export const summarizeFile = (
  request: SummarizeFileRequest,
  onProgress: (p: Progress) => void,
  taskId?: string,
) =>
  call<{ rows: SummaryRow[] }>('summarize_file', {
    request,
    onProgress: channel(onProgress),
    taskId: taskId ?? null,
  });
export const exportSummariesCsv = (rows: SummaryRow[], path: string) =>
  call<void>('export_summaries_csv', { rows, path });
export const cancelTask = (taskId: string) => call<void>('cancel_task', { taskId });

// ---------------------------------------------------------------- events and dialogs

/** Files dropped on the window (the shell turns `DragDropEvent::Drop` into this event). */
export async function onDatasetDropped(handler: (paths: string[]) => void): Promise<UnlistenFn> {
  if (!inTauri()) return () => {};
  return listen<DatasetDropped>('dataset-dropped', (event) => handler(event.payload.paths));
}

/**
 * Whether files are being dragged over the window (Tauri's native drag events), so the page
 * can show where they will go. Returns one function that stops listening.
 */
export async function onDragHover(handler: (hovering: boolean) => void): Promise<UnlistenFn> {
  if (!inTauri()) return () => {};
  const stops = await Promise.all([
    listen('tauri://drag-enter', () => handler(true)),
    listen('tauri://drag-leave', () => handler(false)),
    listen('tauri://drag-drop', () => handler(false)),
  ]);
  return () => stops.forEach((stop) => stop());
}

const DATA_EXTENSIONS = ['jsonl', 'json', 'csv', 'tsv', 'parquet'];

/** The native open dialog for a dataset file; null when cancelled. */
export async function pickDataFile(): Promise<string | null> {
  return pickOne({
    title: 'Open dataset',
    filters: [{ name: 'Datasets', extensions: DATA_EXTENSIONS }],
  });
}

/** The native open dialog for a model folder; null when cancelled. */
export async function pickFolder(title: string): Promise<string | null> {
  return pickOne({ title, directory: true });
}

async function pickOne(options: Parameters<typeof openDialog>[0]): Promise<string | null> {
  if (!inTauri()) throw 'file dialogs need the Mixtune desktop app; type a path instead';
  try {
    const picked = await openDialog({ ...options, multiple: false });
    if (Array.isArray(picked)) return picked[0] ?? null;
    return picked ?? null;
  } catch (error) {
    throw errorMessage(error);
  }
}

/** The native save dialog for a CSV file; null when cancelled. */
export async function pickCsvSavePath(defaultPath: string): Promise<string | null> {
  if (!inTauri()) throw 'saving files needs the Mixtune desktop app';
  try {
    return await saveDialog({
      title: 'Export CSV',
      defaultPath,
      filters: [{ name: 'CSV', extensions: ['csv'] }],
    });
  } catch (error) {
    throw errorMessage(error);
  }
}
