/**
 * Evaluate page logic: the lab's ROUGE table, per-example rows with filter and sort, CSV.
 */
import { formatRouge } from './format';
import type { EvalReport, MeanRouge, ModelInfo } from './ipc';

export const METRICS = ['rouge1', 'rouge2', 'rougeL', 'rougeLsum'] as const;
export type Metric = (typeof METRICS)[number];
export const METRIC_LABELS: Record<Metric, string> = {
  rouge1: 'ROUGE-1',
  rouge2: 'ROUGE-2',
  rougeL: 'ROUGE-L',
  rougeLsum: 'ROUGE-Lsum',
};

export interface ScoreRow {
  label: string;
  /** The model as the engine named it (a folder path or hub id), shown on hover. */
  title?: string;
  kind: 'model' | 'improvement';
  scores: MeanRouge;
}

function subtract(a: MeanRouge, b: MeanRouge): MeanRouge {
  return {
    rouge1: a.rouge1 - b.rouge1,
    rouge2: a.rouge2 - b.rouge2,
    rougeL: a.rougeL - b.rougeL,
    rougeLsum: a.rougeLsum - b.rougeLsum,
  };
}

/**
 * One row per model, then the absolute improvement (fine-tuned minus base) when two models
 * were evaluated. `report.models[0]` is the fine-tuned model, `[1]` the base.
 */
export function scoreTable(report: EvalReport, models: ModelInfo[] = []): ScoreRow[] {
  const rows: ScoreRow[] = report.models.map((m) => ({
    label: modelName(m.model, models),
    title: m.model,
    kind: 'model',
    scores: m.rouge,
  }));
  if (report.models.length >= 2) {
    const improvement = report.improvement ?? subtract(report.models[0].rouge, report.models[1].rouge);
    rows.push({ label: 'Absolute improvement', kind: 'improvement', scores: improvement });
  }
  return rows;
}

/** A score as percent with two decimals (`23.45`); improvements signed (`+4.10`). */
/**
 * The name the Models page shows for a model the engine names by folder or hub id; a folder
 * the list does not know is shown by its last two path parts (`run-…/model`).
 */
export function modelName(spec: string, models: ModelInfo[]): string {
  const known = models.find((m) => m.path === spec || m.id === spec);
  if (known) return known.id;
  const parts = spec.split('/').filter((p) => p.length > 0);
  return parts.length > 2 ? parts.slice(-2).join('/') : spec;
}

/** "fine-tuned 2.0 s, google/flan-t5-small 1.5 s": each model's generation time. */
export function generationTimes(report: EvalReport, models: ModelInfo[] = []): string {
  return report.models.map((m) => `${modelName(m.model, models)} ${m.seconds.toFixed(1)} s`).join(', ');
}

/** A score as `formatRouge` writes it, with a `+` on gains when `signed`. */
export function formatScore(value: number, signed = false): string {
  if (!Number.isFinite(value)) return '—';
  const text = formatRouge(value);
  return signed && value >= 0 ? `+${text}` : text;
}

/** One example flattened for the table. */
export interface ExampleRow {
  id: string;
  input: string;
  reference: string;
  /** Prediction of the fine-tuned model (first). */
  prediction: string;
  /** Prediction of the base model, when compared. */
  basePrediction: string | null;
  /** ROUGE-1 F of the fine-tuned and base predictions (what the engine scores per example). */
  rouge1: number;
  baseRouge1: number | null;
  /** Fine-tuned minus base ROUGE-1. */
  delta: number | null;
  /** Facts of the prediction (names, numbers, dates, places...) that the input lacks. */
  invented: string[];
  /** The same for the base prediction, when compared. */
  baseInvented: string[] | null;
}

export function exampleRows(report: EvalReport): ExampleRow[] {
  return report.rows.map((e) => {
    const compared = e.predictions.length >= 2;
    const first = e.rouge1[0] ?? 0;
    const second = compared ? (e.rouge1[1] ?? 0) : null;
    return {
      id: e.id,
      input: e.source,
      reference: e.reference,
      prediction: e.predictions[0] ?? '',
      basePrediction: compared ? e.predictions[1] : null,
      rouge1: first,
      baseRouge1: second,
      delta: second === null ? null : first - second,
      invented: e.invented[0] ?? [],
      baseInvented: compared ? (e.invented[1] ?? []) : null,
    };
  });
}

/** Rows whose id, input, reference or predictions contain `query` (case-insensitive). */
export function filterRows(rows: ExampleRow[], query: string): ExampleRow[] {
  const q = query.trim().toLowerCase();
  if (!q) return rows;
  return rows.filter((r) =>
    [r.id, r.input, r.reference, r.prediction, r.basePrediction ?? ''].some((text) => text.toLowerCase().includes(q)),
  );
}

export type SortKey = 'id' | 'rouge1' | 'baseRouge1' | 'delta' | 'invented';
export type SortDirection = 'asc' | 'desc';

/** A sorted copy; ids compare naturally (`ex2` before `ex10`), nulls always last. */
export function sortRows(rows: ExampleRow[], key: SortKey, direction: SortDirection): ExampleRow[] {
  const sign = direction === 'asc' ? 1 : -1;
  const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' });
  return [...rows].sort((a, b) => {
    if (key === 'id') return sign * collator.compare(a.id, b.id);
    const x = key === 'invented' ? a.invented.length : a[key];
    const y = key === 'invented' ? b.invented.length : b[key];
    if (x === null && y === null) return 0;
    if (x === null) return 1;
    if (y === null) return -1;
    return sign * (x - y) || collator.compare(a.id, b.id);
  });
}

/**
 * One CSV cell (RFC 4180): quoted when it holds a comma, quote, CR or LF, quotes doubled.
 * Text starting with `=`, `+`, `@` gets a leading `'` so spreadsheets do not run it.
 */
export function csvCell(value: string | number | null | undefined): string {
  if (value === null || value === undefined) return '';
  let text = typeof value === 'number' ? (Number.isFinite(value) ? String(value) : '') : value;
  if (typeof value === 'string' && /^[=+@]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function toCsv(header: string[], rows: (string | number | null | undefined)[][]): string {
  return [header, ...rows].map((row) => row.map(csvCell).join(',')).join('\r\n') + '\r\n';
}

/** The (filtered, sorted) example rows as CSV. */
export function examplesCsv(rows: ExampleRow[], compared: boolean): string {
  const header = ['id', 'input', 'reference', 'prediction', 'rouge1', 'invented_facts'];
  if (compared) header.push('base_prediction', 'base_rouge1', 'delta_rouge1', 'base_invented_facts');
  return toCsv(
    header,
    rows.map((r) => {
      const row: (string | number | null)[] = [r.id, r.input, r.reference, r.prediction, r.rouge1, r.invented.join('; ')];
      if (compared) row.push(r.basePrediction, r.baseRouge1, r.delta, (r.baseInvented ?? []).join('; '));
      return row;
    }),
  );
}

/** The score table as CSV. */
export function scoresCsv(rows: ScoreRow[]): string {
  return toCsv(
    ['model', ...METRICS],
    rows.map((r) => [r.label, ...METRICS.map((m) => r.scores[m])]),
  );
}
