import { describe, expect, it } from 'vitest';
import { factSegments, inventedRows, inventedSummary } from './facts';
import type { Fact } from './ipc';
import { evalReport } from '../test/fixtures';

const fact = (text: string, start: number, end: number, invented: boolean): Fact => ({
  text,
  kind: 'name',
  start,
  end,
  invented,
});

describe('fact segments', () => {
  it('cuts the summary at each fact', () => {
    const summary = 'Anna stays in Boston.';
    const segments = factSegments(summary, [fact('Boston', 14, 20, true), fact('Anna', 0, 4, false)]);
    expect(segments.map((s) => [s.text, s.fact?.invented ?? null])).toEqual([
      ['Anna', false],
      [' stays in ', null],
      ['Boston', true],
      ['.', null],
    ]);
    expect(segments.map((s) => s.text).join('')).toBe(summary);
  });

  it('maps UTF-8 byte offsets to string offsets', () => {
    // "Zoë" is 4 bytes: "Köln" is bytes 14..19, string indices 13..17.
    const summary = 'Zoë flies to Köln.';
    const segments = factSegments(summary, [fact('Köln', 14, 19, true)]);
    expect(segments.map((s) => s.text)).toEqual(['Zoë flies to ', 'Köln', '.']);
  });

  it('leaves overlapping and out-of-range facts as text', () => {
    const segments = factSegments('ab cd', [fact('ab', 0, 2, true), fact('b', 1, 2, true), fact('x', 4, 9, true)]);
    expect(segments.map((s) => s.text)).toEqual(['ab', ' cd']);
  });
});

describe('invented summary line', () => {
  it('names the invented facts once each', () => {
    const facts = [fact('Boston', 0, 6, true), fact('Anna', 7, 11, false), fact('Boston', 12, 18, true)];
    expect(inventedSummary(facts)).toBe('2 of 3 facts are not in the chat: Boston');
    expect(inventedSummary([fact('Anna', 0, 4, false)])).toBe('All 1 facts are in the chat.');
    expect(inventedSummary([])).toBe('No names, numbers, dates or places to check.');
  });
});

describe('invented rows', () => {
  it('gives each model its rate in percent', () => {
    const rows = inventedRows(evalReport());
    expect(rows).toEqual([
      { label: 'run-1/model', rate: '5.00', count: 2 },
      { label: 'google/flan-t5-small', rate: '12.50', count: 5 },
    ]);
  });
});
