import { describe, expect, it } from 'vitest';
import {
  csvCell,
  exampleRows,
  examplesCsv,
  filterRows,
  formatScore,
  generationTimes,
  modelName,
  scoresCsv,
  scoreTable,
  sortRows,
  toCsv,
} from './eval';
import type { ModelInfo } from './ipc';
import { evalReport } from '../test/fixtures';

describe('score table', () => {
  it('lists each model then the absolute improvement', () => {
    const rows = scoreTable(evalReport());
    expect(rows.map((r) => r.label)).toEqual(['run-1/model', 'google/flan-t5-small', 'Absolute improvement']);
    expect(rows[2].kind).toBe('improvement');
    expect(rows[2].scores.rouge1).toBeCloseTo(0.05);
    expect(rows[2].scores.rouge2).toBeCloseTo(0.025);
  });

  it('names models as the Models page does, with the folder on hover', () => {
    const report = evalReport();
    report.models[0].model = '/home/me/.local/share/mixtune/runs/run-20261126-101500/model';
    const known = { id: 'run-20261126-101500', path: report.models[0].model } as ModelInfo;
    const rows = scoreTable(report, [known]);
    expect(rows[0].label).toBe('run-20261126-101500');
    expect(rows[0].title).toBe(report.models[0].model);
    expect(modelName('/data/models/my-t5', [])).toBe('models/my-t5');
    expect(modelName('google/flan-t5-small', [])).toBe('google/flan-t5-small');
    expect(generationTimes(report, [known])).toBe('run-20261126-101500 12.5 s, google/flan-t5-small 10.0 s');
  });

  it("prefers the engine's improvement when given and omits it for one model", () => {
    const report = evalReport();
    report.improvement = { rouge1: 0.1, rouge2: 0.2, rougeL: 0.3, rougeLsum: 0.4 };
    expect(scoreTable(report)[2].scores.rougeL).toBe(0.3);
    report.models = report.models.slice(0, 1);
    expect(scoreTable(report)).toHaveLength(1);
  });

  it('formats scores as percent, improvements signed', () => {
    expect(formatScore(0.23456)).toBe('23.46');
    expect(formatScore(0.041, true)).toBe('+4.10');
    expect(formatScore(-0.0123, true)).toBe('-1.23');
    expect(formatScore(Number.NaN)).toBe('—');
  });
});

describe('example rows', () => {
  const rows = exampleRows(evalReport());

  it('flattens predictions of both models with the ROUGE-L delta', () => {
    expect(rows[0]).toMatchObject({ id: 'ex10', prediction: 'Lunch plans, "today"', basePrediction: 'Alice asks.' });
    expect(rows[0].delta).toBeCloseTo(0.3);
  });

  it('filters case-insensitively over id, input, reference and predictions', () => {
    expect(filterRows(rows, 'INVOICE').map((r) => r.id)).toEqual(['ex2']);
    expect(filterRows(rows, 'refund.').map((r) => r.id)).toEqual(['ex1']);
    expect(filterRows(rows, '  ')).toHaveLength(3);
    expect(filterRows(rows, 'nothing like this')).toHaveLength(0);
  });

  it('sorts ids naturally and scores numerically both ways', () => {
    expect(sortRows(rows, 'id', 'asc').map((r) => r.id)).toEqual(['ex1', 'ex2', 'ex10']);
    expect(sortRows(rows, 'id', 'desc').map((r) => r.id)).toEqual(['ex10', 'ex2', 'ex1']);
    expect(sortRows(rows, 'rouge1', 'desc').map((r) => r.id)).toEqual(['ex10', 'ex2', 'ex1']);
    expect(sortRows(rows, 'delta', 'asc').map((r) => r.id)).toEqual(['ex1', 'ex2', 'ex10']);
    expect(rows.map((r) => r.id)).toEqual(['ex10', 'ex2', 'ex1']);
  });

  it('puts missing values last whatever the direction', () => {
    const single = evalReport();
    single.models = single.models.slice(0, 1);
    single.rows = single.rows.map((e) => ({ ...e, id: `${e.id}-b`, predictions: e.predictions.slice(0, 1), rouge1: e.rouge1.slice(0, 1) }));
    const mixed = [...exampleRows(evalReport()).slice(0, 1), ...exampleRows(single)];
    expect(sortRows(mixed, 'delta', 'asc')[0].id).toBe('ex10');
    expect(sortRows(mixed, 'delta', 'desc')[0].id).toBe('ex10');
  });
});

describe('CSV', () => {
  it('escapes commas, quotes and newlines (RFC 4180)', () => {
    expect(csvCell('plain')).toBe('plain');
    expect(csvCell('a,b')).toBe('"a,b"');
    expect(csvCell('say "hi"')).toBe('"say ""hi"""');
    expect(csvCell('two\nlines')).toBe('"two\nlines"');
    expect(csvCell(null)).toBe('');
    expect(csvCell(0.5)).toBe('0.5');
    expect(csvCell(-0.25)).toBe('-0.25');
  });

  it('defuses spreadsheet formulas in text cells', () => {
    expect(csvCell('=SUM(A1)')).toBe("'=SUM(A1)");
    expect(csvCell('@cmd')).toBe("'@cmd");
  });

  it('writes header and rows with CRLF line ends', () => {
    expect(toCsv(['a', 'b'], [[1, 'x,y']])).toBe('a,b\r\n1,"x,y"\r\n');
  });

  it('exports the shown example rows and the score table', () => {
    const rows = sortRows(exampleRows(evalReport()), 'id', 'asc');
    const csv = examplesCsv(rows, true);
    const lines = csv.split('\r\n');
    expect(lines[0]).toBe('id,input,reference,prediction,rouge1,invented_facts,base_prediction,base_rouge1,delta_rouge1,base_invented_facts');
    expect(lines[1]).toBe(`ex1,"Carol: refund\nDan: ok",Carol gets a refund.,'=SUM(A1),0.2,A1,Refund.,0.4,-0.2,`);
    expect(csv).toContain('"Lunch plans, ""today"""');
    expect(examplesCsv(rows, false).split('\r\n')[0]).toBe('id,input,reference,prediction,rouge1,invented_facts');
    // Sorted by how many facts each prediction invented, most first.
    expect(sortRows(exampleRows(evalReport()), 'invented', 'desc')[0].id).toBe('ex1');
    expect(scoresCsv(scoreTable(evalReport())).split('\r\n')[0]).toBe('model,rouge1,rouge2,rougeL,rougeLsum');
  });
});
