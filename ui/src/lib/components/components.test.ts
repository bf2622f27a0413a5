import '../../test/mock-tauri-modules';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { render, screen, within } from '@testing-library/svelte';
import userEvent from '@testing-library/user-event';
import EvalTable from './EvalTable.svelte';
import ExampleTable from './ExampleTable.svelte';
import DatasetDetail from './DatasetDetail.svelte';
import NoticeRegion from './NoticeRegion.svelte';
import Histogram from './Histogram.svelte';
import ProgressBar from './ProgressBar.svelte';
import ModelSelect from './ModelSelect.svelte';
import type { ModelInfo } from '../ipc';
import { exampleRows, scoreTable } from '../eval';
import { evalReport, stats } from '../../test/fixtures';
import { enterTauri, leaveTauri, reset } from '../../test/tauri-mock';

beforeEach(() => {
  reset();
  enterTauri();
});
afterEach(() => leaveTauri());

describe('EvalTable', () => {
  it("renders the lab's table: ROUGE per model and the signed improvement", () => {
    render(EvalTable, { rows: scoreTable(evalReport()) });
    const table = screen.getByTestId('eval-table');
    const headers = within(table).getAllByRole('columnheader').map((h) => h.textContent?.trim());
    expect(headers).toEqual(['Model', 'ROUGE-1', 'ROUGE-2', 'ROUGE-L', 'ROUGE-Lsum']);
    const rows = within(table).getAllByRole('row').slice(1);
    expect(rows.map((r) => within(r).getByRole('rowheader').textContent)).toEqual([
      'run-1/model',
      'google/flan-t5-small',
      'Absolute improvement',
    ]);
    const cells = (row: HTMLElement) => within(row).getAllByRole('cell').map((c) => c.textContent?.trim());
    expect(cells(rows[0])).toEqual(['45.00', '22.50', '40.00', '41.00']);
    expect(cells(rows[2])).toEqual(['+5.00', '+2.50', '+5.00', '+5.00']);
  });
});

describe('ExampleTable', () => {
  it('shows both predictions and asks to sort when a header is clicked', async () => {
    const onsort = vi.fn();
    render(ExampleTable, { rows: exampleRows(evalReport()), compared: true, sortKey: 'rouge1', sortDirection: 'desc', onsort });
    const table = screen.getByTestId('eval-examples');
    expect(within(table).getAllByRole('row')).toHaveLength(4);
    expect(within(table).getByText('Lunch plans, "today"')).toBeInTheDocument();
    const rougeHeader = within(table).getByRole('columnheader', { name: /^ROUGE-1/ });
    expect(rougeHeader).toHaveAttribute('aria-sort', 'descending');
    await userEvent.click(within(table).getByRole('button', { name: /Δ/ }));
    expect(onsort).toHaveBeenCalledWith('delta');
    // Each prediction's invented facts are marked in their own column.
    const invented = within(table).getAllByTestId('eval-row-invented').map((cell) => cell.textContent);
    expect(invented).toContain('A1');
    expect(invented).toContain('none');
    await userEvent.click(within(table).getByRole('button', { name: /Invented facts/ }));
    expect(onsort).toHaveBeenCalledWith('invented');
  });

  it('says when nothing matches', () => {
    render(ExampleTable, { rows: [], compared: false, sortKey: 'id', sortDirection: 'asc', onsort: () => {} });
    expect(screen.getByText('No examples match.')).toBeInTheDocument();
  });
});

