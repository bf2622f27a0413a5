import { afterEach, describe, expect, it, vi } from 'vitest';
import { baseName, buildMixSpec, debounce, mixingRates, mixProblems, percent, trainingWeights, trainSize, uniqueTaskName, type MixEntry } from './mix';
import type { MixSettings, TemplateInfo } from './ipc';
import { datasetReport } from '../test/fixtures';

const close = (a: number[], b: number[]) => a.every((x, i) => Math.abs(x - b[i]) < 1e-12) && a.length === b.length;

describe('mixingRates (same numbers as src/mixture/sampler.rs)', () => {
  it('proportional, with and without a cap', () => {
    expect(close(mixingRates('proportional', [100, 300, 10_000], [1, 1, 1], 1000, 1), [100 / 1400, 300 / 1400, 1000 / 1400])).toBe(true);
    expect(close(mixingRates('proportional', [100, 300], [1, 1], undefined, 1), [0.25, 0.75])).toBe(true);
  });

  it('temperature flattens', () => {
    expect(close(mixingRates('temperature', [100, 400], [1, 1], undefined, 2), [10 / 30, 20 / 30])).toBe(true);
    expect(close(mixingRates('temperature', [100, 400], [1, 1], undefined, 1), [0.2, 0.8])).toBe(true);
  });

  it('explicit normalises weights and gives empty tasks nothing', () => {
    expect(close(mixingRates('explicit', [5, 5, 0], [3, 1, 4], undefined, 1), [0.75, 0.25, 0])).toBe(true);
  });

  it('weights multiply proportional rates; all-zero gives zeros', () => {
    expect(close(mixingRates('proportional', [100, 100], [3, 1], undefined, 1), [0.75, 0.25])).toBe(true);
    expect(mixingRates('explicit', [5, 5], [0, 0], undefined, 1)).toEqual([0, 0]);
    expect(mixingRates('proportional', [], [], undefined, 1)).toEqual([]);
  });
});

const settings: MixSettings = { strategy: 'proportional', seed: 1, temperature: 2, cap: 3000, max_source_tokens: 512, max_target_tokens: 128 };
const template: TemplateInfo = {
  name: 'dialogue_summary',
  file: 'dialogue_summary.toml',
  description: 'Summarize a dialogue.',
  fields: ['dialogue', 'summary'],
  phrasings: [{ name: 'a', source: 'Summarize: {{ dialogue }}', target: '{{ summary }}' }],
};
const entry = (over: Partial<MixEntry> = {}): MixEntry => ({
  key: 'k',
  name: 'dialogsum',
  data: '/d/dialogsum.jsonl',
  template: 'dialogue_summary',
  weight: 1,
  columns: {},
  phrasings: null,
  ...over,
});

describe('buildMixSpec', () => {
  it('sends watched tasks as [[watch]] entries, without weight or share', () => {
    const entries = [entry(), entry({ key: 'w', name: 'topic', template: 'dialogue_topic', watch: true, columns: { dialogue: 'chat' } })];
    const spec = buildMixSpec(settings, entries, [template]);
    expect(spec.task.map((t) => t.name)).toEqual(['dialogsum']);
    expect(spec.watch).toEqual([{ name: 'topic', data: entries[1].data, template: 'dialogue_topic', columns: { dialogue: 'chat' } }]);
    expect(buildMixSpec(settings, [entry()], [template])).not.toHaveProperty('watch');
    expect(trainingWeights(entries)).toEqual([1, 0]);
    expect(mixingRates('proportional', [100, 100], trainingWeights(entries), undefined, 1)).toEqual([1, 0]);
    expect(mixProblems(settings, [entries[1]])).toEqual(['Train at least one task: watched tasks are only scored']);
    expect(mixProblems({ ...settings, strategy: 'explicit' }, entries)).toEqual([]);
  });

  it('writes engine keys only (weight, cap; no temperature for proportional)', () => {
    const spec = buildMixSpec(settings, [entry({ columns: { dialogue: 'chat' } })], [template]);
    expect(spec).toEqual({
      mixture: { strategy: 'proportional', seed: 1, cap: 3000, max_source_tokens: 512, max_target_tokens: 128 },
      task: [{ name: 'dialogsum', data: '/d/dialogsum.jsonl', template: 'dialogue_summary', weight: 1, columns: { dialogue: 'chat' } }],
    });
  });

  it('sends temperature for the temperature strategy and no cap for explicit', () => {
    expect(buildMixSpec({ ...settings, strategy: 'temperature' }, [entry()], [template]).mixture.temperature).toBe(2);
    expect(buildMixSpec({ ...settings, strategy: 'explicit' }, [entry()], [template]).mixture).not.toHaveProperty('cap');
  });

  it("sends phrasings only when they differ from the template's", () => {
    const same = buildMixSpec(settings, [entry({ phrasings: template.phrasings.map((p) => ({ ...p })) })], [template]);
    expect(same.task[0]).not.toHaveProperty('phrasings');
    const edited = buildMixSpec(settings, [entry({ phrasings: [{ name: 'a', source: 'TL;DR {{ dialogue }}', target: '{{ summary }}' }] })], [template]);
    expect(edited.task[0].phrasings?.[0].source).toBe('TL;DR {{ dialogue }}');
  });
});

describe('mix helpers', () => {
  it('names tasks uniquely from file and template', () => {
    expect(baseName('/data/dialogsum.train.jsonl')).toBe('dialogsum');
    expect(baseName('C:\\data\\samsum.csv')).toBe('samsum');
    expect(uniqueTaskName('/d/samsum.csv', 'dialogue_topic', [])).toBe('samsum_dialogue_topic');
    expect(uniqueTaskName('/d/samsum.csv', 'dialogue_topic', ['samsum_dialogue_topic', 'samsum_dialogue_topic_2'])).toBe('samsum_dialogue_topic_3');
  });

  it('counts training examples from the train split', () => {
    expect(trainSize(datasetReport())).toBe(2);
    expect(trainSize(datasetReport({ splits: {}, rows: 9 }))).toBe(9);
    expect(trainSize(undefined)).toBe(0);
  });

  it('reports problems before asking the engine', () => {
    expect(mixProblems(settings, [])).toEqual(['Add at least one task']);
    expect(mixProblems(settings, [entry(), entry({ key: 'b' })])).toEqual(['Task name "dialogsum" is used twice']);
    expect(mixProblems({ ...settings, strategy: 'explicit' }, [entry({ weight: 0 })])).toEqual([
      'Explicit weights need at least one task with weight above 0',
    ]);
    expect(mixProblems({ ...settings, strategy: 'temperature', temperature: 0 }, [entry()])).toEqual(['Temperature must be greater than 0']);
  });

  it('formats shares', () => {
    expect(percent(0.12345)).toBe('12.3%');
    expect(percent(1, 0)).toBe('100%');
  });
});

describe('debounce', () => {
  afterEach(() => vi.useRealTimers());

  it('runs once after the last call', () => {
    vi.useFakeTimers();
    const fn = vi.fn();
    const d = debounce(fn, 400);
    d(1);
    vi.advanceTimersByTime(300);
    d(2);
    vi.advanceTimersByTime(300);
    expect(fn).not.toHaveBeenCalled();
    vi.advanceTimersByTime(100);
    expect(fn).toHaveBeenCalledExactlyOnceWith(2);
    d(3);
    d.cancel();
    vi.advanceTimersByTime(1000);
    expect(fn).toHaveBeenCalledTimes(1);
  });
});
