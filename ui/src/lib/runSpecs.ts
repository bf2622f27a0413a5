/**
 * The settings each run was started with (`TrainSpec`), kept in the webview's storage so
 * "new run from these settings" works after the window was closed: `list_runs` only
 * reports a run's model and method.
 */
import type { TrainSpec } from './ipc';

const KEY = 'mixtune.runSpecs';
/** Runs remembered; the oldest are forgotten first. */
const LIMIT = 200;

type Stored = { id: string; spec: TrainSpec }[];

function read(storage: Storage | undefined): Stored {
  try {
    const parsed = JSON.parse(storage?.getItem(KEY) ?? '[]');
    return Array.isArray(parsed) ? parsed : [];
  } catch {
    return [];
  }
}

export function rememberSpec(id: string, spec: TrainSpec, storage: Storage | undefined = globalThis.localStorage): void {
  const entries = read(storage).filter((e) => e.id !== id);
  entries.push({ id, spec });
  try {
    storage?.setItem(KEY, JSON.stringify(entries.slice(-LIMIT)));
  } catch {
    // Storage full or unavailable: the run still works, only its settings are not kept.
  }
}

export function recallSpec(id: string, storage: Storage | undefined = globalThis.localStorage): TrainSpec | undefined {
  return read(storage).find((e) => e.id === id)?.spec;
}
