import '../../test/mock-tauri-modules';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { enterTauri, handle, invoke, leaveTauri, MockChannel, reset } from '../../test/tauri-mock';
import { datasetReport, evalEvent, evalReport, modelInfo, runComparison, runInfo, started, step } from '../../test/fixtures';
import type { RunEvent } from '../ipc';
import { TrainingStore } from './training.svelte';
import { DatasetsStore, cleanMapping, mappingFromReport } from './datasets.svelte';
import { EvaluateStore } from './evaluate.svelte';
import { Notices, notices } from './notices.svelte';
import { SummarizeStore, decodingRequest } from './summarize.svelte';
import { CompareStore } from './compare.svelte';
import type { MixSpec } from '../ipc';

/** A `finished` event's summary fields. */
function summaryEvent() {
  return {
    output_dir: '/runs/run-1',
    model_dir: '/runs/run-1/model',
    adapter_dir: null,
    steps: 80,
    first_loss: 5,
    last_loss: 2,
    best_checkpoint: null,
    best_metric: null,
    stopped_early: false,
  };
}

const mix: MixSpec = {
  mixture: { strategy: 'proportional', seed: 0, max_source_tokens: 512, max_target_tokens: 128 },
  task: [{ name: 't', data: '/d.jsonl', template: 'dialogue_summary', weight: 1 }],
};

beforeEach(() => {
  reset();
  enterTauri();
  notices.clear();
});
afterEach(() => {
  leaveTauri();
  vi.useRealTimers();
});

describe('notices', () => {
  it('keeps readable messages, drops immediate repeats, dismisses', () => {
    const n = new Notices();
    n.error('file not found: /x', 'Loading');
    n.error('file not found: /x', 'Loading');
    n.error(new Error('boom'));
    expect(n.items.map((i) => i.message)).toEqual(['Loading: file not found: /x', 'boom']);
    n.dismiss(n.items[0].id);
    expect(n.items.map((i) => i.message)).toEqual(['boom']);
  });

  it('lets passing messages go by themselves and with a page change, and keeps errors', async () => {
    vi.useFakeTimers();
    const n = new Notices();
    n.info('Added tiny-flan');
    n.error('boom');
    expect(n.items).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(6500);
    expect(n.items.map((i) => i.message)).toEqual(['boom']);
    n.info('Downloaded m');
    n.clearInfo();
    expect(n.items.map((i) => i.message)).toEqual(['boom']);
  });

  it("adds what to do for a command error's kind, nothing for other errors", () => {
    const n = new Notices();
    n.error({ kind: 'out_of_memory', message: 'out of device memory at step 3' }, 'Training');
    n.error('Choose a model');
    expect(n.items[0]).toMatchObject({
      message: 'Training: out of device memory at step 3',
      hint: 'Lower the batch size or sequence lengths, or switch to CPU.',
    });
    expect(n.items[1].hint).toBeUndefined();
  });
});

