/**
 * Failed commands: the shell rejects with `CmdError { kind, message }` (`src-tauri/src/error.rs`);
 * the message names what was wrong, the kind says what the user can do about it.
 */
import type { CmdError, ErrorKind } from './generated';

/** What the user can do about each kind of failure, shown under the message. */
export const ERROR_HINTS: Record<ErrorKind, string> = {
  input: 'Check the file or setting named above.',
  not_found: 'Check the path or model id; add the folder or download the model on the Models page.',
  network: 'Check the connection, or use a local model folder.',
  device: 'Lower the batch size or sequence lengths, or switch to CPU.',
  out_of_memory: 'Lower the batch size or sequence lengths, or switch to CPU.',
  io: 'Check that the folder exists, is writable and the disk has room.',
  internal: 'This looks like a bug in Mixtune: please report it with the message above.',
  busy: 'Wait for the running task to finish, or cancel it.',
  cancelled: 'Cancelled as asked; start it again when ready.',
};

const KINDS = new Set<string>(Object.keys(ERROR_HINTS));

/** Whether `error` is a `CmdError` (what the shell rejects with). */
export function isCmdError(error: unknown): error is CmdError {
  if (!error || typeof error !== 'object') return false;
  const { kind, message } = error as Record<string, unknown>;
  return typeof kind === 'string' && KINDS.has(kind) && typeof message === 'string';
}

/** `error` as a `CmdError`: as is when it is one, else `internal` with its message. */
export function toCmdError(error: unknown): CmdError {
  return isCmdError(error) ? error : { kind: 'internal', message: errorMessage(error) };
}

/** A readable one-line message from whatever a command rejected with. */
export function errorMessage(error: unknown): string {
  if (typeof error === 'string') return error;
  if (error instanceof Error) return error.message;
  if (error && typeof error === 'object' && 'message' in error) {
    return String((error as { message: unknown }).message);
  }
  try {
    return JSON.stringify(error);
  } catch {
    return String(error);
  }
}

/** `not_found` about a file rather than a model: a dataset, a chat file, a run folder. */
const FILE_NOT_FOUND = 'Check the path: the file may have moved or been renamed.';

/** The hint for a `CmdError`'s kind; null for anything else (a UI check, a plain string). */
export function errorHint(error: unknown): string | null {
  if (!isCmdError(error)) return null;
  if (error.kind === 'not_found' && !/model/i.test(error.message)) return FILE_NOT_FOUND;
  return ERROR_HINTS[error.kind];
}
