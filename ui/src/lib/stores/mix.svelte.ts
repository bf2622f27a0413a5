/** Task-mix page state: templates, tasks, strategy, live shares and the engine's preview. */
import * as ipc from '../ipc';
import type { MixSettings, MixSpec, MixturePreview, TemplateInfo } from '../ipc';
import { buildMixSpec, debounce, mixingRates, mixProblems, trainingWeights, trainSize, uniqueTaskName, type MixEntry } from '../mix';
import { datasets } from './datasets.svelte';
import { notices } from './notices.svelte';

export class MixStore {
  templates = $state<TemplateInfo[]>([]);
  templatesLoaded = $state(false);
  entries = $state<MixEntry[]>([]);
  settings = $state<MixSettings>({
    strategy: 'proportional',
    seed: 42,
    temperature: 2,
    max_source_tokens: 512,
    max_target_tokens: 128,
  });
  preview = $state<MixturePreview | null>(null);
  previewing = $state(false);
  previewError = $state<string | null>(null);
  #request = 0;
  #next = 1;

  async ensureTemplates(): Promise<void> {
    if (this.templatesLoaded && this.templates.length > 0) return;
    try {
      this.templates = await ipc.listTemplates();
      this.templatesLoaded = true;
    } catch (error) {
      notices.error(error, 'Listing templates');
    }
  }

  template(name: string): TemplateInfo | undefined {
    return this.templates.find((t) => t.name === name);
  }

  addTask(data: string, template: string): void {
    const name = uniqueTaskName(data, template, this.entries.map((e) => e.name));
    const dataset = datasets.items.find((d) => d.path === data);
    const columns = dataset?.options.columns ? { ...dataset.options.columns } : {};
    this.entries.push({ key: `t${this.#next++}`, name, data, template, weight: 1, columns, phrasings: null });
    this.schedulePreview();
  }

  removeTask(key: string): void {
    this.entries = this.entries.filter((e) => e.key !== key);
    this.schedulePreview();
  }

  /** Starts editing a task's phrasings from its template's. */
  editPhrasings(key: string): void {
    const entry = this.entries.find((e) => e.key === key);
    if (!entry || entry.phrasings) return;
    entry.phrasings = (this.template(entry.template)?.phrasings ?? []).map((p) => ({ ...p }));
  }

  resetPhrasings(key: string): void {
    const entry = this.entries.find((e) => e.key === key);
    if (entry) entry.phrasings = null;
    this.schedulePreview();
  }

  /** Training examples per task, from the loaded dataset reports. */
  get sizes(): number[] {
    return this.entries.map((e) => trainSize(datasets.items.find((d) => d.path === e.data)?.report ?? undefined));
  }

  /** Configured shares, computed here as the engine does (shown at once). */
  get shares(): number[] {
    return mixingRates(
      this.settings.strategy,
      this.sizes,
      trainingWeights(this.entries),
      this.settings.cap,
      this.settings.temperature ?? 1,
    );
  }

  /** What keeps the mix from training, Start's gate: its own settings, and tasks whose dataset is not loaded. */
  get problems(): string[] {
    const problems = mixProblems(this.settings, this.entries);
    for (const entry of this.entries) {
      const dataset = datasets.items.find((d) => d.path === entry.data);
      if (!dataset) problems.push(`Task "${entry.name}": load its dataset ${entry.data} on the Datasets page`);
      else if (!dataset.loading && !dataset.report) problems.push(`Task "${entry.name}": its dataset ${entry.data} could not be read`);
    }
    return problems;
  }

  get spec(): MixSpec {
    return buildMixSpec($state.snapshot(this.settings), $state.snapshot(this.entries), this.templates);
  }

  /** Asks the engine for observed shares and rendered examples; stale answers are dropped. */
  async refreshPreview(): Promise<void> {
    if (this.problems.length > 0) {
      this.preview = null;
      this.previewError = null;
      return;
    }
    const request = ++this.#request;
    this.previewing = true;
    try {
      const preview = await ipc.previewMix(this.spec);
      if (request === this.#request) {
        this.preview = preview;
        this.previewError = null;
      }
    } catch (error) {
      if (request === this.#request) this.previewError = ipc.errorMessage(error);
    } finally {
      if (request === this.#request) this.previewing = false;
    }
  }

  #debounced = debounce(() => void this.refreshPreview(), 400);

  /** Call after every edit: previews 400 ms after the last one. */
  schedulePreview(): void {
    this.#debounced();
  }

  /** Replaces the mix (e.g. "new run from these settings"). */
  load(spec: MixSpec): void {
    this.settings = { ...this.settings, ...spec.mixture };
    this.entries = spec.task.map((t) => ({
      key: `t${this.#next++}`,
      name: t.name,
      data: t.data,
      template: t.template,
      weight: t.weight ?? 1,
      columns: { ...(t.columns ?? {}) },
      phrasings: t.phrasings ? t.phrasings.map((p) => ({ ...p })) : null,
    }));
    for (const w of spec.watch ?? []) {
      this.entries.push({
        key: `t${this.#next++}`,
        name: w.name,
        data: w.data,
        template: w.template,
        weight: 1,
        columns: { ...(w.columns ?? {}) },
        phrasings: null,
        watch: true,
      });
    }
    this.schedulePreview();
  }
}

export const mix = new MixStore();
