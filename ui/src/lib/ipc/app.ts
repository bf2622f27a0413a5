/** The app as a whole (`src-tauri/src/commands/mod.rs`): environment, cancelling tasks. */
import { call } from './core';
import type { AppInfo } from './generated';

/** Version, device, runs folder and HF cache folder. */
export const appInfo = () => call<AppInfo>('app_info');

/** Cancels a running `evaluate` / `summarize_file` started with this task id. */
export const cancelTask = (taskId: string) => call<void>('cancel_task', { taskId });