describe('training store', () => {
  it('starts a run and folds channel events, including ones sent before the id came back', async () => {
    let channel: MockChannel<RunEvent> | undefined;
    handle({
      start_training: (args) => {
        channel = args.onEvent as MockChannel<RunEvent>;
        channel.send(started(0, 50));
        return { run_id: 'run-1', output_dir: '/runs/run-1' };
      },
      list_runs: () => [],
    });
    const store = new TrainingStore();
    store.form.maxSteps = 50;
    await store.start(mix);
    const [, args] = invoke.mock.calls.find(([c]) => c === 'start_training')!;
    expect(args).toMatchObject({ spec: { mix, config: { model: 'google/flan-t5-small', max_steps: 50, method: 'lora' } } });
    expect(store.runId).toBe('run-1');
    expect(store.run.status).toBe('running');
    channel!.send(step(1));
    channel!.send(step(2));
    channel!.send(evalEvent(2, { t: 0.4 }, true));
    expect(store.run.steps).toEqual([1, 2]);
    expect(store.run.evalSteps).toEqual([2]);
    expect(store.version).toBe(store.run.version);
    channel!.send({ kind: 'paused', step: 2 });
    expect(store.run.status).toBe('paused');
  });

  it('keeps the history in step with its live run, and brings a finished model to every page', async () => {
    let channel: MockChannel<RunEvent> | undefined;
    let listed = 0;
    let modelLists = 0;
    handle({
      start_training: (args) => {
        channel = args.onEvent as MockChannel<RunEvent>;
        return { run_id: 'run-1', output_dir: '/runs/run-1' };
      },
      list_runs: () => {
        listed += 1;
        return [runInfo({ id: 'run-1', status: 'running', steps: 0, total_steps: 80 })];
      },
      list_models: () => {
        modelLists += 1;
        return [];
      },
      app_info: () => ({ version: '0.1.0', device: { label: 'CPU', is_gpu: false, ready: true, note: null }, runs_dir: '/runs', cache_dir: '/cache' }),
    });
    const store = new TrainingStore();
    await store.start(mix);
    await vi.waitFor(() => expect(store.runs).toHaveLength(1));
    channel!.send(started(0, 80));
    channel!.send(step(79));
    expect(store.runs[0]).toMatchObject({ status: 'running', steps: 79 });
    channel!.send({ kind: 'paused', step: 79 });
    expect(store.runs[0].status).toBe('paused');
    // The history follows even while another run is shown.
    store.live = false;
    channel!.send({ kind: 'cancelled', step: 79, checkpoint: '/runs/run-1/checkpoints/step-0000079' });
    expect(store.runs[0]).toMatchObject({ status: 'cancelled', resumable: true });
    const before = { listed, modelLists };
    channel!.send({ ...summaryEvent(), kind: 'finished' } as RunEvent);
    expect(store.runs[0]).toMatchObject({ status: 'finished', steps: 80 });
    await vi.waitFor(() => expect(modelLists).toBe(before.modelLists + 1));
    expect(listed).toBeGreaterThan(before.listed);
  });

  it('asks for the device again until the app has chosen it', async () => {
    vi.useFakeTimers();
    const { ModelsStore } = await import('./models.svelte');
    let ready = false;
    handle({
      app_info: () => ({
        version: '0.1.0',
        device: ready ? { label: 'CPU', is_gpu: false, ready: true, note: null } : { label: 'preparing the GPU…', is_gpu: false, ready: false, note: null },
        runs_dir: '/runs',
        cache_dir: '/cache',
      }),
      list_models: () => [],
    });
    const store = new ModelsStore();
    await store.refresh();
    expect(store.info?.device.ready).toBe(false);
    ready = true;
    await vi.advanceTimersByTimeAsync(600);
    expect(store.info?.device).toMatchObject({ label: 'CPU', ready: true });
  });

  it('says before Start that a hub model is not on this machine', async () => {
    const { models } = await import('./models.svelte');
    handle({
      app_info: () => ({ version: '0.1.0', device: { label: 'CPU', is_gpu: false, ready: true, note: null }, runs_dir: '/runs', cache_dir: '/cache' }),
      list_models: () => [modelInfo({ id: 'tiny-flan', path: '/models/tiny-flan' })],
    });
    await models.refresh();
    const store = new TrainingStore();
    store.form.model = 'google/flan-t5-small';
    expect(store.modelNote).toMatch(/not on this machine.*network/);
    store.form.model = '/models/tiny-flan';
    expect(store.modelNote).toBeNull();
    store.form.model = 'tiny-flan';
    expect(store.modelNote).toBeNull();
  });

  it('does not start with invalid settings and says why', async () => {
    const store = new TrainingStore();
    store.form.maxSteps = 0;
    await store.start(mix);
    expect(invoke).not.toHaveBeenCalled();
    expect(notices.items[0].message).toMatch(/Max steps/);
  });

  it('shows a start failure as the run message and an error notice', async () => {
    handle({ start_training: () => Promise.reject({ kind: 'not_found', message: 'model `x` not found' }) });
    const store = new TrainingStore();
    await store.start(mix);
    expect(store.run.status).toBe('failed');
    expect(store.run.message).toBe('model `x` not found');
    expect(notices.items[0].message).toBe('Starting training: model `x` not found');
    expect(notices.items[0].hint).toMatch(/download the model/);
  });

  it('pause/resume/cancel call the shell with the run id', async () => {
    handle({ pause_training: () => null, resume_training: () => null, cancel_training: () => Promise.reject('run is not active') });
    const store = new TrainingStore();
    store.runId = 'run-9';
    await store.pause();
    await store.resume();
    await store.cancel();
    expect(invoke.mock.calls.map(([c, a]) => [c, a])).toEqual([
      ['pause_training', { runId: 'run-9' }],
      ['resume_training', { runId: 'run-9' }],
      ['cancel_training', { runId: 'run-9' }],
    ]);
    expect(notices.items[0].message).toBe('Cancelling: run is not active');
  });

  it('rebuilds charts after the page was reopened and polls an active run', async () => {
    vi.useFakeTimers();
    let events: RunEvent[] = [started(0, 100), step(10), step(20)];
    handle({
      list_runs: () => [
        runInfo({ id: 'old', status: 'finished', modified: 3 }),
        runInfo({ id: 'killed', status: 'interrupted', resumable: true, modified: 4 }),
        runInfo({ id: 'live', status: 'running', modified: 2 }),
      ],
      run_events: () => events,
    });
    const store = new TrainingStore();
    await store.restore();
    expect(store.runId).toBe('live');
    expect(store.run.steps).toEqual([10, 20]);
    events = [...events, step(30)];
    await vi.advanceTimersByTimeAsync(2100);
    expect(store.run.steps).toEqual([10, 20, 30]);
    events = [...events, { kind: 'cancelled', step: 30, checkpoint: null }];
    await vi.advanceTimersByTimeAsync(2100);
    expect(store.run.status).toBe('cancelled');
    const calls = invoke.mock.calls.length;
    await vi.advanceTimersByTimeAsync(10_000);
    expect(invoke.mock.calls.length).toBe(calls);
  });

  it('shows an interrupted run as such after a restart, and resumes it live from its checkpoint', async () => {
    vi.useFakeTimers();
    let channel: MockChannel<RunEvent> | undefined;
    handle({
      list_runs: () => [
        runInfo({ id: 'done', status: 'finished', modified: 3 }),
        runInfo({ id: 'killed', status: 'interrupted', resumable: true, checkpoints: 1, modified: 2 }),
      ],
      run_events: () => [started(0, 100), step(10), step(20), step(30)],
      resume_run: (args) => {
        channel = args.onEvent as MockChannel<RunEvent>;
        // The checkpoint was at step 20: the resumed run starts there.
        channel.send(started(20, 100));
        return { run_id: 'killed', output_dir: '/runs/killed' };
      },
    });
    const store = new TrainingStore();
    await store.restore();
    expect(store.runId).toBe('killed');
    expect(store.run.status).toBe('interrupted');
    expect(store.run.message).toMatch(/Resume continues from its last checkpoint/);
    // Not polled: nothing writes its log.
    const calls = invoke.mock.calls.length;
    await vi.advanceTimersByTimeAsync(5000);
    expect(invoke.mock.calls.length).toBe(calls);
    expect(store.canResume(store.runs[1])).toBe(true);
    expect(store.canResume(store.runs[0])).toBe(false);

    await store.resumeRun('killed');
    const [, args] = invoke.mock.calls.find(([c]) => c === 'resume_run')!;
    expect(args).toMatchObject({ runId: 'killed' });
    expect(store.live).toBe(true);
    expect(store.run.status).toBe('running');
    expect(store.run.steps).toEqual([10, 20]);
    channel!.send(step(21));
    expect(store.run.steps).toEqual([10, 20, 21]);
    // While it runs here, the history offers no second Resume.
    expect(store.canResume(store.runs[1])).toBe(false);
  });

  it('shows a refused resume as the run message', async () => {
    handle({
      run_events: () => [started(0, 10), step(1)],
      resume_run: () => Promise.reject({ kind: 'busy', message: 'run `r` is in progress in process 42' }),
      list_runs: () => [],
    });
    const store = new TrainingStore();
    await store.resumeRun('r');
    expect(store.run.status).toBe('failed');
    expect(store.live).toBe(false);
    expect(notices.items[0].message).toBe('Resuming run r: run `r` is in progress in process 42');
  });

  it('remembers the settings of runs it started ("new run from these settings")', async () => {
    localStorage.clear();
    handle({ start_training: () => ({ run_id: 'run-a', output_dir: '/runs/run-a' }), list_runs: () => [] });
    const first = new TrainingStore();
    first.applyPreset('full-base');
    first.form.maxSteps = 321;
    await first.start(mix);
    // A later window (page reopened) knows the run only from the history.
    const later = new TrainingStore();
    const spec = later.settingsFrom(runInfo({ id: 'run-a', model: 'google/flan-t5-base', method: 'full' }));
    expect(later.form).toMatchObject({ model: 'google/flan-t5-base', maxSteps: 321, method: 'full', optimizer: 'adafactor' });
    expect(spec).toEqual(mix);
  });

  it('falls back to what the history reports for runs started elsewhere', () => {
    localStorage.clear();
    const store = new TrainingStore();
    const spec = store.settingsFrom(runInfo({ id: 'cli-run', model: '/m/base', method: 'full', total_steps: 77 }));
    expect(spec).toBeUndefined();
    expect(store.form).toMatchObject({ model: '/m/base', method: 'full', maxSteps: 77, batchSize: 8 });
    expect(notices.items[0].message).toMatch(/Only the model, method and steps of cli-run/);
  });
});

