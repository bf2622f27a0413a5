import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { enterTauri, handle, invoke, leaveTauri, listen, MockChannel, open, reset, save } from '../../test/tauri-mock';

vi.mock('@tauri-apps/api/core', async () => {
  const mock = await import('../../test/tauri-mock');
  return { invoke: mock.invoke, Channel: mock.MockChannel };
});
vi.mock('@tauri-apps/api/event', async () => ({ listen: (await import('../../test/tauri-mock')).listen }));
vi.mock('@tauri-apps/plugin-dialog', async () => {
  const mock = await import('../../test/tauri-mock');
  return { open: mock.open, save: mock.save };
});

const ipc = await import('.');

beforeEach(() => {
  reset();
  enterTauri();
});
afterEach(() => leaveTauri());

describe('commands', () => {
  it('calls snake_case commands with camelCase arguments', async () => {
    handle({ pause_training: () => null, run_events: () => [{ kind: 'paused', step: 3 }] });
    await ipc.pauseTraining('run-7');
    expect(invoke).toHaveBeenCalledWith('pause_training', { runId: 'run-7' });
    expect(await ipc.runEvents('run-7')).toEqual([{ kind: 'paused', step: 3 }]);
    expect(invoke).toHaveBeenLastCalledWith('run_events', { runId: 'run-7' });
  });

  it('passes inspect options or null', async () => {
    handle({ inspect_dataset: () => ({ rows: 1 }) });
    await ipc.inspectDataset('/d/a.csv');
    expect(invoke).toHaveBeenLastCalledWith('inspect_dataset', { path: '/d/a.csv', options: null });
    await ipc.inspectDataset('/d/a.csv', { columns: { dialogue: 'chat' }, speakers: 'person-tags' });
    expect(invoke).toHaveBeenLastCalledWith('inspect_dataset', {
      path: '/d/a.csv',
      options: { columns: { dialogue: 'chat' }, speakers: 'person-tags' },
    });
  });

  it("rejects with the shell's CmdError as is", async () => {
    const error = { kind: 'input', message: 'data/x.jsonl line 3: expected `,` or `}`' };
    handle({ inspect_dataset: () => Promise.reject(error) });
    await expect(ipc.inspectDataset('data/x.jsonl')).rejects.toEqual(error);
  });

  it('turns other rejections (Tauri\'s own) into internal CmdErrors', async () => {
    handle({ list_runs: () => Promise.reject('invalid args `runId` for command `run_events`') });
    await expect(ipc.listRuns()).rejects.toEqual({
      kind: 'internal',
      message: 'invalid args `runId` for command `run_events`',
    });
  });

  it('turns Error objects and odd rejections into readable strings', () => {
    expect(ipc.errorMessage(new Error('boom'))).toBe('boom');
    expect(ipc.errorMessage({ message: 'structured' })).toBe('structured');
    expect(ipc.errorMessage({ code: 3 })).toBe('{"code":3}');
  });

  it('refuses outside the desktop app with a readable message', async () => {
    leaveTauri();
    await expect(ipc.listModels()).rejects.toMatch(/needs the Mixtune desktop app/);
    expect(invoke).not.toHaveBeenCalled();
  });
});

describe('channels', () => {
  it('streams training events into the callback', async () => {
    handle({
      start_training: (args) => {
        const channel = args.onEvent as MockChannel;
        channel.send({ kind: 'started', start_step: 0 });
        channel.send({ kind: 'step', step: 1 });
        return { run_id: 'r1', output_dir: '/runs/r1' };
      },
    });
    const events: unknown[] = [];
    const spec = { mix: { mixture: { strategy: 'proportional' as const, seed: 0, max_source_tokens: 512, max_target_tokens: 128 }, task: [] }, config: { model: 'm', max_steps: 1 } };
    const started = await ipc.startTraining(spec, (e) => events.push(e));
    expect(started.run_id).toBe('r1');
    expect(events).toEqual([{ kind: 'started', start_step: 0 }, { kind: 'step', step: 1 }]);
    const args = invoke.mock.calls[0][1]!;
    expect(args.spec).toEqual(spec);
    expect(args.onEvent).toBeInstanceOf(MockChannel);
  });

  it('unwraps summarize tokens and reports download progress', async () => {
    handle({
      summarize: (args) => {
        const ch = args.onToken as MockChannel<{ text: string }>;
        ch.send({ text: 'They' });
        ch.send({ text: 'They meet' });
        return { summary: 'They meet.', prompt: 'Summarize…', source_tokens: 12, cut_tokens: 0 };
      },
      download_model: (args) => {
        (args.onProgress as MockChannel).send({ file: 'model.safetensors', downloaded_bytes: 5, total_bytes: 10 });
        return { id: 'google/flan-t5-small' };
      },
    });
    const tokens: string[] = [];
    const result = await ipc.summarize({ model: 'm', chat: 'A: hi' }, (t) => tokens.push(t));
    expect(tokens).toEqual(['They', 'They meet']);
    expect(result.summary).toBe('They meet.');
    expect(invoke.mock.calls[0][1]!.request).toEqual({ model: 'm', chat: 'A: hi' });
    const progress: unknown[] = [];
    await ipc.downloadModel('google/flan-t5-small', (p) => progress.push(p));
    expect(invoke).toHaveBeenLastCalledWith('download_model', expect.objectContaining({ repoId: 'google/flan-t5-small' }));
    expect(progress).toEqual([{ file: 'model.safetensors', downloaded_bytes: 5, total_bytes: 10 }]);
  });

  it('tags support-view tokens by part and compares runs by id', async () => {
    handle({
      summarize_actions: (args) => {
        const ch = args.onToken as MockChannel<{ part: string; text: string }>;
        ch.send({ part: 'actions', text: 'Request:' });
        ch.send({ part: 'summary', text: 'They' });
        return { summary: 'They.', actions: 'Request: x', source_tokens: 5, cut_tokens: 0 };
      },
      compare_runs: () => ({ runs: [], config_diff: [], keys_compared: 0, notes: [] }),
    });
    const seen: string[] = [];
    const view = await ipc.summarizeActions({ model: 'm', chat: 'A: hi' }, (part, text) => seen.push(`${part}:${text}`));
    expect(seen).toEqual(['actions:Request:', 'summary:They']);
    expect(view.actions).toBe('Request: x');
    await ipc.compareRuns(['a', 'b']);
    expect(invoke).toHaveBeenLastCalledWith('compare_runs', { runIds: ['a', 'b'] });
  });

  it('passes a task id to cancellable commands', async () => {
    handle({ evaluate: () => ({ models: [] }), cancel_task: () => null });
    await ipc.evaluate({ model: 'a', data: 'd' }, () => {}, 'eval-1');
    expect(invoke.mock.calls[0][1]).toMatchObject({ request: { model: 'a', data: 'd' }, taskId: 'eval-1' });
    await ipc.cancelTask('eval-1');
    expect(invoke).toHaveBeenLastCalledWith('cancel_task', { taskId: 'eval-1' });
  });
});

