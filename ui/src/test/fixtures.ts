/** Builders of engine payloads for tests. */
import type { BestMetrics, EvalReport, InspectReport, LengthStats, ModelInfo, RunComparison, RunEvent, RunInfo } from '../lib/ipc';

export function started(startStep = 0, totalSteps = 100): RunEvent {
  return {
    kind: 'started',
    output_dir: '/runs/r1',
    device: 'CPU',
    total_steps: totalSteps,
    start_step: startStep,
    trainable_parameters: 1000,
    total_parameters: 77_000_000,
    notes: [],
  };
}

export function step(n: number, loss = 5 - n * 0.01, eta: number | null = 100 - n): RunEvent {
  return {
    kind: 'step',
    step: n,
    loss,
    learning_rate: 1e-3 * (n / 100),
    grad_norm: 1.5,
    tokens_per_s: 1000 + n,
    seconds: 0.5,
    examples_per_task: { dialogsum: n * 8 },
    distinct_shapes: 1,
    epoch: n / 50,
    elapsed_s: n * 2,
    eta_s: eta,
    loss_scale: null,
  };
}

export function evalEvent(n: number, tasks: Record<string, number>, best = false): RunEvent {
  return {
    kind: 'eval',
    step: n,
    val_loss: 3 - n * 0.01,
    tasks: Object.fromEntries(
      Object.entries(tasks).map(([name, r]) => [
        name,
        { loss: 2, rouge1: r, rouge2: r / 2, rougeL: r * 0.9, rougeLsum: r * 0.95, examples: 32, invented_rate: 0.1 },
      ]),
    ),
    metric: 3 - n * 0.01,
    best,
    samples: [{ task: 'dialogsum', example_id: `ex${n}`, source: 's', reference: 'r', prediction: 'p' }],
    seconds: 4,
  };
}

/** A validation pass with `[[watch]]` tasks and, after the baseline, its forgetting report. */
export function watchedEval(
  n: number,
  tasks: Record<string, number>,
  watched: Record<string, number>,
  baseline?: { tasks: Record<string, number>; watched: Record<string, number> },
  threshold = 0.02,
): RunEvent {
  const scores = (values: Record<string, number>) =>
    Object.fromEntries(
      Object.entries(values).map(([name, r]) => [
        name,
        { loss: 2, rouge1: r, rouge2: r / 2, rougeL: r, rougeLsum: r, examples: 8 },
      ]),
    );
  const change = (task: string, isWatched: boolean, before: number, now: number) => ({
    task,
    watched: isWatched,
    baseline: before,
    now,
    delta: now - before,
    dropped: before - now > threshold,
  });
  const base = evalEvent(n, tasks);
  return {
    ...base,
    tasks: scores(tasks),
    watched: scores(watched),
    forgetting: baseline
      ? {
          metric: 'rougeL',
          threshold,
          baseline_step: 0,
          step: n,
          tasks: [
            ...Object.entries(tasks).map(([t, r]) => change(t, false, baseline.tasks[t], r)),
            ...Object.entries(watched).map(([t, r]) => change(t, true, baseline.watched[t], r)),
          ],
        }
      : undefined,
  } as RunEvent;
}

export function stats(limit: number): LengthStats {
  return {
    count: 3,
    min: 1,
    median: 5,
    p95: 9,
    max: 700,
    mean: 5.5,
    limit,
    over_limit: 1,
    histogram: [
      { low: 0, high: limit, count: 2 },
      { low: limit + 1, high: null, count: 1 },
    ],
  };
}

export function datasetReport(overrides: Partial<InspectReport> = {}): InspectReport {
  const empty = { count: 0, example_ids: [] };
  return {
    file: '/data/dialogsum.jsonl',
    format: 'jsonl',
    columns: ['id', 'dialogue', 'summary', 'topic'],
    schema: { kind: 'dialogsum', fields: { dialogue: 'dialogue', summary: 'summary', topic: 'topic' }, id_column: 'id', split_column: null },
    rows: 3,
    splits: { train: 2, validation: 1 },
    preview: [
      { id: 'a1', split: 'train', location: { row: 1, line: 1 }, fields: { dialogue: '#Person1#: hi', summary: 'A greeting.' } },
    ],
    length_unit: 'words',
    input_lengths: stats(512),
    target_lengths: stats(128),
    checks: {
      records: 3,
      empty_fields: { summary: { count: 1, example_ids: ['a3'] } },
      numeric_fields: {},
      duplicates: { count: 2, example_ids: ['a2', 'a3'] },
      split_overlap: empty,
      cross_dataset_overlap: empty,
      over_long_inputs: empty,
      over_long_targets: empty,
    },
    near_duplicates: {
      compared: 'train split ~ validation/test splits',
      threshold: 0.8,
      shingle_words: 5,
      num_hashes: 128,
      banding: { bands: 32, rows: 4 },
      rows_a: 2,
      rows_b: 1,
      candidates: 1,
      pairs_found: 1,
      rows_b_affected: 1,
      pairs: [
        {
          a: { task: null, file: '/data/dialogsum.jsonl', id: 'a1', row: 1, line: 1 },
          b: { task: null, file: '/data/dialogsum.jsonl', id: 'a3', row: 3, line: 3 },
          jaccard: 0.9,
        },
      ],
    },
    ...overrides,
  };
}