describe('datasets store', () => {
  it('loads a path (drop, Open and typed path share this) and re-inspects with a mapping', async () => {
    handle({ inspect_dataset: (args) => datasetReport({ file: args.path as string }) });
    const store = new DatasetsStore();
    const loading = store.load(' /d/a.jsonl ');
    expect(store.items[0]).toMatchObject({ path: '/d/a.jsonl', loading: true });
    await loading;
    expect(store.current?.report?.file).toBe('/d/a.jsonl');
    expect(store.current?.loading).toBe(false);
    expect(invoke).toHaveBeenLastCalledWith('inspect_dataset', { path: '/d/a.jsonl', options: null });
    await store.load('/d/a.jsonl', { columns: { dialogue: 'chat' } });
    expect(store.items).toHaveLength(1);
    expect(invoke).toHaveBeenLastCalledWith('inspect_dataset', { path: '/d/a.jsonl', options: { columns: { dialogue: 'chat' } } });
    expect(store.ready).toHaveLength(1);
  });

  it('keeps the error on the file and shows it', async () => {
    handle({ inspect_dataset: () => Promise.reject('/d/bad.csv: no header row') });
    const store = new DatasetsStore();
    await store.loadMany(['/d/bad.csv']);
    expect(store.items[0].error).toBe('/d/bad.csv: no header row');
    expect(store.ready).toHaveLength(0);
    expect(notices.items[0].message).toBe('/d/bad.csv: no header row');
  });

  it('offers the columns of a file whose columns could not be mapped, and inspects with a mapping', async () => {
    let mapped = false;
    handle({
      inspect_dataset: (args) =>
        (args.options as { columns?: object } | null)?.columns
          ? ((mapped = true), datasetReport({ file: '/d/qa.csv' }))
          : Promise.reject({ kind: 'input', message: '/d/qa.csv: unrecognised columns (question, answer)' }),
      dataset_columns: () => ['question', 'answer'],
    });
    const store = new DatasetsStore();
    await store.load('/d/qa.csv');
    expect(store.items[0].columns).toEqual(['question', 'answer']);
    expect(notices.items.at(-1)?.message).toContain('unrecognised columns');
    await store.load('/d/qa.csv', { columns: { dialogue: 'question', summary: 'answer' } });
    expect(mapped).toBe(true);
    // The file's error no longer holds: its notice goes.
    expect(notices.items.some((n) => n.message.includes('/d/qa.csv'))).toBe(false);
    expect(store.items[0]).toMatchObject({ error: null });
    expect(store.ready).toHaveLength(1);
  });

  it('derives the editable mapping from the schema', () => {
    expect(mappingFromReport(datasetReport())).toEqual({ dialogue: 'dialogue', summary: 'summary', topic: 'topic', id: 'id' });
    expect(cleanMapping({ dialogue: 'chat', topic: '', ' ': 'x' })).toEqual({ dialogue: 'chat' });
  });
});

