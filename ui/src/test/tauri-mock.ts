/**
 * A stand-in for `@tauri-apps/api/core`, `/event` and `plugin-dialog`: tests set what each
 * command answers and can push messages into the channels the code under test created.
 */
import { vi } from 'vitest';

export class MockChannel<T = unknown> {
  static created: MockChannel[] = [];
  onmessage: (message: T) => void = () => {};
  constructor() {
    MockChannel.created.push(this as MockChannel);
  }
  /** What the shell would do: deliver a message. */
  send(message: T): void {
    this.onmessage(message);
  }
}

export const invoke = vi.fn<(command: string, args?: Record<string, unknown>) => Promise<unknown>>();
export const listen = vi.fn();
export const open = vi.fn();
export const save = vi.fn();

/** Marks the window as the Tauri webview (`lib/ipc/` refuses to call otherwise). */
export function enterTauri(): void {
  (window as unknown as Record<string, unknown>).__TAURI_INTERNALS__ = {};
}

export function leaveTauri(): void {
  delete (window as unknown as Record<string, unknown>).__TAURI_INTERNALS__;
}

/** Routes `invoke` by command name; unknown commands reject like the shell would. */
export function handle(handlers: Record<string, (args: Record<string, unknown>) => unknown>): void {
  invoke.mockImplementation(async (command, args = {}) => {
    const handler = handlers[command];
    if (!handler) throw `unknown command ${command}`;
    return handler(args);
  });
}

export function reset(): void {
  MockChannel.created = [];
  invoke.mockReset();
  listen.mockReset();
  open.mockReset();
  save.mockReset();
}
