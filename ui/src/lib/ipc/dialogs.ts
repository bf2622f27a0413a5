/** The native open and save dialogs (`tauri-plugin-dialog`). */
import { open as openDialog, save as saveDialog } from '@tauri-apps/plugin-dialog';
import { inTauri } from './core';
import { errorMessage } from './errors';

/** The dataset file extensions the engine reads (`Format`). */
const DATA_EXTENSIONS = ['jsonl', 'json', 'csv', 'tsv', 'parquet'];

/** The native open dialog for a dataset file; null when cancelled. */
export async function pickDataFile(): Promise<string | null> {
  return pickOne({
    title: 'Open dataset',
    filters: [{ name: 'Datasets', extensions: DATA_EXTENSIONS }],
  });
}

/** The native open dialog for a model folder; null when cancelled. */
export async function pickFolder(title: string): Promise<string | null> {
  return pickOne({ title, directory: true });
}

async function pickOne(options: Parameters<typeof openDialog>[0]): Promise<string | null> {
  if (!inTauri()) throw 'file dialogs need the Mixtune desktop app; type a path instead';
  try {
    const picked = await openDialog({ ...options, multiple: false });
    if (Array.isArray(picked)) return picked[0] ?? null;
    return picked ?? null;
  } catch (error) {
    throw errorMessage(error);
  }
}

/** The native save dialog for a CSV file; null when cancelled. */
export async function pickCsvSavePath(defaultPath: string): Promise<string | null> {
  if (!inTauri()) throw 'saving files needs the Mixtune desktop app';
  try {
    return await saveDialog({
      title: 'Export CSV',
      defaultPath,
      filters: [{ name: 'CSV', extensions: ['csv'] }],
    });
  } catch (error) {
    throw errorMessage(error);
  }
}
