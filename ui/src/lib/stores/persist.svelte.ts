/**
 * Restores the last session's datasets, task mix and Train settings at launch, and saves
 * them (half a second after the last change) for the next one (`lib/persist.ts`).
 */
import * as ipc from '../ipc';
import { debounce } from '../mix';
import { parseSavedUi, type SavedUi } from '../persist';
import { datasets } from './datasets.svelte';
import { mix } from './mix.svelte';
import { notices } from './notices.svelte';
import { training } from './training.svelte';

export class Persistence {
  /** Whether the restore is done: saving starts only then, so it never saves an empty app over the last session. */
  restored = $state(false);
  #save = debounce((ui: SavedUi) => {
    ipc.saveUiState(ui).catch((error) => notices.error(error, 'Remembering this session'));
  }, 500);

  async restore(): Promise<void> {
    try {
      const { state, note } = await ipc.loadSavedState();
      if (note) notices.info(note);
      const ui = parseSavedUi(state.ui);
      if (ui?.train) {
        training.preset = ui.train.preset;
        training.form = { ...training.form, ...ui.train.form };
      }
      if (ui?.mix) mix.load(ui.mix);
      // A file that moved keeps its place in the list, with the error that says so.
      if (ui) await Promise.all(ui.datasets.map((d) => datasets.load(d.path, d.options)));
    } catch (error) {
      notices.error(error, 'Restoring the last session');
    } finally {
      this.restored = true;
    }
  }

  /** What is saved: read in an effect, so every change it covers schedules a save. */
  snapshot(): SavedUi {
    return {
      version: 1,
      datasets: datasets.items.map((d) => ({ path: d.path, options: $state.snapshot(d.options) })),
      mix: mix.entries.length > 0 ? mix.spec : null,
      train: { preset: training.preset, form: $state.snapshot(training.form) },
    };
  }

  /** Schedules saving `ui`. */
  save(ui: SavedUi): void {
    if (this.restored) this.#save(ui);
  }
}

export const persistence = new Persistence();
