import '../test/mock-tauri-modules';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { render, screen, waitFor, within } from '@testing-library/svelte';
import userEvent from '@testing-library/user-event';
import App from '../App.svelte';
import { enterTauri, handle, leaveTauri, listen, reset } from '../test/tauri-mock';
import { datasetReport, evalEvent, modelInfo, runComparison, runInfo, started, step, watchedEval } from '../test/fixtures';
import { nav } from '../lib/stores/nav.svelte';
import { notices } from '../lib/stores/notices.svelte';
import { datasets } from '../lib/stores/datasets.svelte';
import { mix } from '../lib/stores/mix.svelte';
import { training } from '../lib/stores/training.svelte';
import { emptyRun } from '../lib/training';

const model = modelInfo();

beforeEach(() => {
  reset();
  enterTauri();
  notices.clear();
  // The page stores are app-wide singletons: start every test from an empty app.
  datasets.items = [];
  datasets.selected = null;
  mix.entries = [];
  mix.preview = null;
  mix.previewError = null;
  mix.templates = [];
  mix.templatesLoaded = false;
  listen.mockResolvedValue(() => {});
  handle({
    app_info: () => ({ version: '0.1.0', device: { label: 'GPU: NVIDIA H100 (Vulkan)', is_gpu: true, ready: true, note: null }, runs_dir: '/runs', cache_dir: '/cache' }),
    list_models: () => [model],
    list_templates: () => [],
    list_runs: () => [runInfo({ id: 'r1', status: 'cancelled', steps: 30 })],
    run_events: () => [started(0, 100), step(10), step(20), step(30), evalEvent(30, { dialogsum: 0.4 }), { kind: 'cancelled', step: 30, checkpoint: null }],
    inspect_dataset: (args) => (String(args.path).endsWith('bad.csv') ? Promise.reject(`${args.path}: line 2: unterminated quote`) : datasetReport({ file: String(args.path) })),
  });
  nav.go('models');
});
afterEach(() => leaveTauri());

