/** Error and info messages shown in the window's alert region. */
import { errorMessage } from '../ipc';

export interface Notice {
  id: number;
  kind: 'error' | 'info';
  message: string;
}

export class Notices {
  items = $state<Notice[]>([]);
  #next = 1;

  /** Shows `error` (a command's rejection string, an Error...) as a readable message. */
  error(error: unknown, context?: string): void {
    const message = errorMessage(error);
    this.#push('error', context ? `${context}: ${message}` : message);
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

  #push(kind: Notice['kind'], message: string): void {
    // The same message twice in a row is shown once.
    const last = this.items[this.items.length - 1];
    if (last && last.kind === kind && last.message === message) return;
    this.items = [...this.items.slice(-4), { id: this.#next++, kind, message }];
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
