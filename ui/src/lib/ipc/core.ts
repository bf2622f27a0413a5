/**
 * The plumbing under every command wrapper: `invoke` with errors as `CmdError`, channels,
 * and whether there is a shell at all. Only modules of `lib/ipc/` import `@tauri-apps/*`.
 */
import { Channel, invoke } from '@tauri-apps/api/core';
import { toCmdError } from './errors';

/** True inside the desktop shell (false in a plain browser during `npm run dev`). */
export function inTauri(): boolean {
  return typeof window !== 'undefined' && '__TAURI_INTERNALS__' in window;
}

/**
 * `invoke` that rejects with the shell's `CmdError` (a rejection without one, e.g. Tauri's own
 * "invalid args", becomes `internal`). Without the shell it rejects with a plain string.
 */
export async function call<T>(command: string, args?: Record<string, unknown>): Promise<T> {
  if (!inTauri()) {
    throw `\`${command}\` needs the Mixtune desktop app (this window is a plain browser)`;
  }
  try {
    return await invoke<T>(command, args);
  } catch (error) {
    throw toCmdError(error);
  }
}

/** A channel whose messages go to `handler`. */
export function channel<T>(handler: (message: T) => void): Channel<T> {
  const ch = new Channel<T>();
  ch.onmessage = handler;
  return ch;
}

/**
 * An engine type as the UI sends it: the `Required` keys, and any others left out so the
 * engine's defaults apply (TOML has no null, so a key that is set is never null).
 */
export type Sparse<T, Required extends keyof T = never> = Pick<T, Required> & {
  [K in keyof T]?: Exclude<T[K], null>;
};
