import { describe, expect, it } from 'vitest';
import { emptyPrepare, foldPrepare, needsPreparation, preparationLine, preparedMessage, prepareProgressLine } from './gpuPrep';
import type { GpuPreparation } from './ipc';

const status = (over: Partial<GpuPreparation> = {}): GpuPreparation => ({
  on_gpu: true,
  device: 'NVIDIA H200 (Vulkan)',
  training_shapes: 10,
  generations: 12,
  prepared: 0,
  keeps_tuning: true,
  ...over,
});

describe('GPU kernel preparation', () => {
  it('says nothing on the CPU, and on a GPU how many of the shapes are prepared', () => {
    expect(preparationLine(status({ on_gpu: false }))).toBeNull();
    expect(needsPreparation(status({ on_gpu: false }))).toBe(false);
    expect(needsPreparation(null)).toBe(false);
    expect(preparationLine(status())).toMatch(/not prepared yet on NVIDIA H200 \(Vulkan\).*all 22 shapes \(10 training, 12 generation\)/);
    expect(preparationLine(status({ prepared: 5 }))).toContain('prepared for 5 of 22 shapes');
    expect(needsPreparation(status({ prepared: 21 }))).toBe(true);
    expect(preparationLine(status({ prepared: 22 }))).toContain('are prepared on NVIDIA H200 (Vulkan) (22 of 22 shapes)');
    expect(needsPreparation(status({ prepared: 22 }))).toBe(false);
    expect(preparationLine(status({ keeps_tuning: false }))).toContain('built without `gpu-cache`');
  });

  it('folds the steps into progress, counting what an earlier run had done', () => {
    let state = emptyPrepare();
    state = foldPrepare(state, { kind: 'starting', index: 0, total: 3, work: 'train', shape: [8, 512, 128] });
    expect(prepareProgressLine(state)).toBe('Preparing training step 8×512→128 tokens (1 of 3): compiling and tuning its kernels…');
    state = foldPrepare(state, { kind: 'done', work: 'train', shape: [8, 512, 128], outcome: { kind: 'prepared', seconds: 30, steps: 1 } });
    state = foldPrepare(state, { kind: 'starting', index: 1, total: 3, work: 'generate', shape: [1, 256, 4] });
    expect(prepareProgressLine(state)).toContain('generation 1×256 tokens (2 of 3)');
    state = foldPrepare(state, { kind: 'done', work: 'generate', shape: [1, 256, 4], outcome: { kind: 'already_prepared' } });
    expect(state).toMatchObject({ total: 3, finished: 2, ran: 1, skipped: 1, current: null });
    expect(prepareProgressLine(state)).toBe('Preparing GPU kernels (2 of 3 done)…');
    expect(preparedMessage({ prepared: 1, skipped: 0, seconds: 75 })).toBe('Prepared GPU kernels for 1 shape in 1m 15s: runs of these settings start on them.');
  });
});
