/**
 * The Train page's form: presets filling hyperparameters, and the form <-> `TrainConfig`
 * mapping (keys left out fall back to the engine's defaults; unknown keys are rejected there).
 */
import type { Method, OptimizerKind, Precision, ScheduleKind, TrainConfigKeys } from './ipc';

export interface TrainForm {
  model: string;
  method: Method;
  loraRank: number;
  loraAlpha: number;
  loraDropout: number;
  loraTargets: string[];
  optimizer: OptimizerKind;
  learningRate: number;
  schedule: ScheduleKind;
  warmupSteps: number;
  batchSize: number;
  gradAccumulation: number;
  maxSteps: number;
  weightDecay: number;
  maxGradNorm: number;
  /** T5's dropout while training (HF's `dropout_rate`; Flan-T5's checkpoints say 0.1); 0 = off. */
  dropoutRate: number;
  evalEvery: number;
  evalExamples: number;
  /** A validation pass before the first step: the baseline of the forgetting report. */
  evalAtStart: boolean;
  /** A task whose ROUGE-L falls by more than this (absolute) from the baseline is flagged. */
  forgettingThreshold: number;
  saveEvery: number;
  bestMetric: string;
  earlyStoppingPatience: number;
  seed: number;
  /** f32 (the default) or f16 compute over f32 master weights with loss scaling. */
  precision: Precision;
}

export interface Preset {
  id: string;
  label: string;
  description: string;
  form: TrainForm;
}

const BASE: TrainForm = {
  model: 'google/flan-t5-small',
  method: 'lora',
  loraRank: 16,
  loraAlpha: 32,
  loraDropout: 0.05,
  loraTargets: ['q', 'v'],
  optimizer: 'adamw',
  learningRate: 1e-3,
  schedule: 'linear',
  warmupSteps: 50,
  batchSize: 8,
  gradAccumulation: 1,
  maxSteps: 1000,
  weightDecay: 0.01,
  maxGradNorm: 1.0,
  dropoutRate: 0,
  evalEvery: 100,
  evalExamples: 32,
  // Without a step-0 pass there is nothing to compare with: the forgetting table never shows.
  evalAtStart: true,
  forgettingThreshold: 0.02,
  saveEvery: 200,
  bestMetric: 'val_loss',
  earlyStoppingPatience: 0,
  seed: 42,
  precision: 'f32',
};

export const PRESETS: Preset[] = [
  {
    id: 'lora-small',
    label: 'LoRA small',
    description: 'Flan-T5 small, LoRA r=16 on q,v; quick, fits any machine',
    form: { ...BASE },
  },
  {
    id: 'lora-base',
    label: 'LoRA base',
    description: 'Flan-T5 base, LoRA r=16 on q,k,v,o; the usual choice on a GPU',
    form: {
      ...BASE,
      model: 'google/flan-t5-base',
      loraTargets: ['q', 'k', 'v', 'o'],
      learningRate: 5e-4,
      gradAccumulation: 2,
      maxSteps: 2000,
      warmupSteps: 100,
      evalEvery: 200,
      saveEvery: 500,
    },
  },
  {
    id: 'full-small',
    label: 'Full small',
    description: 'Flan-T5 small, every weight trained with AdamW',
    form: {
      ...BASE,
      method: 'full',
      learningRate: 3e-4,
      warmupSteps: 100,
    },
  },
  {
    id: 'full-base',
    label: 'Full base',
    description: 'Flan-T5 base, every weight trained with Adafactor (as T5 was)',
    form: {
      ...BASE,
      model: 'google/flan-t5-base',
      method: 'full',
      optimizer: 'adafactor',
      learningRate: 1e-3,
      schedule: 'constant',
      warmupSteps: 0,
      batchSize: 4,
      gradAccumulation: 4,
      maxSteps: 2000,
      evalEvery: 200,
      saveEvery: 500,
    },
  },
];

export function presetForm(id: string): TrainForm {
  const preset = PRESETS.find((p) => p.id === id) ?? PRESETS[0];
  return { ...preset.form, loraTargets: [...preset.form.loraTargets] };
}