describe('App', () => {
  it('navigates with the left nav and marks the current page', async () => {
    render(App);
    expect(await screen.findByTestId('device-label')).toHaveTextContent('NVIDIA H100 (Vulkan)');
    expect(screen.getByText('77M')).toBeInTheDocument();
    const link = screen.getByTestId('nav-evaluate');
    await userEvent.click(link);
    expect(link).toHaveAttribute('aria-current', 'page');
    expect(screen.getByRole('heading', { level: 1 })).toHaveTextContent('Evaluate');
    for (const id of ['nav-models', 'nav-datasets', 'nav-mix', 'nav-train', 'nav-summarize']) {
      expect(screen.getByTestId(id)).toBeInTheDocument();
    }
  });

  it('loads a typed dataset path and shows its preview, histograms and problems', async () => {
    render(App);
    await userEvent.click(screen.getByTestId('nav-datasets'));
    await userEvent.type(screen.getByTestId('dataset-path-input'), '/data/dialogsum.jsonl');
    await userEvent.click(screen.getByTestId('dataset-load-button'));
    const table = await screen.findByTestId('dataset-preview-table');
    expect(within(table).getByText('A greeting.')).toBeInTheDocument();
    expect(screen.getByTestId('dataset-schema')).toHaveTextContent('dialogsum');
    expect(screen.getByTestId('dataset-problems')).toHaveTextContent('Exact duplicates: 2');
    expect(screen.getByTestId('dataset-near-duplicates')).toHaveTextContent('dialogsum.jsonl:1 a1 ~ dialogsum.jsonl:3 a3: 0.900');
    expect(screen.getByText('Input length')).toBeInTheDocument();
  });

  it('shows a failing inspect as a readable alert', async () => {
    render(App);
    await userEvent.click(screen.getByTestId('nav-datasets'));
    await userEvent.type(screen.getByTestId('dataset-path-input'), '/data/bad.csv');
    await userEvent.click(screen.getByTestId('dataset-load-button'));
    const banner = await screen.findByTestId('error-banner');
    expect(banner).toHaveTextContent('/data/bad.csv: line 2: unterminated quote');
  });

  it('builds a task mix with live shares and asks the engine for a preview', async () => {
    const previews: unknown[] = [];
    handle({
      app_info: () => ({ version: '0.1.0', device: { label: 'cpu', is_gpu: false, ready: true, note: null }, runs_dir: '/runs', cache_dir: '/cache' }),
      list_models: () => [model],
      list_runs: () => [],
      inspect_dataset: (args) =>
        datasetReport({ file: String(args.path), splits: String(args.path).includes('big') ? { train: 300 } : { train: 100 } }),
      list_templates: () => [
        { name: 'dialogue_summary', file: 'dialogue_summary.toml', description: 'Summarize a dialogue.', fields: ['dialogue', 'summary'], phrasings: [{ name: 'p1', source: 'Summarize: {{ dialogue }}', target: '{{ summary }}' }] },
      ],
      preview_mix: (args) => {
        previews.push(args.mix);
        return Promise.reject('dialogue_summary needs field `summary`');
      },
    });
    render(App);
    await userEvent.click(screen.getByTestId('nav-datasets'));
    for (const path of ['/d/small.jsonl', '/d/big.jsonl']) {
      await userEvent.clear(screen.getByTestId('dataset-path-input'));
      await userEvent.type(screen.getByTestId('dataset-path-input'), path);
      await userEvent.click(screen.getByTestId('dataset-load-button'));
      await screen.findAllByTestId('dataset-preview-table');
    }
    await userEvent.click(screen.getByTestId('nav-mix'));
    await waitFor(() => expect(within(screen.getByTestId('mix-template-select')).getAllByRole('option')).toHaveLength(1));
    await userEvent.click(screen.getByTestId('mix-task-add'));
    await userEvent.selectOptions(screen.getByTestId('mix-dataset-select'), '/d/big.jsonl');
    await userEvent.click(screen.getByTestId('mix-task-add'));
    expect(screen.getAllByTestId('mix-task-row')).toHaveLength(2);
    expect(screen.getAllByTestId('mix-share').map((c) => c.textContent)).toEqual(['25.0%', '75.0%']);
    await userEvent.click(screen.getByTestId('mix-strategy-explicit'));
    await waitFor(() => expect(screen.getAllByTestId('mix-share').map((c) => c.textContent)).toEqual(['50.0%', '50.0%']));
    const error = await screen.findByTestId('mix-preview-error', {}, { timeout: 2000 });
    expect(error).toHaveTextContent('dialogue_summary needs field `summary`');
    const last = previews[previews.length - 1] as { mixture: { strategy: string }; task: { name: string; weight: number }[] };
    expect(last.mixture.strategy).toBe('explicit');
    expect(last.task.map((t) => t.name)).toEqual(['small_dialogue_summary', 'big_dialogue_summary']);
  });

  it('rebuilds a stored run on the Train page', async () => {
    render(App);
    await userEvent.click(screen.getByTestId('nav-train'));
    const open = await screen.findByTestId('train-run-open');
    await userEvent.click(open);
    await waitFor(() => expect(screen.getByTestId('train-step-counter')).toHaveTextContent('step 30 / 100 (30%)'));
    expect(screen.getByRole('progressbar', { name: 'Training steps' })).toHaveAttribute('aria-valuenow', '30');
    expect(screen.getByTestId('loss-chart')).toHaveAttribute('data-points', '3');
    expect(screen.getByTestId('train-status')).toHaveTextContent('cancelled');
    expect(screen.getByTestId('train-samples')).toHaveTextContent('ex30');
    // No task mix yet: Start stays disabled and says why.
    expect(screen.getByTestId('train-start')).toBeDisabled();
    expect(screen.getByText('Add at least one task')).toBeInTheDocument();
  });

  it('shows the forgetting table of a run with a watched task', async () => {
    const baseline = { tasks: { summary: 0.2 }, watched: { topic: 0.4 } };
    handle({
      app_info: () => ({ version: '0.1.0', device: { label: 'cpu', is_gpu: false, ready: true, note: null }, runs_dir: '/runs', cache_dir: '/cache' }),
      list_models: () => [model],
      list_templates: () => [],
      list_runs: () => [runInfo({ id: 'r1', status: 'finished', steps: 40 })],
      run_events: () => [
        started(0, 40),
        watchedEval(0, baseline.tasks, baseline.watched),
        step(40),
        watchedEval(40, { summary: 0.35 }, { topic: 0.3 }, baseline),
      ],
    });
    render(App);
    await userEvent.click(screen.getByTestId('nav-train'));
    await userEvent.click(await screen.findByTestId('train-run-open'));
    const table = await screen.findByTestId('forgetting-table');
    const rows = within(table).getAllByRole('row').slice(1);
    expect(rows.map((r) => Array.from(r.querySelectorAll('td')).map((td) => td.textContent?.trim()))).toEqual([
      ['summary', 'trained', '20.00', '35.00', '+15.00', ''],
      ['topic', 'watched', '40.00', '30.00', '−10.00', 'dropped > 2.00'],
    ]);
    expect(screen.getByTestId('forgetting-verdict')).toHaveTextContent('1 of 2 tasks dropped by more than 2.00 ROUGE-L points since step 0: topic.');
  });

  it('compares two runs picked from the history: best metrics and the config keys that differ', async () => {
    handle({
      app_info: () => ({ version: '0.1.0', device: { label: 'cpu', is_gpu: false, ready: true, note: null }, runs_dir: '/runs', cache_dir: '/cache' }),
      list_models: () => [model],
      list_runs: () => [runInfo({ id: 'run-a' }), runInfo({ id: 'run-b' })],
      run_events: () => [started(0, 100), step(10), evalEvent(10, { dialogsum: 0.4 })],
      compare_runs: () => runComparison(),
    });
    render(App);
    await userEvent.click(screen.getByTestId('nav-compare'));
    expect(screen.getByRole('heading', { level: 1 })).toHaveTextContent('Compare runs');
    const run = screen.getByTestId('compare-run');
    expect(run).toBeDisabled();
    await userEvent.click(await screen.findByRole('checkbox', { name: 'Compare run-a' }));
    await userEvent.click(screen.getByRole('checkbox', { name: 'Compare run-b' }));
    await userEvent.click(run);
    const diff = await screen.findByTestId('compare-diff');
    const rank = within(diff).getByText('lora.rank').closest('tr')!;
    expect(rank).toHaveTextContent('lora.rank816');
    expect(within(diff).getByText('task[topic].weight').closest('tr')).toHaveTextContent('—');
    expect(within(screen.getByTestId('compare-best')).getByText('best val loss').closest('tr')).toHaveTextContent('1.40001.2000');
    expect(screen.getByTestId('compare-loss-chart')).toBeInTheDocument();
    expect(screen.getByTestId('compare-rouge-chart')).toBeInTheDocument();
    // The runs' eval events carry each task's `invented_rate`: the invented-facts curve shows.
    expect(screen.getByTestId('compare-facts-chart')).toBeInTheDocument();
  });
});

