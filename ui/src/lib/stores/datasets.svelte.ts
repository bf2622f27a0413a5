/** Datasets page state: every loaded file with its inspection report. */
import * as ipc from '../ipc';
import type { InspectOptions, InspectReport } from '../ipc';
import { notices } from './notices.svelte';

export interface LoadedDataset {
  path: string;
  report: InspectReport | null;
  options: InspectOptions;
  loading: boolean;
  error: string | null;
  /** The file's columns when inspecting failed on them (no known schema), to map by hand. */
  columns: string[] | null;
}

export class DatasetsStore {
  items = $state<LoadedDataset[]>([]);
  selected = $state<string | null>(null);

  get current(): LoadedDataset | undefined {
    return this.items.find((d) => d.path === this.selected);
  }

  /** Only the datasets that inspected cleanly (what the mix page can use). */
  get ready(): (LoadedDataset & { report: InspectReport })[] {
    return this.items.filter((d): d is LoadedDataset & { report: InspectReport } => d.report !== null);
  }

  /** Loads (or re-inspects) `path`; the drop, the Open button and the path field all end here. */
  async load(path: string, options?: InspectOptions): Promise<void> {
    const trimmed = path.trim();
    if (!trimmed) return;
    let entry = this.items.find((d) => d.path === trimmed);
    if (!entry) {
      this.items.push({ path: trimmed, report: null, options: options ?? {}, loading: true, error: null, columns: null });
      entry = this.items[this.items.length - 1];
    }
    this.selected = trimmed;
    entry.loading = true;
    entry.error = null;
    if (options) entry.options = options;
    try {
      const report = await ipc.inspectDataset(trimmed, hasOptions(entry.options) ? entry.options : undefined);
      const target = this.items.find((d) => d.path === trimmed);
      if (target) {
        target.report = report;
        target.columns = null;
      }
      notices.dismissAbout(trimmed);
    } catch (error) {
      const target = this.items.find((d) => d.path === trimmed);
      if (target) {
        target.error = ipc.errorMessage(error);
        target.report = null;
        // A file the engine could read but not map: offer its columns to map in place.
        target.columns = ipc.isCmdError(error) && error.kind === 'input' ? await this.#columns(trimmed, target.options) : null;
      }
      notices.error(error);
    } finally {
      const target = this.items.find((d) => d.path === trimmed);
      if (target) target.loading = false;
    }
  }

  async #columns(path: string, options: InspectOptions): Promise<string[] | null> {
    try {
      const columns = await ipc.datasetColumns(path, options.format);
      return columns.length > 0 ? columns : null;
    } catch {
      return null;
    }
  }

  async loadMany(paths: string[]): Promise<void> {
    await Promise.all(paths.map((p) => this.load(p)));
  }

  async pickAndLoad(): Promise<void> {
    try {
      const path = await ipc.pickDataFile();
      if (path) await this.load(path);
    } catch (error) {
      notices.error(error);
    }
  }

  remove(path: string): void {
    this.items = this.items.filter((d) => d.path !== path);
    if (this.selected === path) this.selected = this.items[0]?.path ?? null;
  }
}

function hasOptions(options: InspectOptions): boolean {
  return Boolean(options.format || options.speakers || (options.columns && Object.keys(options.columns).length));
}

/** The mapping the user can edit: the detected schema's fields plus id and split columns. */
export function mappingFromReport(report: InspectReport): Record<string, string> {
  const mapping: Record<string, string> = { ...report.schema.fields };
  if (report.schema.id_column) mapping.id = report.schema.id_column;
  if (report.schema.split_column) mapping.split = report.schema.split_column;
  return mapping;
}

/** Mapping entries with a column chosen (empty selections dropped). */
export function cleanMapping(mapping: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(mapping).filter(([field, column]) => field.trim() && column.trim()));
}

export const datasets = new DatasetsStore();
