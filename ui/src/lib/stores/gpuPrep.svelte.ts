/**
 * The Train page's GPU kernel preparation: how far the settings' shapes are prepared on this
 * machine (asked again as the settings change), and a preparation with progress and cancel.
 */
import * as ipc from '../ipc';
import type { GpuPreparation, TrainSpec } from '../ipc';
import { newTaskId } from '../format';
import { emptyPrepare, foldPrepare, preparedMessage, type PrepareState } from '../gpuPrep';
import { notices } from './notices.svelte';

export class GpuPrepStore {
  /** What the shell said of the latest settings asked about (`null`: not known, or not asked). */
  status = $state<GpuPreparation | null>(null);
  /** The running preparation (`null` when none runs from this window). */
  progress = $state<PrepareState | null>(null);
  taskId = $state<string | null>(null);
  cancelling = $state(false);
  /** Counts `check` calls, so an older answer never replaces a newer one. */
  #asked = 0;

  get running(): boolean {
    return this.taskId !== null;
  }

  /**
   * Asks how far a run of `spec` is prepared. Settings the shell cannot read yet (a model not
   * on this machine, a half-typed field) leave nothing to say: the form and Start name those.
   */
  async check(spec: TrainSpec): Promise<void> {
    const asked = ++this.#asked;
    try {
      const status = await ipc.gpuPreparation(spec);
      if (asked === this.#asked) this.status = status;
    } catch {
      if (asked === this.#asked) this.status = null;
    }
  }

  /** Prepares what a run of `spec` would meet that this machine has not prepared yet. */
  async prepare(spec: TrainSpec): Promise<void> {
    if (this.running) return;
    const taskId = newTaskId('prepare-gpu');
    this.taskId = taskId;
    this.cancelling = false;
    this.progress = emptyPrepare();
    try {
      const summary = await ipc.prepareGpu(spec, taskId, (event) => {
        if (this.taskId === taskId && this.progress) this.progress = foldPrepare(this.progress, event);
      });
      notices.info(preparedMessage(summary));
    } catch (error) {
      if (ipc.isCmdError(error) && error.kind === 'cancelled') notices.info(ipc.errorMessage(error));
      else notices.error(error, 'Preparing GPU kernels');
    } finally {
      if (this.taskId === taskId) {
        this.taskId = null;
        this.progress = null;
        this.cancelling = false;
      }
      await this.check(spec);
    }
  }

  /** Stops the preparation after the step that is running (what it finished stays prepared). */
  async cancel(): Promise<void> {
    if (!this.taskId) return;
    this.cancelling = true;
    try {
      await ipc.cancelTask(this.taskId);
    } catch (error) {
      this.cancelling = false;
      notices.error(error, 'Cancelling the preparation');
    }
  }
}

export const gpuPrep = new GpuPrepStore();