describe('Invented facts', () => {
  it('highlights the facts of a summary that the chat lacks', async () => {
    const summary = 'Anna stays at the Grand Hotel in Boston.';
    handle({
      app_info: () => ({ version: '0.1.0', device: { label: 'cpu', is_gpu: false, ready: true, note: null }, runs_dir: '/runs', cache_dir: '/cache' }),
      list_models: () => [model],
      list_runs: () => [],
      summarize: () => ({
        summary,
        prompt: 'Summarize: …',
        source_tokens: 12,
        cut_tokens: 0,
        facts: [
          { text: 'Anna', kind: 'name', start: 0, end: 4, invented: false },
          { text: 'Grand Hotel', kind: 'place', start: 18, end: 29, invented: true },
          { text: 'Boston', kind: 'place', start: 33, end: 39, invented: true },
        ],
      }),
    });
    render(App);
    await userEvent.click(screen.getByTestId('nav-summarize'));
    await waitFor(() => expect(within(screen.getByTestId('summarize-model-select')).getAllByRole('option').length).toBeGreaterThan(0));
    await userEvent.selectOptions(screen.getByTestId('summarize-model-select'), model.path);
    await userEvent.type(screen.getByTestId('summarize-input'), 'Anna: I need a room.');
    await userEvent.click(screen.getByTestId('summarize-run'));
    const output = screen.getByTestId('summarize-output');
    await waitFor(() => expect(output.querySelectorAll('mark')).toHaveLength(2));
    expect([...output.querySelectorAll('mark')].map((m) => m.textContent)).toEqual(['Grand Hotel', 'Boston']);
    expect(output).toHaveTextContent(summary);
    expect(screen.getByTestId('summarize-facts')).toHaveTextContent('2 of 3 facts are not in the chat: Grand Hotel, Boston');
  });
});