describe('evaluate store', () => {
  it('runs with progress, then filters and sorts the rows', async () => {
    const progress: unknown[] = [];
    handle({
      evaluate: (args) => {
        (args.onProgress as MockChannel).send({ done: 1, total: 3 });
        return evalReport();
      },
    });
    const store = new EvaluateStore();
    store.model = '/runs/1/model';
    store.compare = '';
    store.data = '/d/test.jsonl';
    const running = store.run();
    expect(store.running).toBe(true);
    progress.push(store.progress);
    await running;
    expect(store.running).toBe(false);
    const [, args] = invoke.mock.calls[0];
    expect(args).toMatchObject({ request: { model: '/runs/1/model', data: '/d/test.jsonl', limit: 100 } });
    expect((args as { request: object }).request).not.toHaveProperty('compare', '');
    expect(store.scores).toHaveLength(3);
    store.sortBy('rouge1');
    expect(store.rows.map((r) => r.id)).toEqual(['ex10', 'ex2', 'ex1']);
    store.sortBy('rouge1');
    expect(store.rows.map((r) => r.id)).toEqual(['ex1', 'ex2', 'ex10']);
    store.query = 'invoice';
    expect(store.rows.map((r) => r.id)).toEqual(['ex2']);
    expect(store.csv.split('\r\n')).toHaveLength(3);
  });

  it('cancels the running task by its id', async () => {
    let release: (v: unknown) => void = () => {};
    handle({ evaluate: () => new Promise((r) => (release = r)), cancel_task: () => null });
    const store = new EvaluateStore();
    store.model = 'm';
    store.data = 'd';
    const running = store.run();
    const taskId = store.taskId;
    expect(taskId).toMatch(/^eval-/);
    await store.cancel();
    expect(invoke).toHaveBeenLastCalledWith('cancel_task', { taskId });
    release(evalReport());
    await running;
    expect(store.running).toBe(false);
  });
});