/** Problems that would make the engine reject the config, named by field label. */
export function validateForm(form: TrainForm): string[] {
  const problems: string[] = [];
  if (!form.model.trim()) problems.push('Choose a model');
  const positive: [string, number][] = [
    ['Max steps', form.maxSteps],
    ['Batch size', form.batchSize],
    ['Gradient accumulation', form.gradAccumulation],
  ];
  for (const [label, value] of positive) {
    if (!Number.isInteger(value) || value < 1) problems.push(`${label} must be a whole number of at least 1`);
  }
  if (!(form.learningRate > 0)) problems.push('Learning rate must be positive');
  if (!(form.dropoutRate >= 0 && form.dropoutRate < 1)) problems.push('Dropout must be at least 0 and below 1');
  if (form.method === 'lora') {
    if (!Number.isInteger(form.loraRank) || form.loraRank < 1) problems.push('LoRA rank must be at least 1');
    if (form.loraTargets.length === 0) problems.push('Pick at least one LoRA target module');
  }
  return problems;
}

/** The `TrainConfig` JSON the shell writes to `run.toml` (it fills `mixture`, `output_dir`). */
export function formToConfig(form: TrainForm): TrainConfigKeys {
  const config: TrainConfigKeys = {
    model: form.model.trim(),
    max_steps: form.maxSteps,
    method: form.method,
    optimizer: form.optimizer,
    learning_rate: form.learningRate,
    schedule: form.schedule,
    warmup_steps: form.warmupSteps,
    batch_size: form.batchSize,
    grad_accumulation: form.gradAccumulation,
    max_grad_norm: form.maxGradNorm,
    eval_every: form.evalEvery,
    eval_examples: form.evalExamples,
    eval_at_start: form.evalAtStart,
    forgetting_threshold: form.forgettingThreshold,
    save_every: form.saveEvery,
    best_metric: form.bestMetric,
    early_stopping_patience: form.earlyStoppingPatience,
    seed: form.seed,
  };
  if (form.optimizer === 'adamw') config.weight_decay = form.weightDecay;
  if (form.precision !== 'f32') config.precision = form.precision;
  if (form.dropoutRate > 0) config.dropout_rate = form.dropoutRate;
  if (form.method === 'lora') {
    config.lora = {
      rank: form.loraRank,
      alpha: form.loraAlpha,
      dropout: form.loraDropout,
      target_modules: [...form.loraTargets],
    };
  }
  return config;
}

/** A form from a stored run's config ("new run from these settings"); missing keys from `fallback`. */
export function configToForm(config: TrainConfigKeys, fallback: TrainForm = presetForm('lora-small')): TrainForm {
  return {
    model: config.model ?? fallback.model,
    method: config.method ?? 'full',
    loraRank: config.lora?.rank ?? fallback.loraRank,
    loraAlpha: config.lora?.alpha ?? fallback.loraAlpha,
    loraDropout: config.lora?.dropout ?? fallback.loraDropout,
    loraTargets: [...(config.lora?.target_modules ?? fallback.loraTargets)],
    optimizer: config.optimizer ?? 'adamw',
    learningRate: config.learning_rate ?? 3e-4,
    schedule: config.schedule ?? 'linear',
    warmupSteps: config.warmup_steps ?? 0,
    batchSize: config.batch_size ?? 8,
    gradAccumulation: config.grad_accumulation ?? 1,
    maxSteps: config.max_steps ?? fallback.maxSteps,
    weightDecay: config.weight_decay ?? 0.01,
    maxGradNorm: config.max_grad_norm ?? 1.0,
    dropoutRate: config.dropout_rate ?? 0,
    evalEvery: config.eval_every ?? 0,
    evalExamples: config.eval_examples ?? 32,
    evalAtStart: config.eval_at_start ?? false,
    forgettingThreshold: config.forgetting_threshold ?? 0.02,
    saveEvery: config.save_every ?? 0,
    bestMetric: config.best_metric ?? 'val_loss',
    earlyStoppingPatience: config.early_stopping_patience ?? 0,
    seed: config.seed ?? 42,
    precision: config.precision ?? 'f32',
  };
}
