/** Error and info messages shown in the window's alert region. */
import { errorHint, errorMessage } from '../ipc';

export interface Notice {
  id: number;
  kind: 'error' | 'info';
  message: string;
  /** What the user can do about it, from a command error's kind. */
  hint?: string;
}

export class Notices {
  items = $state<Notice[]>([]);
  #next = 1;

  /** Shows `error` (a command's `CmdError`, a message, an Error...) with what to do about it. */
  error(error: unknown, context?: string): void {
    const message = errorMessage(error);
    this.#push('error', context ? `${context}: ${message}` : message, errorHint(error) ?? undefined);
  }

  info(message: string): void {
    this.#push('info', message);
  }

  dismiss(id: number): void {
    this.items = this.items.filter((n) => n.id !== id);
  }

  clear(): void {
    this.items = [];
  }

  #push(kind: Notice['kind'], message: string, hint?: string): void {
    // The same message twice in a row is shown once.
    const last = this.items[this.items.length - 1];
    if (last && last.kind === kind && last.message === message) return;
    const notice: Notice = hint ? { id: this.#next++, kind, message, hint } : { id: this.#next++, kind, message };
    this.items = [...this.items.slice(-4), notice];
  }
}

export const notices = new Notices();

/** Awaits `promise`; on rejection shows the message and returns undefined. */
export async function attempt<T>(promise: Promise<T>, context?: string): Promise<T | undefined> {
  try {
    return await promise;
  } catch (error) {
    notices.error(error, context);
    return undefined;
  }
}
