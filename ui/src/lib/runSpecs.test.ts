import { describe, expect, it } from 'vitest';
import { recallSpec, rememberSpec } from './runSpecs';
import type { TrainSpec } from './ipc';

const spec = (steps: number): TrainSpec => ({
  mix: { mixture: { strategy: 'explicit', seed: 1, max_source_tokens: 512, max_target_tokens: 128 }, task: [] },
  config: { model: 'm', max_steps: steps },
});

describe('run specs', () => {
  it('remembers the latest spec per run id', () => {
    localStorage.clear();
    rememberSpec('a', spec(1));
    rememberSpec('b', spec(2));
    rememberSpec('a', spec(3));
    expect(recallSpec('a')?.config.max_steps).toBe(3);
    expect(recallSpec('b')?.config.max_steps).toBe(2);
    expect(recallSpec('c')).toBeUndefined();
  });

  it('survives corrupt storage', () => {
    localStorage.setItem('mixtune.runSpecs', '{not json');
    expect(recallSpec('a')).toBeUndefined();
    rememberSpec('a', spec(4));
    expect(recallSpec('a')?.config.max_steps).toBe(4);
  });
});
