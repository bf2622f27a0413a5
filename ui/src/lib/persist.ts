/**
 * The pages' work in progress as the app remembers it between launches (the shell keeps it
 * in `app-state.json` of its config folder, `src-tauri/src/saved.rs`): the loaded datasets
 * with their options, the task mix and the Train page's settings. The shell stores it as it
 * comes; it is checked here when read back, so a damaged or older file restores what it can.
 */
import type { InspectOptions, MixSpec } from './ipc';
import type { TrainForm } from './presets';

export interface SavedUi {
  version: 1;
  datasets: { path: string; options: InspectOptions }[];
  /** `null` when no task was added. */
  mix: MixSpec | null;
  train: { preset: string; form: TrainForm } | null;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The saved state, or `null` when there is none (or not of this version). */
export function parseSavedUi(value: unknown): SavedUi | null {
  if (!isObject(value) || value.version !== 1) return null;
  const datasets = Array.isArray(value.datasets)
    ? value.datasets.flatMap((d) =>
        isObject(d) && typeof d.path === 'string' && d.path.trim()
          ? [{ path: d.path, options: (isObject(d.options) ? d.options : {}) as InspectOptions }]
          : [],
      )
    : [];
  const mix = isObject(value.mix) && Array.isArray(value.mix.task) && isObject(value.mix.mixture) ? (value.mix as unknown as MixSpec) : null;
  const train =
    isObject(value.train) && typeof value.train.preset === 'string' && isObject(value.train.form)
      ? { preset: value.train.preset, form: value.train.form as unknown as TrainForm }
      : null;
  return { version: 1, datasets, mix, train };
}
