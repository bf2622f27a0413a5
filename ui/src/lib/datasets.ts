/** Dataset page helpers: problems list, histogram labels, preview columns. */
import type { Bucket, CheckReport, InspectReport, RowRef } from './ipc';

export interface Problem {
  label: string;
  count: number;
  examples: string[];
}

/** The non-empty findings of a check report, readable. */
export function problemList(checks: CheckReport): Problem[] {
  const problems: Problem[] = Object.entries(checks.empty_fields).map(([field, f]) => ({
    label: `Empty "${field}"`,
    count: f.count,
    examples: f.example_ids,
  }));
  const named: [string, keyof CheckReport][] = [
    ['Exact duplicates', 'duplicates'],
    ['Train/eval overlap', 'split_overlap'],
    ['Cross-dataset train/eval overlap', 'cross_dataset_overlap'],
    ['Over-long inputs', 'over_long_inputs'],
    ['Over-long targets', 'over_long_targets'],
  ];
  for (const [label, key] of named) {
    const finding = checks[key] as { count: number; example_ids: string[] };
    problems.push({ label, count: finding.count, examples: finding.example_ids });
  }
  for (const [field, f] of Object.entries(checks.numeric_fields)) {
    problems.push({ label: `Numbers read as text in "${field}" (a column mapped to the wrong field?)`, count: f.count, examples: f.example_ids });
  }
  return problems.filter((p) => p.count > 0);
}

/** A near-duplicate row as `file:line id` (file name only; `row N` without lines). */
export function nearDupRow(row: RowRef): string {
  const name = row.file.split(/[\\/]/).pop() ?? row.file;
  const place = row.line === null ? `${name} row ${row.row}` : `${name}:${row.line}`;
  return `${place} ${row.id}`;
}

/** `0-64`, `513+`. */
export function bucketLabel(bucket: Bucket): string {
  return bucket.high === null ? `${bucket.low}+` : `${bucket.low}-${bucket.high}`;
}

/** Canonical fields shown as preview columns, in a stable order (dialogue/input first). */
export function previewFields(report: InspectReport): string[] {
  const fields = new Set<string>();
  for (const record of report.preview) for (const key of Object.keys(record.fields)) fields.add(key);
  const order = ['dialogue', 'input', 'summary', 'target', 'topic'];
  return [...fields].sort((a, b) => {
    const ia = order.indexOf(a);
    const ib = order.indexOf(b);
    return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib) || a.localeCompare(b);
  });
}

/** Fields a mapping can name: the detected ones plus the usual canonical names. */
export function mappableFields(report: InspectReport): string[] {
  const fields = new Set(['dialogue', 'summary', 'topic', 'input', 'target', 'id', 'split']);
  for (const key of Object.keys(report.schema.fields)) fields.add(key);
  return [...fields];
}

/** `train 12460 · validation 500 · test 1500`. */
export function splitSummary(splits: Record<string, number>): string {
  return Object.entries(splits)
    .map(([split, count]) => `${split} ${count}`)
    .join(' · ');
}

/** Shortens long cells for the preview table. */
export function clip(text: string, limit = 300): string {
  return text.length > limit ? `${text.slice(0, limit)}…` : text;
}