describe('summarize store', () => {
  it('streams the summary text as tokens arrive', async () => {
    const seen: string[] = [];
    const store = new SummarizeStore();
    handle({
      summarize: (args) => {
        const ch = args.onToken as MockChannel<{ text: string }>;
        ch.send({ text: 'Bob' });
        seen.push(store.output);
        ch.send({ text: 'Bob pays' });
        seen.push(store.output);
        return { summary: 'Bob pays.', prompt: 'Summarize the following conversation.', source_tokens: 9, cut_tokens: 0 };
      },
    });
    store.model = 'm';
    store.chat = 'Bob: I will pay.';
    await store.run();
    expect(seen).toEqual(['Bob', 'Bob pays']);
    expect(store.output).toBe('Bob pays.');
    expect(store.running).toBe(false);
    expect(store.cut).toBeNull();
  });

  it('says how much of a long chat the model did not read', async () => {
    const store = new SummarizeStore();
    handle({ summarize: () => ({ summary: 'Long.', prompt: 'Summarize…', source_tokens: 512, cut_tokens: 20480 }) });
    store.model = 'm';
    store.chat = 'A: hi\n'.repeat(5000);
    await store.run();
    expect(store.cut).toEqual({ read: 512, cut: 20480 });
  });

  it('forgets the summary of a chat that was cleared', async () => {
    handle({ summarize: () => ({ text: 'They meet.', source_tokens: 5, cut_tokens: 0, prompt: 'p', facts: [] }) });
    const store = new SummarizeStore();
    store.model = 'm';
    store.chat = 'A: hi';
    await store.run();
    expect(store.output).not.toBe('');
    store.clearOutput();
    expect([store.output, store.actions, store.cut, store.facts]).toEqual(['', '', null, []]);
  });

  it('sends sampling keys only when sampling', () => {
    const base = { maxNewTokens: 50, numBeams: 4, doSample: false, temperature: 0.7, topP: 0.9, speakers: 'keep' as const };
    expect(decodingRequest(base)).toEqual({ max_new_tokens: 50, num_beams: 4, do_sample: false, speakers: 'keep' });
    expect(decodingRequest({ ...base, doSample: true })).toEqual({
      max_new_tokens: 50,
      num_beams: 1,
      do_sample: true,
      temperature: 0.7,
      top_p: 0.9,
      speakers: 'keep',
    });
  });

  it('sends the precision only when it is not f32', () => {
    const base = { maxNewTokens: 50, numBeams: 1, doSample: false, temperature: 0.7, topP: 0.9, speakers: 'keep' as const };
    expect(decodingRequest({ ...base, precision: 'f32' })).not.toHaveProperty('precision');
    expect(decodingRequest({ ...base, precision: 'f16' })).toMatchObject({ precision: 'f16' });
  });
});

