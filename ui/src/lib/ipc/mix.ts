/**
 * Templates and mixes (`src-tauri/src/commands/mix.rs`). A mix goes to the shell as the
 * mixture TOML in JSON (`MixtureConfig`), keys left out taking the engine's defaults, each task
 * with its phrasings when the user edited them (the shell writes them to a template file).
 */
import { call, type Sparse } from './core';
import type { MixtureSettings, MixturePreview, PhrasingInfo, TaskConfig, TemplateInfo, WatchConfig } from './generated';

/** The `[mixture]` table: the keys the page always sets, others left to the engine. */
export type MixSettings = Sparse<MixtureSettings, 'strategy' | 'seed' | 'max_source_tokens' | 'max_target_tokens'>;

/** One `[[task]]`, with the edited phrasings (sent only when they differ from the template's). */
export type MixTask = Sparse<TaskConfig, 'name' | 'data' | 'template'> & { phrasings?: PhrasingInfo[] };

/** One `[[watch]]`: scored at every validation pass, never trained on. */
export type MixWatch = Sparse<WatchConfig, 'name' | 'data' | 'template'>;

/** `MixtureConfig` as the UI sends it. */
export interface MixSpec {
  mixture: MixSettings;
  task: MixTask[];
  watch?: MixWatch[];
}

/** The built-in task templates. */
export const listTemplates = () => call<TemplateInfo[]>('list_templates');

/** Rates, shares, rendered phrasings, lengths and data checks of a mix. */
export const previewMix = (mix: MixSpec) => call<MixturePreview>('preview_mix', { mix });