describe('errors', () => {
  it('tells CmdErrors from other values', () => {
    expect(ipc.isCmdError({ kind: 'not_found', message: 'no model' })).toBe(true);
    expect(ipc.isCmdError({ kind: 'bogus', message: 'x' })).toBe(false);
    expect(ipc.isCmdError({ kind: 'input' })).toBe(false);
    expect(ipc.isCmdError('input')).toBe(false);
  });

  it('hints what to do by kind, and nothing for other errors', () => {
    expect(ipc.errorHint({ kind: 'input', message: 'x' })).toBe('Check the file or setting named above.');
    expect(ipc.errorHint({ kind: 'out_of_memory', message: 'x' })).toMatch(/batch size/);
    expect(ipc.errorHint({ kind: 'network', message: 'x' })).toMatch(/connection/);
    expect(ipc.errorHint('Choose a model')).toBeNull();
    // A missing file is not a model problem.
    expect(ipc.errorHint({ kind: 'not_found', message: '/d/gone.csv: No such file or directory' })).toMatch(/moved or been renamed/);
    expect(ipc.errorHint({ kind: 'not_found', message: 'no model at `x`' })).toMatch(/Models page/);
    for (const hint of Object.values(ipc.ERROR_HINTS)) expect(hint).not.toBe('');
  });
});

describe('events and dialogs', () => {
  it('listens for dataset-dropped and hands over the paths', async () => {
    const unlisten = vi.fn();
    listen.mockResolvedValue(unlisten);
    const seen: string[][] = [];
    const stop = await ipc.onDatasetDropped((paths) => seen.push(paths));
    expect(listen.mock.calls[0][0]).toBe('dataset-dropped');
    listen.mock.calls[0][1]({ payload: { paths: ['/a.jsonl', '/b.csv'] } });
    expect(seen).toEqual([['/a.jsonl', '/b.csv']]);
    stop();
    expect(unlisten).toHaveBeenCalled();
  });

  it('reports drag hover from the native drag events', async () => {
    const handlers = new Map<string, () => void>();
    const unlisten = vi.fn();
    listen.mockImplementation(async (name: string, cb: () => void) => {
      handlers.set(name, cb);
      return unlisten;
    });
    const seen: boolean[] = [];
    const stop = await ipc.onDragHover((h) => seen.push(h));
    handlers.get('tauri://drag-enter')!();
    handlers.get('tauri://drag-leave')!();
    handlers.get('tauri://drag-enter')!();
    handlers.get('tauri://drag-drop')!();
    expect(seen).toEqual([true, false, true, false]);
    stop();
    expect(unlisten).toHaveBeenCalledTimes(3);
  });

  it('opens one dataset file with dataset filters', async () => {
    open.mockResolvedValue('/data/x.parquet');
    expect(await ipc.pickDataFile()).toBe('/data/x.parquet');
    expect(open.mock.calls[0][0]).toMatchObject({ multiple: false, filters: [{ extensions: ['jsonl', 'json', 'csv', 'tsv', 'parquet'] }] });
    open.mockResolvedValue(null);
    expect(await ipc.pickDataFile()).toBeNull();
    open.mockResolvedValue(['/a', '/b']);
    expect(await ipc.pickFolder('Pick')).toBe('/a');
    expect(open.mock.calls[2][0]).toMatchObject({ directory: true });
  });

  it('asks where to save CSV', async () => {
    save.mockResolvedValue('/tmp/out.csv');
    expect(await ipc.pickCsvSavePath('evaluation.csv')).toBe('/tmp/out.csv');
    expect(save.mock.calls[0][0]).toMatchObject({ defaultPath: 'evaluation.csv' });
  });
});