describe('summarize store: support view', () => {
  it('streams summary and key actions side by side', async () => {
    const seen: [string, string][] = [];
    const store = new SummarizeStore();
    handle({
      summarize_actions: (args) => {
        const ch = args.onToken as MockChannel<{ part: string; text: string }>;
        ch.send({ part: 'summary', text: 'Bob' });
        ch.send({ part: 'actions', text: 'Request:' });
        seen.push([store.output, store.actions]);
        ch.send({ part: 'summary', text: 'Bob pays' });
        seen.push([store.output, store.actions]);
        return { summary: 'Bob pays.', actions: 'Request: pay\nAction: send invoice', source_tokens: 9, cut_tokens: 3 };
      },
    });
    store.model = 'm';
    store.chat = 'Bob: I will pay.';
    store.withActions = true;
    await store.run();
    expect(seen).toEqual([
      ['Bob', 'Request:'],
      ['Bob pays', 'Request:'],
    ]);
    expect(store.output).toBe('Bob pays.');
    expect(store.actions).toBe('Request: pay\nAction: send invoice');
    expect(store.cut).toEqual({ read: 9, cut: 3 });
    expect(invoke.mock.calls[0][0]).toBe('summarize_actions');
  });

  it('asks a file for key actions only in the support view, and exports what it got', async () => {
    const rows = [{ id: 'c1', dialogue: 'A: hi', summary: 'Hi.', actions: 'Request: none' }];
    handle({ summarize_file: () => ({ rows }), export_summaries_csv: () => undefined });
    const store = new SummarizeStore();
    store.model = 'm';
    store.filePath = '/chats.jsonl';
    await store.runFile();
    expect((invoke.mock.calls[0][1] as { request: object }).request).not.toHaveProperty('actions');
    store.withActions = true;
    await store.runFile();
    expect((invoke.mock.calls[1][1] as { request: object }).request).toMatchObject({ path: '/chats.jsonl', actions: true });
    expect(store.rowsHaveActions).toBe(true);
  });
});

describe('compare store', () => {
  it('compares the picked runs and folds their events, in the order picked', async () => {
    handle({
      list_runs: () => [runInfo({ id: 'a' }), runInfo({ id: 'b' }), runInfo({ id: 'c' })],
      compare_runs: (args) => ({ ...runComparison(), runs: (args.runIds as string[]).map((id) => ({ ...runComparison().runs[0], id })) }),
      run_events: (args) => (args.runId === 'b' ? [started(), step(1, 2)] : [started(), step(1, 3), step(2, 2.5)]),
    });
    const store = new CompareStore();
    await store.refresh();
    store.toggle('b');
    expect(store.canCompare).toBe(false);
    await store.compare();
    expect(notices.items.at(-1)?.message).toContain('two or more');
    store.toggle('a');
    store.toggle('c');
    store.toggle('c');
    expect(store.selected).toEqual(['b', 'a']);
    await store.compare();
    const compareCall = invoke.mock.calls.find(([command]) => command === 'compare_runs')!;
    expect(compareCall[1]).toEqual({ runIds: ['b', 'a'] });
    expect(store.comparison?.runs.map((r) => r.id)).toEqual(['b', 'a']);
    expect(store.curves.map((c) => [c.id, c.run.loss])).toEqual([
      ['b', [2]],
      ['a', [3, 2.5]],
    ]);
    expect(store.loading).toBe(false);
  });

  it('shows a failing comparison as a notice', async () => {
    handle({ compare_runs: () => Promise.reject({ kind: 'not_found', message: '/runs/x: no such run folder' }), run_events: () => [] });
    const store = new CompareStore();
    store.selected = ['x', 'y'];
    await store.compare();
    expect(notices.items.at(-1)?.message).toContain('no such run folder');
    expect(store.comparison).toBeNull();
  });
});

