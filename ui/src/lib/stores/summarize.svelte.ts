/**
 * Summarize page state: one chat streamed token by token (with its key actions beside it in
 * the support view), or a whole file in batch.
 */
import * as ipc from '../ipc';
import type { Fact, Precision, Progress, SpeakerStyle, SummaryRow } from '../ipc';
import { newTaskId } from '../format';
import { notices } from './notices.svelte';

export interface Decoding {
  maxNewTokens: number;
  numBeams: number;
  doSample: boolean;
  temperature: number;
  topP: number;
  speakers: SpeakerStyle;
  /** The precision the model computes in (unset: the engine's f32). */
  precision?: Precision;
}

/** The request's decoding keys; sampling keys only when sampling, precision only when not f32. */
export function decodingRequest(d: Decoding) {
  return {
    max_new_tokens: d.maxNewTokens,
    num_beams: d.doSample ? 1 : d.numBeams,
    do_sample: d.doSample,
    ...(d.doSample ? { temperature: d.temperature, top_p: d.topP } : {}),
    speakers: d.speakers,
    ...(d.precision && d.precision !== 'f32' ? { precision: d.precision } : {}),
  };
}

export class SummarizeStore {
  model = $state('');
  chat = $state('');
  decoding = $state<Decoding>({
    maxNewTokens: 96,
    // Greedy by default: the summary streams token by token; beams are a click away.
    numBeams: 1,
    doSample: false,
    temperature: 0.7,
    topP: 0.9,
    speakers: 'keep',
    precision: 'f32',
  });
  output = $state('');
  /** Support view: also give the chat's key actions, side by side with the summary. */
  withActions = $state(false);
  actions = $state('');
  prompt = $state('');
  /** Tokens cut from the end of a chat longer than the model reads, and how many it read. */
  cut = $state<{ read: number; cut: number } | null>(null);
  /** The finished summary's facts, each found in the chat or invented. */
  facts = $state.raw<Fact[]>([]);
  running = $state(false);
  filePath = $state('');
  batchRunning = $state(false);
  batchProgress = $state<Progress | null>(null);
  batchTaskId = $state<string | null>(null);
  rows = $state.raw<SummaryRow[]>([]);
  #request = 0;

  /** Forgets the last summary (its chat was cleared): nothing shown belongs to another chat. */
  clearOutput(): void {
    this.#request += 1;
    this.output = '';
    this.actions = '';
    this.prompt = '';
    this.cut = null;
    this.facts = [];
  }

  async run(): Promise<void> {
    if (!this.model) return notices.error('Choose a model');
    if (!this.chat.trim()) return notices.error('Paste a chat to summarize');
    const request = ++this.#request;
    this.running = true;
    this.output = '';
    this.actions = '';
    this.prompt = '';
    this.cut = null;
    this.facts = [];
    if (this.withActions) return this.#runSupport(request);
    try {
      const result = await ipc.summarize(
        { model: this.model, chat: this.chat, ...decodingRequest(this.decoding) },
        (text) => {
          if (request === this.#request) this.output = text;
        },
      );
      if (request === this.#request) {
        this.output = result.summary;
        this.prompt = result.prompt;
        this.cut = result.cut_tokens > 0 ? { read: result.source_tokens, cut: result.cut_tokens } : null;
        this.facts = result.facts;
      }
    } catch (error) {
      notices.error(error, 'Summarize');
    } finally {
      if (request === this.#request) this.running = false;
    }
  }

  /** Summary and key actions streamed together (`summarize_actions`). */
  async #runSupport(request: number): Promise<void> {
    try {
      const view = await ipc.summarizeActions(
        { model: this.model, chat: this.chat, ...decodingRequest(this.decoding) },
        (part, text) => {
          if (request !== this.#request) return;
          if (part === 'summary') this.output = text;
          else this.actions = text;
        },
      );
      if (request === this.#request) {
        this.output = view.summary;
        this.actions = view.actions;
        this.cut = view.cut_tokens > 0 ? { read: view.source_tokens, cut: view.cut_tokens } : null;
      }
    } catch (error) {
      notices.error(error, 'Summarize');
    } finally {
      if (request === this.#request) this.running = false;
    }
  }

  /** Whether the rows shown carry key actions. */
  get rowsHaveActions(): boolean {
    return this.rows.some((row) => row.actions !== null);
  }

  async pickFile(): Promise<void> {
    try {
      const path = await ipc.pickDataFile();
      if (path) this.filePath = path;
    } catch (error) {
      notices.error(error);
    }
  }

  async runFile(): Promise<void> {
    if (!this.model) return notices.error('Choose a model');
    if (!this.filePath.trim()) return notices.error('Choose a file to summarize');
    const taskId = newTaskId('summaries');
    this.batchTaskId = taskId;
    this.batchRunning = true;
    this.batchProgress = { done: 0, total: 0 };
    try {
      const result = await ipc.summarizeFile(
        {
          model: this.model,
          path: this.filePath.trim(),
          ...decodingRequest(this.decoding),
          ...(this.withActions ? { actions: true } : {}),
        },
        (p) => {
          if (this.batchTaskId === taskId) this.batchProgress = p;
        },
        taskId,
      );
      this.rows = result.rows;
    } catch (error) {
      notices.error(error, 'Batch summarize');
    } finally {
      if (this.batchTaskId === taskId) {
        this.batchRunning = false;
        this.batchTaskId = null;
      }
    }
  }

  async cancelFile(): Promise<void> {
    if (!this.batchTaskId) return;
    try {
      await ipc.cancelTask(this.batchTaskId);
    } catch (error) {
      notices.error(error, 'Cancelling');
    }
  }

  async exportRows(): Promise<void> {
    if (this.rows.length === 0) return;
    try {
      const path = await ipc.pickCsvSavePath('summaries.csv');
      if (!path) return;
      await ipc.exportSummariesCsv(this.rows, path);
      notices.info(`Saved ${path}`);
    } catch (error) {
      notices.error(error, 'Exporting summaries');
    }
  }
}

export const summarizer = new SummarizeStore();