describe('GPU kernel preparation', () => {
  it('says on a GPU how far the settings are prepared, and prepares the rest with progress', async () => {
    const asked: unknown[] = [];
    let prepared = 1;
    let release: (() => void) | undefined;
    handle({
      app_info: () => ({ version: '0.1.0', device: { label: 'NVIDIA H100 (Vulkan)', is_gpu: true, ready: true, note: null }, runs_dir: '/runs', cache_dir: '/cache' }),
      list_models: () => [model],
      list_runs: () => [],
      inspect_dataset: (args) => datasetReport({ file: String(args.path) }),
      list_templates: () => [
        { name: 'dialogue_summary', file: 'dialogue_summary.toml', description: 'Summarize a dialogue.', fields: ['dialogue', 'summary'], phrasings: [{ name: 'p1', source: 'Summarize: {{ dialogue }}', target: '{{ summary }}' }] },
      ],
      preview_mix: () => Promise.reject('not in this test'),
      gpu_preparation: (args) => {
        asked.push(args.spec);
        return { on_gpu: true, device: 'NVIDIA H100 (Vulkan)', training_shapes: 2, generations: 1, prepared, keeps_tuning: true };
      },
      prepare_gpu: async (args) => {
        const channel = args.onEvent as { send: (event: unknown) => void };
        channel.send({ kind: 'starting', index: 0, total: 3, work: 'train', shape: [8, 512, 128] });
        channel.send({ kind: 'done', work: 'train', shape: [8, 512, 128], outcome: { kind: 'already_prepared' } });
        channel.send({ kind: 'starting', index: 1, total: 3, work: 'train', shape: [8, 256, 64] });
        await new Promise<void>((resolve) => (release = resolve));
        channel.send({ kind: 'done', work: 'train', shape: [8, 256, 64], outcome: { kind: 'prepared', seconds: 12, steps: 1 } });
        prepared = 3;
        return { prepared: 2, skipped: 1, seconds: 40 };
      },
    });
    // An earlier test's run may still be shown as live: this one starts with none.
    training.run = emptyRun();
    training.runId = null;
    training.live = false;
    render(App);
    await userEvent.click(screen.getByTestId('nav-datasets'));
    await userEvent.type(screen.getByTestId('dataset-path-input'), '/d/chats.jsonl');
    await userEvent.click(screen.getByTestId('dataset-load-button'));
    await screen.findAllByTestId('dataset-preview-table');
    await userEvent.click(screen.getByTestId('nav-mix'));
    await waitFor(() => expect(within(screen.getByTestId('mix-template-select')).getAllByRole('option')).toHaveLength(1));
    await userEvent.click(screen.getByTestId('mix-task-add'));
    await userEvent.click(screen.getByTestId('nav-train'));

    const line = await screen.findByTestId('train-gpu-prep', {}, { timeout: 2000 });
    expect(line).toHaveTextContent('prepared for 1 of 3 shapes on NVIDIA H100 (Vulkan)');
    expect(asked[asked.length - 1]).toMatchObject({ config: { model: 'google/flan-t5-small' }, mix: { task: [{ data: '/d/chats.jsonl' }] } });

    expect(screen.getByTestId('train-gpu-prep-start')).toBeEnabled();
    await userEvent.click(screen.getByTestId('train-gpu-prep-start'));
    await waitFor(() => expect(screen.getByTestId('train-gpu-prep')).toHaveTextContent('Preparing training step 8×256→64 tokens (2 of 3)'));
    expect(screen.getByRole('progressbar', { name: 'GPU kernel preparation' })).toHaveAttribute('aria-valuenow', '1');
    expect(screen.getByTestId('train-start')).toBeDisabled();
    release!();
    await waitFor(() => expect(screen.getByTestId('train-gpu-prep')).toHaveTextContent('prepared on NVIDIA H100 (Vulkan) (3 of 3 shapes)'));
    expect(screen.queryByTestId('train-gpu-prep-start')).toBeNull();
    expect(notices.items.map((n) => n.message)).toContain('Prepared GPU kernels for 2 shapes in 40s (1 already prepared): runs of these settings start on them.');
  });
});
