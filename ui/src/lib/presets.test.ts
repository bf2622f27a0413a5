import { describe, expect, it } from 'vitest';
import { configToForm, formToConfig, presetForm, PRESETS, validateForm } from './presets';

describe('presets', () => {
  it('offers the four presets with their models and methods', () => {
    expect(PRESETS.map((p) => p.label)).toEqual(['LoRA small', 'LoRA base', 'Full small', 'Full base']);
    expect(presetForm('lora-base')).toMatchObject({ model: 'google/flan-t5-base', method: 'lora' });
    expect(presetForm('full-base')).toMatchObject({ model: 'google/flan-t5-base', method: 'full', optimizer: 'adafactor' });
    expect(presetForm('unknown').model).toBe('google/flan-t5-small');
  });

  it('returns independent copies', () => {
    const a = presetForm('lora-small');
    a.loraTargets.push('k');
    expect(presetForm('lora-small').loraTargets).toEqual(['q', 'v']);
  });

  it('maps a LoRA form to TrainConfig keys', () => {
    const config = formToConfig(presetForm('lora-small'));
    expect(config).toMatchObject({
      model: 'google/flan-t5-small',
      method: 'lora',
      optimizer: 'adamw',
      max_steps: 1000,
      weight_decay: 0.01,
      lora: { rank: 16, alpha: 32, dropout: 0.05, target_modules: ['q', 'v'] },
    });
    expect(config).not.toHaveProperty('mixture');
    expect(config).not.toHaveProperty('output_dir');
    // A step-0 pass by default, so the forgetting report has its baseline.
    expect(config).toMatchObject({ eval_at_start: true, forgetting_threshold: 0.02 });
  });

  it('leaves LoRA and AdamW-only keys out where they do not apply', () => {
    const config = formToConfig(presetForm('full-base'));
    expect(config).not.toHaveProperty('lora');
    expect(config).not.toHaveProperty('weight_decay');
    expect(config.optimizer).toBe('adafactor');
  });

  it('sends dropout only when it is on, and reads it back', () => {
    expect(formToConfig(presetForm('lora-small'))).not.toHaveProperty('dropout_rate');
    const config = formToConfig({ ...presetForm('full-small'), dropoutRate: 0.1 });
    expect(config.dropout_rate).toBe(0.1);
    expect(configToForm(config).dropoutRate).toBe(0.1);
    expect(configToForm({ model: 'm' }).dropoutRate).toBe(0);
  });

  it('sends precision only when it is f16, and reads it back', () => {
    expect(formToConfig(presetForm('lora-small'))).not.toHaveProperty('precision');
    const config = formToConfig({ ...presetForm('lora-small'), precision: 'f16' });
    expect(config.precision).toBe('f16');
    expect(configToForm(config).precision).toBe('f16');
    expect(configToForm({ model: 'm' }).precision).toBe('f32');
  });

    it('round-trips a stored config back into the form', () => {
    const form = { ...presetForm('lora-base'), maxSteps: 777, seed: 7 };
    expect(configToForm(formToConfig(form))).toEqual(form);
    const partial = configToForm({ model: '/models/x', max_steps: 5 });
    expect(partial).toMatchObject({ model: '/models/x', maxSteps: 5, method: 'full', batchSize: 8, learningRate: 3e-4 });
  });

  it('validates the fields the engine would reject', () => {
    expect(validateForm(presetForm('lora-small'))).toEqual([]);
    const bad = { ...presetForm('lora-small'), model: ' ', maxSteps: 0, learningRate: 0, dropoutRate: 1, loraTargets: [] };
    expect(validateForm(bad)).toEqual([
      'Choose a model',
      'Max steps must be a whole number of at least 1',
      'Learning rate must be positive',
      'Dropout must be at least 0 and below 1',
      'Pick at least one LoRA target module',
    ]);
  });
});