describe('NoticeRegion', () => {
  it('shows errors in an alert region and dismisses them', async () => {
    const ondismiss = vi.fn();
    render(NoticeRegion, {
      items: [
        { id: 1, kind: 'error', message: 'mix.toml line 4: unknown key `rate`', hint: 'Check the file or setting named above.' },
        { id: 2, kind: 'info', message: 'Saved /tmp/x.csv' },
      ],
      ondismiss,
    });
    const alert = screen.getByRole('alert');
    expect(alert).toHaveAttribute('data-testid', 'error-banner');
    expect(alert).toHaveTextContent('mix.toml line 4: unknown key `rate`');
    expect(screen.getByTestId('error-hint')).toHaveTextContent('Check the file or setting named above.');
    expect(alert).not.toHaveTextContent('Saved');
    expect(screen.getByRole('status')).toHaveTextContent('Saved /tmp/x.csv');
    await userEvent.click(within(alert).getByRole('button', { name: 'Dismiss error' }));
    expect(ondismiss).toHaveBeenCalledWith(1);
  });

  it('renders no alert without errors', () => {
    render(NoticeRegion, { items: [], ondismiss: () => {} });
    expect(screen.queryByTestId('error-banner')).toBeNull();
  });
});

describe('Histogram and progress', () => {
  it('labels buckets and the open-ended bucket, and says what the limit cuts in tokens', () => {
    render(Histogram, { stats: stats(512), title: 'Input length', unit: 'tokens' });
    expect(screen.getByText('0-512')).toBeInTheDocument();
    expect(screen.getByText('513+')).toBeInTheDocument();
    expect(screen.getByText(/1 of 3 over the 512-token limit: cut in training/)).toBeInTheDocument();
  });

  it('does not compare words with the token limit', () => {
    render(Histogram, { stats: stats(512), title: 'Input length', unit: 'words' });
    expect(screen.getByText(/counted in words: add a model to count T5 tokens/)).toBeInTheDocument();
    expect(screen.queryByText(/over the 512-token limit/)).toBeNull();
  });

  it('exposes progress to assistive technology', () => {
    render(ProgressBar, { done: 3, total: 12, label: 'Scoring' });
    const bar = screen.getByRole('progressbar', { name: 'Scoring' });
    expect(bar).toHaveAttribute('aria-valuenow', '3');
    expect(bar).toHaveAttribute('aria-valuemax', '12');
    expect(screen.getByText('Scoring — 3 / 12')).toBeInTheDocument();
  });

  it('leaves the caption out when the page shows the counts itself', () => {
    render(ProgressBar, { done: 5, total: 10, label: 'Training steps', caption: false });
    expect(screen.getByRole('progressbar', { name: 'Training steps' })).toHaveAttribute('aria-valuenow', '5');
    expect(screen.queryByText(/Training steps/)).not.toBeInTheDocument();
  });
});

describe('ModelSelect', () => {
  it('says where to get a model when there is none, and lists them when there are', () => {
    const empty = render(ModelSelect, { id: 'm', label: 'Model', value: '', models: [], testid: 'pick' });
    expect(screen.getByTestId('pick-empty').textContent).toContain('Models page');
    empty.unmount();
    const model = { id: 'flan-t5-small', path: '/hf/flan-t5-small', source: 'cache' } as ModelInfo;
    render(ModelSelect, { id: 'm', label: 'Model', value: '', models: [model], testid: 'pick' });
    expect(screen.queryByTestId('pick-empty')).toBeNull();
    expect(screen.getByRole('option', { name: 'flan-t5-small (cache)' })).toBeTruthy();
  });
});

describe('DatasetDetail', () => {
  it('maps the columns of a file the engine could not map, in place', async () => {
    const onreinspect = vi.fn();
    const dataset = {
      path: '/d/qa.csv',
      report: null,
      options: {},
      loading: false,
      error: '/d/qa.csv: unrecognised columns (question, answer)',
      columns: ['question', 'answer'],
    };
    render(DatasetDetail, { dataset, onreinspect });
    const inspect = screen.getByTestId('dataset-map-inspect');
    expect(inspect).toBeDisabled();
    await userEvent.selectOptions(screen.getByTestId('mapping-dialogue'), 'question');
    await userEvent.selectOptions(screen.getByTestId('mapping-summary'), 'answer');
    await userEvent.click(inspect);
    expect(onreinspect).toHaveBeenCalledWith(expect.objectContaining({ columns: { dialogue: 'question', summary: 'answer' } }));
  });
});
