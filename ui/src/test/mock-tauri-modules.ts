/** `vi.mock` registrations shared by tests that go through the real `lib/ipc/` modules. Import first. */
import { vi } from 'vitest';

vi.mock('@tauri-apps/api/core', async () => {
  const mock = await import('./tauri-mock');
  return { invoke: mock.invoke, Channel: mock.MockChannel };
});
vi.mock('@tauri-apps/api/event', async () => ({ listen: (await import('./tauri-mock')).listen }));
vi.mock('@tauri-apps/plugin-dialog', async () => {
  const mock = await import('./tauri-mock');
  return { open: mock.open, save: mock.save };
});
