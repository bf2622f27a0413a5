import { describe, expect, it, vi } from 'vitest';
import { formatDelta } from './format';
import {
  alignSeries,
  downsample,
  emptyRun,
  foldEvent,
  forgettingVerdict,
  formatDuration,
  isActive,
  lossChartData,
  rafThrottle,
  replay,
  rougeChartData,
  stepLabel,
} from './training';
import { evalEvent, started, step, watchedEval } from '../test/fixtures';
import type { RunEvent } from './ipc';

describe('foldEvent', () => {
  it('folds a live run into series and status', () => {
    const run = emptyRun();
    foldEvent(run, started(0, 100));
    expect(run.status).toBe('running');
    expect(run.totalSteps).toBe(100);
    expect(run.device).toBe('CPU');
    for (const n of [10, 20, 30]) foldEvent(run, step(n));
    expect(run.steps).toEqual([10, 20, 30]);
    expect(run.loss).toEqual([4.9, 4.8, 4.7]);
    expect(run.tokensPerS).toEqual([1010, 1020, 1030]);
    expect(run.learningRate[2]).toBeCloseTo(3e-4);
    expect(run.step).toBe(30);
    expect(run.etaS).toBe(70);
    expect(run.examplesPerTask).toEqual({ dialogsum: 240 });
    expect(run.version).toBe(4);
    expect(run.notes).toEqual([]);
  });

  it("keeps the start's notes (a damaged checkpoint skipped, validation it cannot run)", () => {
    const note = 'eval_every = 15, but task `summary` has no validation rows: set its eval_data';
    const run = replay([{ ...started(4), notes: [note] } as RunEvent]);
    expect(run.notes).toEqual([note]);
  });

  it('says while a new batch shape prepares its GPU kernels, until the step that needed them', () => {
    const run = replay([started()]);
    expect(run.preparing).toBeNull();
    foldEvent(run, { kind: 'preparing_kernels', step: 1, batch: 8, source_len: 512, target_len: 128, cached: false });
    expect(run.preparing).toContain('8×512→128');
    expect(run.preparing).toContain('first use on this GPU only');
    expect(run.status).toBe('running');
    foldEvent(run, step(1));
    expect(run.preparing).toBeNull();
    foldEvent(run, { kind: 'preparing_kernels', step: 2, batch: 8, source_len: 256, target_len: 64, cached: true });
    expect(run.preparing).toContain('earlier run');
    foldEvent(run, { kind: 'failed', step: 2, message: 'boom' });
    expect(run.preparing).toBeNull();
  });

  it('keeps the f16 loss scale and the skipped steps', () => {
    const run = replay([started(), step(1)]);
    expect(run.lossScale).toBeNull();
    const scaled = { ...step(2), loss_scale: { scale: 32768, skipped: true, skipped_steps: 1 } } as RunEvent;
    foldEvent(run, scaled);
    expect(run.lossScale).toEqual({ scale: 32768, skippedSteps: 1 });
  });

    it('tracks pause, resume, checkpoints and the finished summary', () => {
    const run = replay([started(), step(10), { kind: 'paused', step: 10 }]);
    expect(run.status).toBe('paused');
    expect(run.etaS).toBeNull();
    expect(isActive(run.status)).toBe(true);
    foldEvent(run, { kind: 'resumed', step: 10 });
    expect(run.status).toBe('running');
    foldEvent(run, { kind: 'config_changed', step: 10, changes: ['learning_rate: 0.01 → 0.02'] });
    expect(run.notes.at(-1)).toBe('config changed at step 10: learning_rate: 0.01 → 0.02');
    expect(run.status).toBe('running');
    foldEvent(run, { kind: 'checkpoint', step: 10, path: '/runs/r1/checkpoints/step-10' });
    foldEvent(run, {
      kind: 'finished',
      output_dir: '/runs/r1',
      model_dir: '/runs/r1/model',
      adapter_dir: null,
      steps: 20,
      first_loss: 5,
      last_loss: 2,
      best_checkpoint: null,
      best_metric: null,
      stopped_early: false,
    });
    expect(run.status).toBe('finished');
    expect(isActive(run.status)).toBe(false);
    expect(run.summary?.model_dir).toBe('/runs/r1/model');
    expect(run.summary).not.toHaveProperty('kind');
    expect(run.step).toBe(20);
    expect(run.etaS).toBeNull();
    expect(run.checkpoints).toEqual([{ step: 10, path: '/runs/r1/checkpoints/step-10' }]);
  });

  it('keeps failure and cancel messages', () => {
    expect(replay([started(), { kind: 'failed', step: 3, message: 'out of memory on wgpu' }]).message).toBe(
      'out of memory on wgpu',
    );
    const cancelled = replay([started(), { kind: 'cancelled', step: 7, checkpoint: '/c/step-5' }]);
    expect(cancelled.status).toBe('cancelled');
    expect(cancelled.message).toContain('/c/step-5');
  });

  it('rebuilds a resumed run from metrics.jsonl without duplicate steps', () => {
    // First session ran to step 40 (checkpoint at 20), was cancelled; resumed from step 20.
    const events = [
      started(0),
      step(10),
      evalEvent(20, { dialogsum: 0.3 }, true),
      step(20),
      { kind: 'checkpoint', step: 20, path: '/c/step-20' } as const,
      step(30),
      evalEvent(40, { dialogsum: 0.35 }, true),
      step(40),
      { kind: 'checkpoint', step: 40, path: '/c/step-40' } as const,
      { kind: 'cancelled', step: 40, checkpoint: '/c/step-20' } as const,
      started(20),
      step(30, 9),
      step(40, 8),
      step(50, 7),
    ];
    const run = replay(events);
    expect(run.status).toBe('running');
    expect(run.startStep).toBe(20);
    expect(run.steps).toEqual([10, 20, 30, 40, 50]);
    expect(run.loss.slice(2)).toEqual([9, 8, 7]);
    expect(run.evalSteps).toEqual([20]);
    expect(run.bestStep).toBe(20);
    expect(run.checkpoints.map((c) => c.step)).toEqual([20]);
    expect(run.message).toBeNull();
  });

  it('replaces repeated steps even without a started event', () => {
    const run = replay([step(1), step(2), step(3), step(2, 1.5)]);
    expect(run.steps).toEqual([1, 2]);
    expect(run.loss).toEqual([4.99, 1.5]);
  });

  it('keeps ROUGE per task aligned with eval steps when tasks come and go', () => {
    const run = replay([
      started(),
      evalEvent(10, { dialogsum: 0.2 }),
      evalEvent(20, { dialogsum: 0.3, topic: 0.5 }),
      evalEvent(30, { topic: 0.6 }),
    ]);
    expect(run.evalSteps).toEqual([10, 20, 30]);
    expect(run.rouge.dialogsum.rouge1).toEqual([0.2, 0.3, null]);
    expect(run.rouge.topic.rouge1).toEqual([null, 0.5, 0.6]);
    expect(run.samples[0].example_id).toBe('ex30');
    const chart = rougeChartData(run, 'rouge1');
    expect(chart.tasks).toEqual(['dialogsum', 'topic']);
    expect(chart.data).toEqual([
      [10, 20, 30],
      [0.2, 0.3, null],
      [null, 0.5, 0.6],
    ]);
  });
});