describe('persistence', () => {
  it('restores the last session and saves every later change, never before the restore', async () => {
    vi.useFakeTimers();
    const saved: unknown[] = [];
    const spec: MixSpec = { ...mix, task: [{ name: 'sum', data: '/d/a.jsonl', template: 'dialogue_summary', weight: 2 }] };
    handle({
      load_saved_state: () => ({
        state: {
          model_folders: ['/models/mine'],
          ui: {
            version: 1,
            datasets: [{ path: '/d/a.jsonl', options: { columns: { dialogue: 'chat' } } }, { path: '/d/moved.csv', options: {} }],
            mix: spec,
            train: { preset: '', form: { model: '/models/mine', maxSteps: 77 } },
          },
        },
        note: null,
      }),
      inspect_dataset: (args) =>
        args.path === '/d/moved.csv' ? Promise.reject({ kind: 'not_found', message: '/d/moved.csv: no such file' }) : datasetReport({ file: args.path as string }),
      save_ui_state: (args) => {
        saved.push(args.ui);
      },
      preview_mix: () => ({}),
    });
    const { Persistence } = await import('./persist.svelte');
    const { datasets } = await import('./datasets.svelte');
    const { mix: mixStore } = await import('./mix.svelte');
    const { training } = await import('./training.svelte');
    const persistence = new Persistence();
    persistence.save(persistence.snapshot());
    await vi.advanceTimersByTimeAsync(600);
    expect(saved).toHaveLength(0);

    await persistence.restore();
    expect(invoke).toHaveBeenCalledWith('inspect_dataset', { path: '/d/a.jsonl', options: { columns: { dialogue: 'chat' } } });
    expect(datasets.items.map((d) => [d.path, d.error !== null])).toEqual([
      ['/d/a.jsonl', false],
      ['/d/moved.csv', true],
    ]);
    expect(mixStore.entries.map((e) => [e.name, e.weight])).toEqual([['sum', 2]]);
    expect(training.form).toMatchObject({ model: '/models/mine', maxSteps: 77 });

    training.form.maxSteps = 120;
    persistence.save(persistence.snapshot());
    persistence.save(persistence.snapshot());
    await vi.advanceTimersByTimeAsync(600);
    expect(saved).toHaveLength(1);
    expect(saved[0]).toMatchObject({ version: 1, train: { form: { maxSteps: 120 } }, mix: { task: [{ name: 'sum' }] } });
    expect((saved[0] as { datasets: unknown[] }).datasets).toHaveLength(2);
  });

  it('will not train a task whose dataset is not loaded', async () => {
    const { MixStore } = await import('./mix.svelte');
    const store = new MixStore();
    store.load({ ...mix, task: [{ name: 'lost', data: '/nowhere.jsonl', template: 'dialogue_summary', weight: 1 }] });
    expect(store.problems.join('\n')).toContain('Task "lost": load its dataset /nowhere.jsonl');
  });
});

describe('GPU kernel preparation store', () => {
  const gpuStatus = (prepared: number) => ({ on_gpu: true, device: 'GPU', training_shapes: 10, generations: 12, prepared, keeps_tuning: true });
  const spec = { mix, config: { model: 'google/flan-t5-small' } };

  it('keeps the newest answer about the settings, and says nothing when the shell cannot read them', async () => {
    const { GpuPrepStore } = await import('./gpuPrep.svelte');
    const answers: Array<(value: unknown) => void> = [];
    handle({ gpu_preparation: () => new Promise((resolve) => answers.push(resolve)) });
    const store = new GpuPrepStore();
    const older = store.check(spec);
    const newer = store.check(spec);
    answers[1](gpuStatus(4));
    await newer;
    answers[0](gpuStatus(0));
    await older;
    expect(store.status?.prepared).toBe(4);
    handle({ gpu_preparation: () => Promise.reject({ kind: 'network', message: 'model `x`: not on this machine yet' }) });
    await store.check(spec);
    expect(store.status).toBeNull();
    expect(notices.items).toHaveLength(0);
  });

  it('cancels through the task id it started with, says so without an error, and asks again', async () => {
    const { GpuPrepStore } = await import('./gpuPrep.svelte');
    let taskId: unknown;
    let stop: ((error: unknown) => void) | undefined;
    let checks = 0;
    handle({
      prepare_gpu: (args) => {
        taskId = args.taskId;
        (args.onEvent as MockChannel).send({ kind: 'starting', index: 0, total: 22, work: 'generate', shape: [1, 512, 4] });
        return new Promise((_, reject) => (stop = reject));
      },
      cancel_task: (args) => {
        expect(args.taskId).toBe(taskId);
        stop!({ kind: 'cancelled', message: 'GPU kernel preparation stopped after 1 of 22 steps (the finished ones are kept)' });
      },
      gpu_preparation: () => {
        checks += 1;
        return gpuStatus(1);
      },
    });
    const store = new GpuPrepStore();
    const running = store.prepare(spec);
    await vi.waitFor(() => expect(store.progress?.current).toBe('generation 1×512 tokens'));
    expect(store.running).toBe(true);
    await store.cancel();
    await running;
    expect(store.running).toBe(false);
    expect(store.progress).toBeNull();
    expect(String(taskId)).toMatch(/^prepare-gpu-/);
    expect(notices.items).toEqual([expect.objectContaining({ kind: 'info', message: expect.stringContaining('stopped after 1 of 22') })]);
    expect(checks).toBe(1);
    expect(store.status?.prepared).toBe(1);
  });
});
