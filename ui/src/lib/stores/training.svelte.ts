/**
 * Train page state: the form, the live run (events from the Channel folded into series),
 * run history and replaying a stored run's `metrics.jsonl`.
 */
import * as ipc from '../ipc';
import type { MixSpec, RunEvent, RunInfo, TrainSpec } from '../ipc';
import { configToForm, formToConfig, presetForm, validateForm, type TrainForm } from '../presets';
import { emptyRun, foldEvent, isActive, replay, type RunState } from '../training';
import { recallSpec, rememberSpec } from '../runSpecs';
import { notices } from './notices.svelte';
import { models } from './models.svelte';

/** Seconds between `run_events` polls of an active run this window did not start. */
const POLL_MS = 2000;

export class TrainingStore {
  preset = $state('lora-small');
  form = $state<TrainForm>(presetForm('lora-small'));
  /** The run shown: plain object (not deeply reactive, it can hold 100k points); `version` drives redraws. */
  run = $state.raw<RunState>(emptyRun());
  version = $state(0);
  runId = $state<string | null>(null);
  /** Whether the shown run's events arrive live through our Channel. */
  live = $state(false);
  busy = $state(false);
  runs = $state<RunInfo[]>([]);
  runsLoading = $state(false);
  #poll: ReturnType<typeof setInterval> | null = null;
  #liveRunId: string | null = null;

  applyPreset(id: string): void {
    const model = this.form.model;
    this.preset = id;
    this.form = presetForm(id);
    // Keep a model the user already chose unless the preset is about a different size.
    if (model && !model.includes('flan-t5-small') && !model.includes('flan-t5-base')) this.form.model = model;
  }

  get problems(): string[] {
    return validateForm(this.form);
  }

  /** What Start sends for `mix`: the mix and the form as run config keys. */
  specFor(mix: MixSpec): TrainSpec {
    return { mix, config: formToConfig($state.snapshot(this.form)) };
  }

  /**
   * Said before Start: the chosen model is a hub id this machine does not have, so the run
   * first downloads it (and cannot without the network). `null` when it is local.
   */
  get modelNote(): string | null {
    const model = this.form.model.trim();
    if (!model || !models.loaded) return null;
    if (models.models.some((m) => m.id === model || m.path === model)) return null;
    if (model.startsWith('/') || model.startsWith('.')) return `No model folder at ${model}: add it on the Models page.`;
    return `${model} is not on this machine: Start downloads it first, which needs the network. Download it on the Models page beforehand, or pick a local model.`;
  }

  /** Applies one event to the shown run. */
  fold(event: RunEvent): void {
    foldEvent(this.run, event);
    this.#commit();
  }

  /**
   * One event of a run this window drives (shown or not): the history follows it live, a
   * run's end reloads the history, and a finished run's model reaches every page's model list.
   */
  #onLiveEvent(runId: string, event: RunEvent): void {
    this.runs = this.runs.map((info) => (info.id === runId ? followEvent(info, event) : info));
    if (this.runId === runId && this.#liveRunId === runId && this.live) this.fold(event);
    if (event.kind === 'finished' || event.kind === 'cancelled' || event.kind === 'failed') {
      void this.refreshRuns();
      if (event.kind === 'finished') void models.refresh();
    }
  }