describe('forgetting report', () => {
  const baseline = { tasks: { summary: 0.2 }, watched: { topic: 0.4 } };
  const events = (): RunEvent[] => [
    started(0, 40),
    watchedEval(0, baseline.tasks, baseline.watched),
    step(20),
    watchedEval(20, { summary: 0.3 }, { topic: 0.39 }, baseline),
    step(40),
    watchedEval(40, { summary: 0.35 }, { topic: 0.3 }, baseline),
  ];

  it('charts watched tasks beside trained ones from the baseline on', () => {
    const run = replay(events());
    expect(run.evalSteps).toEqual([0, 20, 40]);
    expect(run.watched).toEqual(['topic']);
    expect(run.rouge.topic.rougeL).toEqual([0.4, 0.39, 0.3]);
    expect(run.rouge.summary.rougeL).toEqual([0.2, 0.3, 0.35]);
    const chart = rougeChartData(run, 'rougeL');
    expect(chart.tasks).toEqual(['summary', 'topic']);
    expect(chart.watched).toEqual([false, true]);
    expect(chart.data[2]).toEqual([0.4, 0.39, 0.3]);
  });

  it('keeps the latest report: baseline → now → delta, drops flagged', () => {
    const run = replay(events());
    const report = run.forgetting!;
    expect(report.step).toBe(40);
    const rows = report.tasks.map((t) => [t.task, t.watched, t.baseline, t.now, t.dropped]);
    expect(rows).toEqual([
      ['summary', false, 0.2, 0.35, false],
      ['topic', true, 0.4, 0.3, true],
    ]);
    expect(report.tasks[1].delta).toBeCloseTo(-0.1);
    expect(forgettingVerdict(report)).toBe(
      '1 of 2 tasks dropped by more than 2.00 ROUGE-L points since step 0: topic.',
    );
    // At step 20 the watched task had lost 0.01, under the threshold.
    const early = replay(events().slice(0, 4)).forgetting!;
    expect(early.tasks.every((t) => !t.dropped)).toBe(true);
    expect(forgettingVerdict(early)).toBe('No task dropped by more than 2.00 ROUGE-L points since step 0.');
  });

  it('falls back to the report before a resumed checkpoint, and shows the finished one', () => {
    const run = replay([...events(), started(20, 40)]);
    expect(run.evalSteps).toEqual([0, 20]);
    expect(run.forgetting?.step).toBe(20);
    expect(replay([...events(), started(0, 40)]).forgetting).toBeNull();
    const report = replay(events()).forgetting!;
    foldEvent(run, {
      kind: 'finished',
      output_dir: '/runs/r1',
      model_dir: '/runs/r1/model',
      adapter_dir: null,
      steps: 40,
      first_loss: 5,
      last_loss: 2,
      best_checkpoint: null,
      best_metric: null,
      stopped_early: false,
      forgetting: report,
    });
    expect(run.forgetting?.step).toBe(40);
    expect(run.summary?.forgetting?.tasks[1].dropped).toBe(true);
  });

  it('formats signed changes', () => {
    expect(formatDelta(0.01234)).toBe('+1.23');
    expect(formatDelta(-0.1)).toBe('−10.00');
    expect(formatDelta(Number.NaN)).toBe('—');
  });
});

