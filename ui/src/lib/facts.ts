/**
 * Invented facts (`mixtune::eval::facts`): a summary cut into plain and fact segments for
 * highlighting, and the invented-facts rate of each evaluated model.
 */
import type { EvalReport, Fact, ModelInfo } from './ipc';
import { formatScore, modelName } from './eval';

/** A piece of a summary: plain text, or one fact (invented or found in the chat). */
export interface Segment {
  text: string;
  fact: Fact | null;
}

/**
 * `summary` cut at its facts. The engine gives byte offsets into the UTF-8 text, so they are
 * mapped to string offsets here; facts that overlap one before, or fall outside the text,
 * are left as plain text.
 */
export function factSegments(summary: string, facts: Fact[]): Segment[] {
  const bytes = new TextEncoder().encode(summary);
  const decoder = new TextDecoder();
  const segments: Segment[] = [];
  let at = 0;
  for (const fact of [...facts].sort((a, b) => a.start - b.start)) {
    if (fact.start < at || fact.end > bytes.length || fact.end <= fact.start) continue;
    if (fact.start > at) segments.push({ text: decoder.decode(bytes.slice(at, fact.start)), fact: null });
    segments.push({ text: decoder.decode(bytes.slice(fact.start, fact.end)), fact });
    at = fact.end;
  }
  if (at < bytes.length) segments.push({ text: decoder.decode(bytes.slice(at)), fact: null });
  return segments;
}

/** "2 of 5 facts are not in the chat: Grand Plaza Hotel, Boston" (or that all are). */
export function inventedSummary(facts: Fact[]): string {
  if (facts.length === 0) return 'No names, numbers, dates or places to check.';
  const invented = facts.filter((f) => f.invented);
  if (invented.length === 0) return `All ${facts.length} facts are in the chat.`;
  const texts = [...new Set(invented.map((f) => f.text))].join(', ');
  return `${invented.length} of ${facts.length} facts are not in the chat: ${texts}`;
}

/** Each model's invented-facts rate, as the Evaluate page lists it. */
export interface InventedRow {
  label: string;
  /** Percent with two decimals. */
  rate: string;
  count: number;
}

export function inventedRows(report: EvalReport, models: ModelInfo[] = []): InventedRow[] {
  return report.models.map((m) => ({
    label: modelName(m.model, models),
    rate: formatScore(m.invented_rate),
    count: m.invented_facts,
  }));
}
