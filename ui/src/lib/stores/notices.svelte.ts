/** Error and info messages shown in the window's alert region. */
import { errorHint, errorMessage } from '../ipc';

export interface Notice {
  id: number;
  kind: 'error' | 'info';
  message: string;
  /** What the user can do about it, from a command error's kind. */
  hint?: string;
}

/** How long a passing (info) message stays. */
const INFO_MS = 6000;

export class Notices {
  items = $state<Notice[]>([]);
  #next = 1;

  /** Shows `error` (a command's `CmdError`, a message, an Error...) with what to do about it. */
  error(error: unknown, context?: string): void {
    const message = errorMessage(error);
    this.#push('error', context ? `${context}: ${message}` : message, errorHint(error) ?? undefined);
  }

  /** Shows a passing message: it goes by itself after a few seconds, or when the page changes. */
  info(message: string): void {
    const id = this.#push('info', message);
    if (id !== null && typeof setTimeout !== 'undefined') setTimeout(() => this.dismiss(id), INFO_MS);
  }

  /** Drops the errors about `subject` (a file that now loaded): they no longer hold. */
  dismissAbout(subject: string): void {
    this.items = this.items.filter((n) => !(n.kind === 'error' && n.message.includes(subject)));
  }

  /** Drops the passing messages (a page change); errors stay until dismissed. */
  clearInfo(): void {
    this.items = this.items.filter((n) => n.kind !== 'info');
  }

  dismiss(id: number): void {
    this.items = this.items.filter((n) => n.id !== id);
  }

  clear(): void {
    this.items = [];
  }

  #push(kind: Notice['kind'], message: string, hint?: string): number | null {
    // The same message twice in a row is shown once.
    const last = this.items[this.items.length - 1];
    if (last && last.kind === kind && last.message === message) return null;
    const notice: Notice = hint ? { id: this.#next++, kind, message, hint } : { id: this.#next++, kind, message };
    this.items = [...this.items.slice(-4), notice];
    return notice.id;
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
