/** Models (`src-tauri/src/commands/models.rs`): the HF cache, added folders, finished runs. */
import { call, channel } from './core';
import type { DownloadProgress, ModelInfo } from './generated';

export const listModels = () => call<ModelInfo[]>('list_models');

/** Validates a model folder (config, weights, tokenizer) and lists it from now on. */
export const addModelFolder = (path: string) => call<ModelInfo>('add_model_folder', { path });

/** Downloads a hub model into the HF cache, reporting bytes per file. */
export const downloadModel = (repoId: string, onProgress: (p: DownloadProgress) => void) =>
  call<ModelInfo>('download_model', { repoId, onProgress: channel(onProgress) });
