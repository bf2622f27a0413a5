/**
 * The front end's door to the Tauri shell (docs/ipc.md): one module per domain, mirroring
 * `src-tauri/src/commands/`, and the types generated from the Rust structs (`generated/`,
 * written by `src-tauri/src/ts_types.rs`). Only modules of `lib/ipc/` import `@tauri-apps/*`,
 * so components and stores never do and tests mock one place; everything else imports from
 * here (`lib/ipc`).
 *
 * Field names stay snake_case (the Rust types have no `rename_all`); command *argument* names
 * are camelCase (Tauri maps `run_id` to `runId`).
 */
export type * from './generated';
export { LORA_MODULES } from './generated';
export { inTauri, type Sparse } from './core';
export { ERROR_HINTS, errorHint, errorMessage, isCmdError, toCmdError } from './errors';
export * from './app';
export * from './models';
export * from './datasets';
export * from './mix';
export * from './train';
export * from './gpu';
export * from './eval';
export * from './summarize';
export * from './dialogs';