export function evalReport(): EvalReport {
  const r = (x: number) => ({ rouge1: x, rouge2: x / 2, rougeL: x - 0.05, rougeLsum: x - 0.04 });
  return {
    data: '/data/test.jsonl',
    examples: 3,
    models: [
      { model: 'run-1/model', rouge: r(0.45), seconds: 12.5, invented_rate: 0.05, invented_facts: 2 },
      { model: 'google/flan-t5-small', rouge: r(0.4), seconds: 10, invented_rate: 0.125, invented_facts: 5 },
    ],
    improvement: null,
    improvements: [],
    cut_inputs: 0,
    max_source_tokens: 512,
    rows: [
      {
        id: 'ex10',
        source: 'Alice: lunch?',
        reference: 'They plan lunch.',
        predictions: ['Lunch plans, "today"', 'Alice asks.'],
        rouge1: [0.6, 0.3],
        invented: [[], []],
      },
      {
        id: 'ex2',
        source: 'Bob: the invoice, again',
        reference: 'Bob asks about an invoice.',
        predictions: ['Invoice question.', 'Bob talks.'],
        rouge1: [0.5, 0.5],
        invented: [[], ['Bob']],
      },
      {
        id: 'ex1',
        source: 'Carol: refund\nDan: ok',
        reference: 'Carol gets a refund.',
        predictions: ['=SUM(A1)', 'Refund.'],
        rouge1: [0.2, 0.4],
        invented: [['A1'], []],
      },
    ],
  };
}

export function runInfo(overrides: Partial<RunInfo> = {}): RunInfo {
  return {
    id: 'run-20261125-101500',
    output_dir: '/runs/run-20261125-101500',
    model: 'google/flan-t5-small',
    method: 'lora',
    status: 'finished',
    steps: 100,
    total_steps: 100,
    last_loss: 1.25,
    val_loss: 1.4,
    rouge1: 0.412,
    best_metric: 1.4,
    best_metric_name: 'val_loss',
    checkpoints: 1,
    resumable: false,
    model_dir: '/runs/run-20261125-101500/model',
    error: null,
    dropped_tasks: [],
    modified: 1_700_000_000,
    ...overrides,
  };
}

/** A comparison of two runs as `compare_runs` returns it. */
export function runComparison(): RunComparison {
  const best = (overrides: Partial<BestMetrics> = {}): BestMetrics => ({
    steps: 100,
    total_steps: 100,
    last_loss: 1.2,
    min_loss: 1.1,
    best_val_loss: 1.4,
    best_val_loss_step: 80,
    rouge: { rouge1: 0.4, rouge2: 0.2, rougeL: 0.35, rougeLsum: 0.36 },
    tasks: { dialogsum: { rouge1: 0.4, rouge2: 0.2, rougeL: 0.35, rougeLsum: 0.36 } },
    invented_facts_rate: null,
    forgetting: null,
    best_metric_name: 'val_loss',
    best_metric: 1.4,
    evals: 5,
    ...overrides,
  });
  return {
    runs: [
      { id: 'run-a', output_dir: '/runs/run-a', model: 'google/flan-t5-small', status: 'finished', best: best() },
      {
        id: 'run-b',
        output_dir: '/runs/run-b',
        model: 'google/flan-t5-small',
        status: 'finished',
        best: best({ best_val_loss: 1.2, rouge: { rouge1: 0.38, rouge2: 0.21, rougeL: 0.3, rougeLsum: 0.31 }, invented_facts_rate: 0.1 }),
      },
    ],
    config_diff: [
      { key: 'learning_rate', values: ['0.001', '0.0003'] },
      { key: 'lora.rank', values: ['8', '16'] },
      { key: 'task[topic].weight', values: [null, '1.0'] },
    ],
    keys_compared: 40,
    notes: [],
  };
}

/** A local model as `list_models` describes it. */
export function modelInfo(overrides: Partial<ModelInfo> = {}): ModelInfo {
  return {
    id: 'google/flan-t5-small',
    path: '/hf/flan-t5-small',
    source: 'cache',
    architecture: 'T5ForConditionalGeneration',
    d_model: 512,
    num_layers: 8,
    num_decoder_layers: 8,
    vocab_size: 32128,
    parameters: 76_961_152,
    size_bytes: 308_000_000,
    ...overrides,
  };
}
