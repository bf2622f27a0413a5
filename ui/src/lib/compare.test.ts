import { describe, expect, it } from 'vitest';
import { bestRows, diffRows, factsCurve, hasFacts, overlayData, overlaySeries, overlayTasks, runCurves } from './compare';
import { evalEvent, runComparison, started, step } from '../test/fixtures';
import type { RunEvent } from './ipc';

function withFacts(event: RunEvent, rate: number, where: 'pass' | 'tasks'): RunEvent {
  if (event.kind !== 'eval') return event;
  if (where === 'pass') return { ...event, invented_facts_rate: rate } as RunEvent;
  const tasks = Object.fromEntries(Object.entries(event.tasks).map(([name, t], i) => [name, { ...t, invented_rate: rate * (i + 1) }]));
  return { ...event, tasks } as RunEvent;
}

describe('overlaid curves', () => {
  const a = runCurves('run-a', [started(), step(1, 4), step(2, 3.5), step(3, 3), evalEvent(2, { dialogsum: 0.3, topic: 0.5 })]);
  const b = runCurves('run-b', [started(), step(2, 5), step(4, 4), evalEvent(4, { dialogsum: 0.2 })]);

  it('puts every run on the union of their steps, null where a run has no point', () => {
    expect(overlayData([a, b], 'loss')).toEqual([
      [1, 2, 3, 4],
      [4, 3.5, 3, null],
      [null, 5, null, 4],
    ]);
    expect(overlayData([a, b], 'val_loss')).toEqual([
      [2, 4],
      [3 - 0.02, null],
      [null, 3 - 0.04],
    ]);
  });

  it('overlays one task and ROUGE variant, null for a run without the task', () => {
    expect(overlayTasks([a, b])).toEqual(['dialogsum', 'topic']);
    expect(overlayData([a, b], 'rouge', 'dialogsum', 'rouge1')).toEqual([
      [2, 4],
      [0.3, null],
      [null, 0.2],
    ]);
    expect(overlayData([a, b], 'rouge', 'topic', 'rouge1')).toEqual([
      [2, 4],
      [0.5, null],
      [null, null],
    ]);
  });

  it('names each line after its run, in run order', () => {
    expect(overlaySeries([a, b]).map((s) => [s.label, s.color])).toEqual([
      ['run-a', '--chart-1'],
      ['run-b', '--chart-2'],
    ]);
    expect(overlayData([], 'loss')).toEqual([[]]);
  });

  it("reads an eval's invented-facts rate when present, from the pass or the mean of its tasks", () => {
    // Runs log each task's `invented_rate` (the fixtures' 0.1): the curve is their mean.
    expect(hasFacts([a, b])).toBe(true);
    expect(factsCurve([evalEvent(2, { s: 0.1 })])).toEqual({ x: [2], y: [0.1] });
    // A log from before the check has none.
    const old = evalEvent(2, { s: 0.1 });
    if (old.kind === 'eval') for (const task of Object.values(old.tasks)) delete (task as { invented_rate?: number }).invented_rate;
    expect(factsCurve([old])).toEqual({ x: [], y: [] });
    expect(hasFacts([runCurves('old', [started(), old])])).toBe(false);
    const events = [
      withFacts(evalEvent(5, { s: 0.1, t: 0.2 }), 0.2, 'tasks'),
      withFacts(evalEvent(2, { s: 0.1 }), 0.5, 'pass'),
      withFacts(evalEvent(2, { s: 0.1 }), 0.4, 'pass'),
    ];
    const curve = factsCurve(events);
    expect(curve.x).toEqual([2, 5]);
    expect(curve.y[0]).toBe(0.4);
    expect(curve.y[1]).toBeCloseTo(0.3);
    const c = runCurves('run-c', events);
    expect(hasFacts([a, c])).toBe(true);
    expect(overlayData([a, c], 'facts')).toEqual([[2, 5], [0.1, null], [0.4, curve.y[1]]]);
  });
});

describe('comparison tables', () => {
  it('shows the differing keys, a dash where a run lacks one, and marks values unlike the first run', () => {
    const rows = diffRows(runComparison());
    expect(rows.map((r) => r.key)).toEqual(['learning_rate', 'lora.rank', 'task[topic].weight']);
    expect(rows[2].values).toEqual(['—', '1.0']);
    expect(rows[0].changed).toEqual([false, true]);
    expect(diffRows(runComparison(), ' LORA ').map((r) => r.key)).toEqual(['lora.rank']);
    expect(diffRows(runComparison(), 'nothing')).toEqual([]);
  });

  it('lines up best metrics and points at the best run of each row', () => {
    const rows = bestRows(runComparison());
    const row = (label: string) => rows.find((r) => r.label === label)!;
    expect(row('best val loss')).toEqual({ label: 'best val loss', values: ['1.4000', '1.2000'], best: 1 });
    expect(row('best ROUGE-1').best).toBe(0);
    expect(row('best ROUGE-2').best).toBe(1);
    expect(row('dialogsum ROUGE-L').best).toBeNull();
    // Only one run has a rate: shown, with no winner.
    expect(row('invented facts')).toEqual({ label: 'invented facts', values: ['—', '10.0%'], best: null });
    expect(row('steps').values).toEqual(['100 / 100', '100 / 100']);
  });

  it("shows the worst task's ROUGE-L change since step 0 when a run has a forgetting report", () => {
    const comparison = runComparison();
    expect(bestRows(comparison).some((r) => r.label.startsWith('forgetting'))).toBe(false);
    comparison.runs[0].best.forgetting = {
      metric: 'rougeL',
      threshold: 0.02,
      baseline_step: 0,
      step: 10,
      tasks: [
        { task: 'summary', watched: false, baseline: 0.3, now: 0.31, delta: 0.01, dropped: false },
        { task: 'topic', watched: true, baseline: 0.5, now: 0.42, delta: -0.08, dropped: true },
      ],
    };
    const row = bestRows(comparison).find((r) => r.label.startsWith('forgetting'))!;
    expect(row.values).toEqual(['−8.00', '—']);
  });

  it('leaves the invented-facts row out when no run has a rate', () => {
    const comparison = runComparison();
    comparison.runs[1].best.invented_facts_rate = null;
    expect(bestRows(comparison).some((r) => r.label === 'invented facts')).toBe(false);
  });
});
