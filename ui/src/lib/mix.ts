/**
 * Task-mix logic: client-side mixing rates (the engine's `mixing_rates`, for instant
 * feedback while `preview_mix` runs), and building the `MixSpec` sent to the shell.
 */
import type { InspectReport, MixSettings, MixSpec, MixTask, MixWatch, PhrasingInfo, Strategy, TemplateInfo } from './ipc';

/** One task of the mix as the page edits it. */
export interface MixEntry {
  key: string;
  name: string;
  data: string;
  template: string;
  weight: number;
  columns: Record<string, string>;
  /** The template's phrasings as edited; null keeps the template's own. */
  phrasings: PhrasingInfo[] | null;
  /** A `[[watch]]` task: scored at every validation pass, never trained on (no share). */
  watch?: boolean;
}

/** The weights the mixing rates use: a watched task gets none. */
export function trainingWeights(entries: MixEntry[]): number[] {
  return entries.map((e) => (e.watch ? 0 : e.weight));
}

/**
 * Mixing rates summing to 1, as `src/mixture/sampler.rs` computes them: proportional
 * `min(n, K)·w`, temperature `min(n, K)^(1/T)·w`, explicit `w` (0 for empty tasks).
 */
export function mixingRates(
  strategy: Strategy,
  sizes: number[],
  weights: number[],
  cap: number | undefined,
  temperature: number,
): number[] {
  const capped = (size: number) => (cap !== undefined && cap > 0 ? Math.min(size, cap) : size);
  const raw = sizes.map((size, i) => {
    const weight = weights[i] ?? 1;
    switch (strategy) {
      case 'proportional':
        return capped(size) * weight;
      case 'temperature':
        return Math.pow(capped(size), 1 / temperature) * weight;
      case 'explicit':
        return size === 0 ? 0 : weight;
    }
  });
  const total = raw.reduce((a, b) => a + b, 0);
  if (!(total > 0) || !Number.isFinite(total)) return sizes.map(() => 0);
  return raw.map((r) => r / total);
}

/** Training examples of a dataset: its `train` split (all rows when it has no split info). */
export function trainSize(report: InspectReport | undefined): number {
  if (!report) return 0;
  return report.splits.train ?? report.rows;
}

/** `dialogsum` from `/data/dialogsum.train.jsonl`. */
export function baseName(path: string): string {
  const file = path.split(/[\\/]/).pop() ?? path;
  return file.replace(/\.(jsonl|json|csv|tsv|parquet)$/i, '').split('.')[0] || 'task';
}

/** A task name not in `taken`: `stem_template`, then `_2`, `_3`... */
export function uniqueTaskName(data: string, template: string, taken: string[]): string {
  const stem = `${baseName(data)}_${template}`.replace(/[^A-Za-z0-9_-]+/g, '_');
  if (!taken.includes(stem)) return stem;
  for (let i = 2; ; i++) {
    const name = `${stem}_${i}`;
    if (!taken.includes(name)) return name;
  }
}

function phrasingsEqual(a: PhrasingInfo[], b: PhrasingInfo[]): boolean {
  return a.length === b.length && a.every((p, i) => p.source === b[i].source && p.target === b[i].target);
}

/** The mixture TOML as JSON. Phrasings go along only when they differ from the template's. */
export function buildMixSpec(settings: MixSettings, entries: MixEntry[], templates: TemplateInfo[]): MixSpec {
  const watch: MixWatch[] = entries
    .filter((entry) => entry.watch)
    .map((entry) => {
      const w: MixWatch = { name: entry.name, data: entry.data, template: entry.template };
      if (Object.keys(entry.columns).length > 0) w.columns = { ...entry.columns };
      return w;
    });
  const task: MixTask[] = entries.filter((entry) => !entry.watch).map((entry) => {
    const t: MixTask = { name: entry.name, data: entry.data, template: entry.template, weight: entry.weight };
    if (Object.keys(entry.columns).length > 0) t.columns = { ...entry.columns };
    const template = templates.find((x) => x.name === entry.template);
    if (entry.phrasings && (!template || !phrasingsEqual(entry.phrasings, template.phrasings))) {
      t.phrasings = entry.phrasings.map((p) => ({ ...p }));
    }
    return t;
  });
  const mixture: MixSettings = {
    strategy: settings.strategy,
    seed: settings.seed,
    max_source_tokens: settings.max_source_tokens,
    max_target_tokens: settings.max_target_tokens,
  };
  if (settings.strategy === 'temperature') mixture.temperature = settings.temperature ?? 2;
  if (settings.cap !== undefined && settings.cap > 0 && settings.strategy !== 'explicit') mixture.cap = settings.cap;
  if (settings.speakers) mixture.speakers = settings.speakers;
  return watch.length > 0 ? { mixture, task, watch } : { mixture, task };
}

/** Problems that make a mix unusable, before asking the engine. */
export function mixProblems(settings: MixSettings, entries: MixEntry[]): string[] {
  const problems: string[] = [];
  if (entries.length === 0) problems.push('Add at least one task');
  else if (entries.every((e) => e.watch)) problems.push('Train at least one task: watched tasks are only scored');
  const names = new Set<string>();
  for (const entry of entries) {
    if (!entry.name.trim()) problems.push('Every task needs a name');
    else if (names.has(entry.name)) problems.push(`Task name "${entry.name}" is used twice`);
    names.add(entry.name);
    if (!(entry.weight >= 0)) problems.push(`Task "${entry.name}": weight must be 0 or more`);
  }
  if (settings.strategy === 'temperature' && !((settings.temperature ?? 0) > 0)) {
    problems.push('Temperature must be greater than 0');
  }
  const trained = entries.filter((e) => !e.watch);
  if (settings.strategy === 'explicit' && trained.length > 0 && trained.every((e) => e.weight === 0)) {
    problems.push('Explicit weights need at least one task with weight above 0');
  }
  return problems;
}

/** Calls `fn` once `ms` after the last call. */
export function debounce<A extends unknown[]>(fn: (...args: A) => void, ms: number) {
  let timer: ReturnType<typeof setTimeout> | null = null;
  const debounced = (...args: A) => {
    if (timer !== null) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = null;
      fn(...args);
    }, ms);
  };
  debounced.cancel = () => {
    if (timer !== null) clearTimeout(timer);
    timer = null;
  };
  return debounced;
}

/** `12.5%`. */
export function percent(share: number, digits = 1): string {
  return `${(share * 100).toFixed(digits)}%`;
}
