/** Models page state: app info, the model list, adding folders and hub downloads. */
import * as ipc from '../ipc';
import type { AppInfo, DownloadProgress, ModelInfo } from '../ipc';
import { notices } from './notices.svelte';

export interface DownloadState {
  repoId: string;
  file: string;
  downloaded: number;
  total: number;
}

/** How often the device is asked for while the app chooses it. */
const DEVICE_POLL_MS = 500;

export class ModelsStore {
  info = $state<AppInfo | null>(null);
  models = $state<ModelInfo[]>([]);
  loading = $state(false);
  loaded = $state(false);
  adding = $state(false);
  download = $state<DownloadState | null>(null);

  async refresh(): Promise<void> {
    this.loading = true;
    try {
      const [info, models] = await Promise.allSettled([ipc.appInfo(), ipc.listModels()]);
      if (info.status === 'fulfilled') {
        this.info = info.value;
        if (!info.value.device.ready) this.#awaitDevice();
      } else notices.error(info.reason, 'App info');
      if (models.status === 'fulfilled') this.models = models.value;
      else notices.error(models.reason, 'Listing models');
      this.loaded = true;
    } finally {
      this.loading = false;
    }
  }

  /** Loads the list once (pages call this when they open). */
  async ensure(): Promise<void> {
    if (!this.loaded && !this.loading) await this.refresh();
  }

  async addFolder(path: string): Promise<ModelInfo | undefined> {
    const trimmed = path.trim();
    if (!trimmed) return undefined;
    this.adding = true;
    try {
      const model = await ipc.addModelFolder(trimmed);
      this.#upsert(model);
      notices.info(`Added ${model.id}`);
      return model;
    } catch (error) {
      notices.error(error, 'Adding model folder');
      return undefined;
    } finally {
      this.adding = false;
    }
  }

  async pickAndAddFolder(): Promise<void> {
    try {
      const path = await ipc.pickFolder('Add a model folder');
      if (path) await this.addFolder(path);
    } catch (error) {
      notices.error(error);
    }
  }

  async downloadModel(repoId: string): Promise<ModelInfo | undefined> {
    const id = repoId.trim();
    if (!id || this.download) return undefined;
    this.download = { repoId: id, file: '', downloaded: 0, total: 0 };
    try {
      const model = await ipc.downloadModel(id, (p: DownloadProgress) => {
        this.download = { repoId: id, file: p.file, downloaded: p.downloaded_bytes, total: p.total_bytes };
      });
      this.#upsert(model);
      notices.info(`Downloaded ${model.id}`);
      return model;
    } catch (error) {
      notices.error(error, `Downloading ${id}`);
      return undefined;
    } finally {
      this.download = null;
    }
  }

  /** Asks again until the device is chosen (the app probes the GPU at launch, behind the window). */
  #awaitDevice(): void {
    setTimeout(async () => {
      try {
        const info = await ipc.appInfo();
        this.info = info;
        if (!info.device.ready) this.#awaitDevice();
      } catch (error) {
        notices.error(error, 'App info');
      }
    }, DEVICE_POLL_MS);
  }

  #upsert(model: ModelInfo): void {
    this.models = [...this.models.filter((m) => m.path !== model.path), model];
  }
}

export const models = new ModelsStore();
