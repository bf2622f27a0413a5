/**
 * Datasets (`src-tauri/src/commands/datasets.rs`): the inspect report of a file, and files
 * dropped on the window (the shell turns `DragDropEvent::Drop` into `dataset-dropped`).
 */
import { listen, type UnlistenFn } from '@tauri-apps/api/event';
import { call, inTauri } from './core';
import type { DatasetDropped, InspectOptions, InspectReport } from './generated';

/** Format, schema, counts per split, preview records, length stats and data checks. */
export const inspectDataset = (path: string, options?: InspectOptions) =>
  call<InspectReport>('inspect_dataset', { path, options: options ?? null });

/** The file's column names (header, or first row's keys), to map them by hand. */
export const datasetColumns = (path: string, format?: InspectOptions['format']) =>
  call<string[]>('dataset_columns', { path, format: format ?? null });

/** Files dropped on the window. */
export async function onDatasetDropped(handler: (paths: string[]) => void): Promise<UnlistenFn> {
  if (!inTauri()) return () => {};
  return listen<DatasetDropped>('dataset-dropped', (event) => handler(event.payload.paths));
}

/**
 * Whether files are being dragged over the window (Tauri's native drag events), so the page
 * can show where they will go. Returns one function that stops listening.
 */
export async function onDragHover(handler: (hovering: boolean) => void): Promise<UnlistenFn> {
  if (!inTauri()) return () => {};
  const stops = await Promise.all([
    listen('tauri://drag-enter', () => handler(true)),
    listen('tauri://drag-leave', () => handler(false)),
    listen('tauri://drag-drop', () => handler(false)),
  ]);
  return () => stops.forEach((stop) => stop());
}
