/** The app as a whole (`src-tauri/src/commands/mod.rs`): environment, cancelling tasks. */
import { call } from './core';
import type { AppInfo, RestoredState } from './generated';

/** Version, device, runs folder and HF cache folder. */
export const appInfo = () => call<AppInfo>('app_info');

/** Cancels a running `evaluate` / `summarize_file` / `prepare_gpu` started with this task id. */
export const cancelTask = (taskId: string) => call<void>('cancel_task', { taskId });

/** What the app remembered at its last launch: model folders and the pages' work in progress. */
export const loadSavedState = () => call<RestoredState>('load_saved_state');

/** Remembers the pages' state (`SavedUi` of `lib/persist.ts`) for the next launch. */
export const saveUiState = (ui: unknown) => call<void>('save_ui_state', { ui });
