import { describe, expect, it } from 'vitest';
import { nearDupRow } from './datasets';

describe('nearDupRow', () => {
  it('names the file, line and id', () => {
    expect(nearDupRow({ task: null, file: '/data/dialogsum.test.jsonl', id: 'test_63', row: 64, line: 64 })).toBe(
      'dialogsum.test.jsonl:64 test_63',
    );
    expect(nearDupRow({ task: 'dev', file: 'C:\\data\\chats.parquet', id: 'c7', row: 7, line: null })).toBe('chats.parquet row 7 c7');
  });
});
