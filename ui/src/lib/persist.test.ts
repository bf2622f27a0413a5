import { describe, expect, it } from 'vitest';
import { parseSavedUi } from './persist';

describe('saved session', () => {
  it('reads back what it can and nothing from a foreign or damaged value', () => {
    expect(parseSavedUi(null)).toBeNull();
    expect(parseSavedUi({ version: 2, datasets: [] })).toBeNull();
    expect(parseSavedUi('text')).toBeNull();
    const parsed = parseSavedUi({
      version: 1,
      datasets: [{ path: '/a.csv', options: { format: 'csv' } }, { path: '' }, 'junk', { path: '/b.jsonl' }],
      mix: { mixture: 'not a table', task: [] },
      train: { preset: 'lora-small', form: { model: 'm' } },
    });
    expect(parsed).toEqual({
      version: 1,
      datasets: [
        { path: '/a.csv', options: { format: 'csv' } },
        { path: '/b.jsonl', options: {} },
      ],
      mix: null,
      train: { preset: 'lora-small', form: { model: 'm' } },
    });
  });
});