  /** Publishes in-place changes of `run` (a shallow copy; the series arrays are shared). */
  #commit(): void {
    this.run = { ...this.run };
    this.version = this.run.version;
  }

  async start(mix: MixSpec): Promise<void> {
    const problems = this.problems;
    if (problems.length > 0) {
      notices.error(problems.join('; '));
      return;
    }
    this.#stopPolling();
    this.busy = true;
    const run = emptyRun();
    run.status = 'starting';
    run.totalSteps = this.form.maxSteps;
    this.run = run;
    this.version = run.version;
    this.runId = null;
    this.live = true;
    const buffered: RunEvent[] = [];
    let runId: string | null = null;
    const spec = this.specFor(mix);
    try {
      const started = await ipc.startTraining(
        spec,
        (event) => {
          // Events from an older run's channel never touch the run shown now.
          if (runId === null) buffered.push(event);
          else this.#onLiveEvent(runId, event);
        },
      );
      runId = started.run_id;
      this.runId = started.run_id;
      this.#liveRunId = started.run_id;
      rememberSpec(started.run_id, spec);
      for (const event of buffered) this.#onLiveEvent(runId, event);
      if (!this.run.outputDir) {
        this.run.outputDir = started.output_dir;
        this.#commit();
      }
      void this.refreshRuns();
    } catch (error) {
      this.#failedToStart(error, 'Starting training');
    } finally {
      this.busy = false;
    }
  }

  /** A run the shell refused to start or resume: shown as failed, with an error notice. */
  #failedToStart(error: unknown, label: string): void {
    this.run.status = 'failed';
    this.run.message = ipc.errorMessage(error);
    this.run.version += 1;
    this.#commit();
    this.live = false;
    notices.error(error, label);
  }

  async #control(action: (runId: string) => Promise<void>, label: string): Promise<void> {
    if (!this.runId) return;
    this.busy = true;
    try {
      await action(this.runId);
    } catch (error) {
      notices.error(error, label);
    } finally {
      this.busy = false;
    }
  }

  /**
   * Resumes a stored run from its newest intact checkpoint: its charts are rebuilt from
   * disk, then the resumed run's events arrive live (its `started` event drops what came
   * after the checkpoint).
   */
  async resumeRun(runId: string): Promise<void> {
    this.#stopPolling();
    this.busy = true;
    try {
      const events = await ipc.runEvents(runId);
      const run = replay(events);
      run.status = 'starting';
      run.message = null;
      this.run = run;
      this.version = run.version;
      this.runId = runId;
      this.#liveRunId = runId;
      this.live = true;
      await ipc.resumeRun(runId, (event) => this.#onLiveEvent(runId, event));
      void this.refreshRuns();
    } catch (error) {
      this.#failedToStart(error, `Resuming run ${runId}`);
    } finally {
      this.busy = false;
    }
  }

  /** Whether the history offers Resume for `info`: resumable, and nothing runs here now. */
  canResume(info: RunInfo): boolean {
    return info.resumable && !(this.live && isActive(this.run.status));
  }

  pause = () => this.#control(ipc.pauseTraining, 'Pausing');
  resume = () => this.#control(ipc.resumeTraining, 'Resuming');
  cancel = () => this.#control(ipc.cancelTraining, 'Cancelling');

  async refreshRuns(): Promise<void> {
    this.runsLoading = true;
    try {
      this.runs = await ipc.listRuns();
    } catch (error) {
      notices.error(error, 'Listing runs');
    } finally {
      this.runsLoading = false;
    }
  }

  /** Shows a stored run, rebuilt from its events; an active one is polled for more. */
  async open(runId: string): Promise<void> {
    this.#stopPolling();
    if (runId === this.#liveRunId) {
      // Our own live run: its state is rebuilt from disk, then the channel keeps it current.
      this.live = true;
    } else {
      this.live = false;
    }
    try {
      const events = await ipc.runEvents(runId);
      this.run = replay(events);
      // A log that never ended, with no live process behind it: say so instead of "running".
      const info = this.runs.find((r) => r.id === runId);
      if (!this.live && info?.status === 'interrupted' && isActive(this.run.status)) {
        this.run.status = 'interrupted';
        this.run.message = info.resumable
          ? 'This run was interrupted (crash or app closed); Resume continues from its last checkpoint.'
          : 'This run was interrupted before its first checkpoint; it cannot be resumed.';
      }
      this.version = this.run.version;
      this.runId = runId;
      if (!this.live && isActive(this.run.status)) this.#startPolling(runId);
    } catch (error) {
      notices.error(error, `Opening run ${runId}`);
    }
  }

  /** After the window was reloaded: shows the newest active run, if any. */
  async restore(): Promise<void> {
    await this.refreshRuns();
    if (this.runId) return;
    // The most recently changed run that is live, else one that was interrupted (the app
    // closed or crashed mid-run), so its Resume is at hand.
    const newest = [...this.runs].sort((a, b) => b.modified - a.modified);
    const active =
      newest.find((r) => r.status === 'running' || r.status === 'paused') ??
      newest.find((r) => r.status === 'interrupted' && r.resumable);
    if (active) await this.open(active.id);
  }

  /**
   * "New run from these settings": the whole form and mix when this window started the run,
   * else what the history knows (model, method, steps) over the current form.
   */
  settingsFrom(info: RunInfo): MixSpec | undefined {
    const spec = recallSpec(info.id);
    this.preset = '';
    if (spec) {
      this.form = configToForm(spec.config, this.form);
      return spec.mix;
    }
    this.form = { ...this.form, model: info.model, method: info.method, maxSteps: info.total_steps || this.form.maxSteps };
    notices.info(`Only the model, method and steps of ${info.id} are known; the other settings are unchanged`);
    return undefined;
  }

  #startPolling(runId: string): void {
    this.#poll = setInterval(async () => {
      if (this.runId !== runId) return this.#stopPolling();
      try {
        const events = await ipc.runEvents(runId);
        if (this.runId !== runId) return;
        this.run = replay(events);
        this.version = this.run.version;
        if (!isActive(this.run.status)) this.#stopPolling();
      } catch (error) {
        this.#stopPolling();
        notices.error(error, `Reading run ${runId}`);
      }
    }, POLL_MS);
  }

  #stopPolling(): void {
    if (this.#poll !== null) clearInterval(this.#poll);
    this.#poll = null;
  }
}

/** `info` after `event` of its run: status, steps and loss as the history shows them. */
export function followEvent(info: RunInfo, event: RunEvent): RunInfo {
  switch (event.kind) {
    case 'started':
      return { ...info, status: 'running', total_steps: event.total_steps, resumable: false, error: null };
    case 'step':
      return { ...info, status: 'running', steps: event.step, last_loss: event.loss };
    case 'eval':
      return { ...info, val_loss: event.val_loss };
    case 'paused':
      return { ...info, status: 'paused' };
    case 'resumed':
      return { ...info, status: 'running' };
    case 'finished':
      return { ...info, status: 'finished', steps: event.steps, resumable: false, model_dir: event.model_dir };
    case 'cancelled':
      return { ...info, status: 'cancelled', resumable: event.checkpoint !== null };
    case 'failed':
      return { ...info, status: 'failed', error: event.message };
    default:
      return info;
  }
}

export const training = new TrainingStore();