describe('display helpers', () => {
  it('formats durations', () => {
    expect(formatDuration(45)).toBe('45s');
    expect(formatDuration(185)).toBe('3m 05s');
    expect(formatDuration(3720)).toBe('1h 02m');
    expect(formatDuration(null)).toBe('—');
    expect(formatDuration(Number.NaN)).toBe('—');
  });

  it('labels the step counter', () => {
    expect(stepLabel({ step: 120, totalSteps: 1000 })).toBe('step 120 / 1000 (12%)');
    expect(stepLabel({ step: 5, totalSteps: 0 })).toBe('step 5');
  });
});

describe('chart data', () => {
  it('aligns train and validation loss on the union of steps', () => {
    expect(alignSeries({ x: [1, 2, 3], y: [5, 4, 3] }, { x: [2, 4], y: [3.5, 2.5] })).toEqual([
      [1, 2, 3, 4],
      [5, 4, 3, null],
      [null, 3.5, null, 2.5],
    ]);
  });

  it('downsamples long runs keeping the ends', () => {
    const values = Array.from({ length: 10_001 }, (_, i) => i);
    const out = downsample(values, 101);
    expect(out).toHaveLength(101);
    expect(out[0]).toBe(0);
    expect(out[100]).toBe(10_000);
    const run = replay([started(), ...Array.from({ length: 50 }, (_, i) => step(i + 1))]);
    const [xs, train] = lossChartData(run, 10);
    expect(xs).toHaveLength(10);
    expect(xs[9]).toBe(50);
    expect(train[9]).toBeCloseTo(4.5);
  });

  it('redraws at most once per animation frame', () => {
    const frames: FrameRequestCallback[] = [];
    vi.stubGlobal('requestAnimationFrame', (cb: FrameRequestCallback) => frames.push(cb));
    vi.stubGlobal('cancelAnimationFrame', () => {});
    const draw = vi.fn();
    const throttle = rafThrottle(draw);
    for (let i = 0; i < 100; i++) throttle.schedule();
    expect(frames).toHaveLength(1);
    frames[0](0);
    expect(draw).toHaveBeenCalledTimes(1);
    throttle.schedule();
    expect(frames).toHaveLength(2);
    vi.unstubAllGlobals();
  });
});
