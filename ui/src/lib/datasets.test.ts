import { describe, expect, it } from 'vitest';
import { nearDupRow, problemList } from './datasets';
import { datasetReport } from '../test/fixtures';

describe('nearDupRow', () => {
  it('names the file, line and id', () => {
    expect(nearDupRow({ task: null, file: '/data/dialogsum.test.jsonl', id: 'test_63', row: 64, line: 64 })).toBe(
      'dialogsum.test.jsonl:64 test_63',
    );
    expect(nearDupRow({ task: 'dev', file: 'C:\\data\\chats.parquet', id: 'c7', row: 7, line: null })).toBe('chats.parquet row 7 c7');
  });
});

describe('problemList', () => {
  it('lists numbers read as text with the other findings', () => {
    const checks = { ...datasetReport().checks, numeric_fields: { summary: { count: 3, example_ids: ['a1', 'a2'] } } };
    const labels = problemList(checks).map((p) => `${p.label}: ${p.count}`);
    expect(labels).toContain('Empty "summary": 1');
    expect(labels.find((l) => l.startsWith('Numbers read as text in "summary"'))).toMatch(/: 3$/);
  });
});
