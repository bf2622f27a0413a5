// Mixtune desktop E2E: the built app under Xvfb, driven through tauri-driver (WebDriver).
// Started by scripts/e2e.sh, which sets the environment read below. Every page gets a
// screenshot in $MIXTUNE_E2E_ARTIFACTS; a screenshot that looks blank fails the test.
// Measurements (cold start, idle RSS, binary size, chart updates/s) are printed and written
// to measurements.json beside the screenshots.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { Session, waitForServer, waitUntil } from './webdriver.mjs';

const env = (name, fallback) => {
  const value = process.env[name] ?? fallback;
  if (value === undefined) throw new Error(`e2e: ${name} is not set (run scripts/e2e.sh)`);
  return value;
};
const APP = env('MIXTUNE_E2E_APP');
const DATA = env('MIXTUNE_E2E_DATA');
const QA = env('MIXTUNE_E2E_QA');
const DROPPED = env('MIXTUNE_E2E_DROPPED');
const ARTIFACTS = env('MIXTUNE_E2E_ARTIFACTS');
const MODEL_DIR = env('MIXTUNE_EXTRA_MODELS');
const CONFIG_DIR = env('MIXTUNE_CONFIG_DIR');
const TAURI_DRIVER = env('TAURI_DRIVER', 'tauri-driver');
const NATIVE_DRIVER = env('WEBKIT_WEBDRIVER', '/usr/bin/WebKitWebDriver');
const PORT = Number(env('MIXTUNE_E2E_PORT', '4444'));
const TRAIN_TIMEOUT_MS = Number(env('MIXTUNE_E2E_TRAIN_TIMEOUT_MS', '240000'));
const RESUME_STEPS = 120;

const CHAT = [
  'Alice: Hi Bob, are we still meeting at noon to plan the trip?',
  'Bob: Yes, at the cafe next to the station. I will bring the maps.',
  'Alice: Great, I will book the train tickets tonight.',
].join('\n');

const measurements = {};
const log = (...args) => console.log('[e2e]', ...args);
fs.mkdirSync(ARTIFACTS, { recursive: true });

// ---------------------------------------------------------------- processes and memory

function appPid() {
  const target = fs.realpathSync(APP);
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (fs.readlinkSync(`/proc/${entry}/exe`) === target) return Number(entry);
    } catch {
      // Not ours or gone.
    }
  }
  return null;
}

function status(pid) {
  try {
    const text = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const field = (name) => text.match(new RegExp(`^${name}:\\s*(.*)$`, 'm'))?.[1]?.trim();
    return { name: field('Name'), ppid: Number(field('PPid')), rssKb: parseInt(field('VmRSS') ?? '0', 10) };
  } catch {
    return null;
  }
}

/** RSS of the app process and of the WebKit processes it started (web content, network). */
function memory() {
  const pid = appPid();
  if (!pid) return null;
  const app = status(pid);
  const children = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const s = status(Number(entry));
    if (s && s.ppid === pid) children.push(s);
  }
  const mb = (kb) => Math.round((kb / 1024) * 10) / 10;
  return {
    app_rss_mb: mb(app?.rssKb ?? 0),
    webkit_rss_mb: mb(children.reduce((sum, c) => sum + c.rssKb, 0)),
    total_rss_mb: mb((app?.rssKb ?? 0) + children.reduce((sum, c) => sum + c.rssKb, 0)),
    webkit_processes: children.map((c) => c.name),
  };
}

// ---------------------------------------------------------------- screenshots

/** Decodes an 8-bit RGB/RGBA PNG (what WebDriver returns) to { width, height, channels, pixels }. */
function decodePng(png) {
  let offset = 8;
  let width = 0;
  let height = 0;
  let channels = 4;
  const idat = [];
  while (offset < png.length) {
    const length = png.readUInt32BE(offset);
    const type = png.toString('ascii', offset + 4, offset + 8);
    const data = png.subarray(offset + 8, offset + 8 + length);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      if (data[8] !== 8 || ![2, 6].includes(data[9]) || data[12] !== 0) {
        throw new Error(`unsupported PNG (bit depth ${data[8]}, colour type ${data[9]}, interlace ${data[12]})`);
      }
      channels = data[9] === 6 ? 4 : 3;
    } else if (type === 'IDAT') {
      idat.push(data);
    }
    offset += 12 + length;
  }
  const raw = zlib.inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  const pixels = Buffer.alloc(stride * height);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    const out = pixels.subarray(y * stride, (y + 1) * stride);
    const prev = y > 0 ? pixels.subarray((y - 1) * stride, y * stride) : null;
    for (let x = 0; x < stride; x++) {
      const a = x >= channels ? out[x - channels] : 0;
      const b = prev ? prev[x] : 0;
      const c = prev && x >= channels ? prev[x - channels] : 0;
      let value = line[x];
      if (filter === 1) value += a;
      else if (filter === 2) value += b;
      else if (filter === 3) value += (a + b) >> 1;
      else if (filter === 4) {
        const p = a + b - c;
        const pa = Math.abs(p - a);
        const pb = Math.abs(p - b);
        const pc = Math.abs(p - c);
        value += pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      }
      out[x] = value & 0xff;
    }
  }
  return { width, height, channels, pixels };
}

/** Blank: (nearly) one colour everywhere, as a window that rendered nothing. */
function looksBlank(png) {
  const { width, height, channels, pixels } = decodePng(png);
  const counts = new Map();
  let samples = 0;
  for (let y = 0; y < height; y += 3) {
    for (let x = 0; x < width; x += 3) {
      const i = (y * width + x) * channels;
      const key = (pixels[i] << 16) | (pixels[i + 1] << 8) | pixels[i + 2];
      counts.set(key, (counts.get(key) ?? 0) + 1);
      samples++;
    }
  }
  const dominant = Math.max(...counts.values()) / samples;
  return counts.size < 8 || dominant > 0.995;
}

async function shot(session, name) {
  const png = await session.screenshot();
  const file = path.join(ARTIFACTS, `${name}.png`);
  fs.writeFileSync(file, png);
  if (looksBlank(png)) throw new Error(`screenshot ${file} looks blank (a uniform window)`);
  log(`screenshot ${file} (${png.length} bytes)`);
}

// ---------------------------------------------------------------- steps

async function go(session, page) {
  const link = await session.testid(`nav-${page}`);
  await link.click();
  await waitUntil(async () => (await link.attribute('aria-current')) === 'page', {
    what: `the ${page} page to be current`,
  });
}

async function typeInto(session, testid, text) {
  const input = await session.testid(testid);
  await input.clear();
  // WebKitWebDriver drops a plain "\n": send the Enter key for line breaks.
  await input.type(text.replaceAll('\n', '\uE007'));
  return input;
}

/** Selects the option of `<select data-testid=testid>` whose text or value contains `want`. */
async function choose(session, testid, want) {
  const select = await session.testid(testid);
  const options = await waitUntil(
    async () => {
      const found = await select.find('option');
      for (const option of found) {
        const label = `${await option.text()} ${await option.property('value')}`;
        if (label.includes(want)) return [option];
      }
      return null;
    },
    { what: `an option containing "${want}" in ${testid}`, onTimeout: () => session.describePage() },
  );
  await options[0].click();
  // WebKitWebDriver clicks on <option> do not always fire `change`: set it explicitly too.
  await session.exec(
    `const s = arguments[0]; const want = arguments[1];
     const o = [...s.options].find((o) => (o.text + ' ' + o.value).includes(want));
     if (o && s.value !== o.value) { s.value = o.value; }
     s.dispatchEvent(new Event('input', { bubbles: true }));
     s.dispatchEvent(new Event('change', { bubbles: true }));`,
    [{ 'element-6066-11e4-a52e-4f735466cecf': select.id }, want],
  );
}

/** The Datasets page's tab of the file at `file`, or null when it is not loaded. */
async function datasetTab(session, file) {
  for (const tab of await session.find('[data-testid="dataset-tab"]')) {
    if ((await tab.text()).includes(path.basename(file))) return tab;
  }
  return null;
}

async function errorBanner(session) {
  const banner = await session.findOne('[data-testid="error-banner"]');
  return banner ? await banner.text() : '';
}

async function scenario(session, launchedAt) {
  // Cold start: launch until the first page answered from Rust (device label filled in).
  const device = await session.testid('device-label', { timeoutMs: 60000 });
  await waitUntil(async () => (await device.text()).trim().length > 0, { what: 'the device label' });
  measurements.cold_start_to_interactive_ms = Date.now() - launchedAt;
  log(`interactive after ${measurements.cold_start_to_interactive_ms} ms; device: ${await device.text()}`);

  // Models: the fixture comes from MIXTUNE_EXTRA_MODELS.
  await go(session, 'models');
  const models = await session.testid('models-table');
  await waitUntil(async () => (await models.text()).includes('tiny-flan'), {
    what: 'tiny-flan in the models table',
    onTimeout: () => session.describePage(),
  });
  await new Promise((r) => setTimeout(r, 1500));
  measurements.idle_memory_at_start = memory();
  await shot(session, '01-models');

  // Datasets: a typed path takes the same Rust path as a drop.
  await go(session, 'datasets');
  await typeInto(session, 'dataset-path-input', DATA);
  await (await session.testid('dataset-load-button')).click();
  const table = await session.testid('dataset-preview-table', { timeoutMs: 30000 });
  await waitUntil(async () => (await table.find('tbody tr')).length > 0, {
    what: 'rows in the dataset preview table',
    onTimeout: async () => `error banner: ${await errorBanner(session)}\n${await session.describePage()}`,
  });
  await shot(session, '02-datasets');
  // Lengths in T5 tokens (the fixture model's tokenizer), compared with the token limit.
  const captions = await session.exec(
    "return Array.from(document.querySelectorAll('figure.histogram figcaption')).map((c) => c.textContent).join(' | ');",
  );
  if (!/\(tokens\)/.test(captions) || !/-token limit/.test(captions)) {
    throw new Error(`dataset lengths should be in tokens against the token limit: ${captions}`);
  }
  log(`dataset lengths: ${captions.replace(/\s+/g, ' ').slice(0, 200)}`);
  await mappedByHand(session);

  await mixPage(session);
  await trainPage(session);

  await evaluatePage(session);

  await summarizePage(session);
  await droppedFile(session);
  await new Promise((r) => setTimeout(r, 1500));
  measurements.memory_after_scenario = memory();
  await windowSizes(session);
}

/** Controls whose text does not fit (a button reading "Rer"), and a page wider than the window. */
const CLIPPED = `
  const out = [];
  const name = (el) => el.tagName.toLowerCase() + (el.dataset.testid ? '[' + el.dataset.testid + ']' : '') + ' "' + (el.innerText || el.value || '').trim().slice(0, 30) + '"';
  for (const el of document.querySelectorAll('main button, main th, main h1, main h2, main label > span, nav a')) {
    const box = el.getBoundingClientRect();
    if (box.width === 0 || box.height === 0 || el.closest('.sr-only')) continue;
    if (el.scrollWidth > el.clientWidth + 1) out.push(name(el) + ' is cut (' + el.scrollWidth + ' > ' + el.clientWidth + ' px)');
  }
  // Whether the user can actually scroll the page sideways.
  const y = window.scrollY;
  window.scrollTo(100000, y);
  const sideways = window.scrollX;
  window.scrollTo(0, y);
  if (sideways > 0) {
    const wide = [...document.querySelectorAll('body *')].filter((el) => el.getBoundingClientRect().right > window.innerWidth + 1);
    out.push('the page scrolls sideways by ' + sideways + ' px (' + wide.slice(-3).map(name).join(', ') + ')');
  }
  return out;`;

/** Every page at the smallest supported window and at the default one: screenshots, and nothing cut. */
async function windowSizes(session) {
  const problems = [];
  for (const [width, height] of [
    [1024, 700],
    [1280, 840],
  ]) {
    await session.setWindowSize(width, height);
    await new Promise((r) => setTimeout(r, 500));
    for (const page of ['models', 'datasets', 'mix', 'train', 'compare', 'evaluate', 'summarize']) {
      await go(session, page);
      await new Promise((r) => setTimeout(r, 400));
      await shot(session, `size-${width}x${height}-${page}`);
      for (const problem of await session.exec(CLIPPED)) problems.push(`${width}×${height} ${page}: ${problem}`);
    }
  }
  measurements.layout_problems = problems;
  if (problems.length > 0) throw new Error(`cut or overflowing at the supported window sizes:\n${problems.join('\n')}`);
  log('every page fits 1024×700 and 1280×840');
}

/**
 * A file dropped on the window, from the `dataset-dropped` event on: the shell sends it for
 * Tauri's native `DragDropEvent::Drop` (which WebDriver cannot make), sent here through
 * Tauri's event system the same way; the window goes to Datasets and loads the file.
 */
async function droppedFile(session) {
  const sent = await session.execAsync(
    `const done = arguments[arguments.length - 1];
     window.__TAURI_INTERNALS__.invoke('plugin:event|emit', { event: 'dataset-dropped', payload: { paths: [arguments[0]] } })
       .then(() => done(null), (error) => done(String(error)));`,
    [DROPPED],
  );
  if (sent) throw new Error(`emitting dataset-dropped failed: ${sent}`);
  const link = await session.testid('nav-datasets');
  await waitUntil(async () => (await link.attribute('aria-current')) === 'page', { what: 'the Datasets page after the drop' });
  await waitUntil(() => datasetTab(session, DROPPED), {
    what: 'the dropped file loaded as a dataset',
    onTimeout: () => session.describePage(),
  });
  await session.testid('dataset-preview-table', { timeoutMs: 30000 });
  log('a dropped file was loaded as a dataset');
}

/** A CSV whose columns match no schema: its columns are offered in place and mapped. */
async function mappedByHand(session) {
  await typeInto(session, 'dataset-path-input', QA);
  await (await session.testid('dataset-load-button')).click();
  await session.testid('dataset-map-inspect', { timeoutMs: 30000 });
  await choose(session, 'mapping-dialogue', 'question');
  await choose(session, 'mapping-summary', 'answer');
  await (await session.testid('dataset-map-inspect')).click();
  const table = await session.testid('dataset-preview-table', { timeoutMs: 30000 });
  await waitUntil(async () => (await table.text()).includes('ships today'), {
    what: 'the mapped CSV previewed',
    onTimeout: async () => `error banner: ${await errorBanner(session)}\n${await session.describePage()}`,
  });
  log('a CSV with unknown columns was mapped in place');
  await shot(session, '02-datasets-mapped');
  // Back to the DialogSum file for the mix.
  await (await datasetTab(session, DATA))?.click();
}

async function mixPage(session) {
  await go(session, 'mix');
  for (const template of ['dialogue_summary', 'dialogue_topic']) {
    await choose(session, 'mix-dataset-select', path.basename(DATA, '.jsonl'));
    await choose(session, 'mix-template-select', template);
    await (await session.testid('mix-task-add')).click();
  }
  await waitUntil(async () => (await session.find('[data-testid="mix-task-row"]')).length === 2, {
    what: 'two tasks in the mix',
    onTimeout: () => session.describePage(),
  });
  const shares = await session.testid('mix-shares');
  await waitUntil(async () => /\d/.test(await shares.text()), { what: 'mix shares' });
  await new Promise((r) => setTimeout(r, 1500));
  const previewError = await session.findOne('[data-testid="mix-preview-error"]');
  if (previewError) throw new Error(`mix preview failed: ${await previewError.text()}`);
  await shot(session, '03-mix');
}

async function trainPage(session) {
  await go(session, 'train');
  await choose(session, 'train-model-select', 'tiny-flan');
  await typeInto(session, 'train-max-steps', '30');
  await typeInto(session, 'train-batch-size', '2');
  // Validation at the end only, so the chart's points come from steps.
  await typeInto(session, 'train-eval-every', '0');
  await (await session.testid('train-start')).click();
  const chart = await session.testid('loss-chart', { timeoutMs: 30000 });
  // Count the chart's data changes as they happen.
  await session.exec(
    `const el = arguments[0]; window.__chartUpdates = [];
     new MutationObserver(() => window.__chartUpdates.push([performance.now(), Number(el.getAttribute('data-points'))]))
       .observe(el, { attributes: true, attributeFilter: ['data-points'] });`,
    [{ 'element-6066-11e4-a52e-4f735466cecf': chart.id }],
  );
  await waitUntil(async () => Number(await chart.attribute('data-points')) > 0, {
    timeoutMs: TRAIN_TIMEOUT_MS,
    what: 'points on the loss chart',
    onTimeout: async () => `error banner: ${await errorBanner(session)}\n${await session.describePage()}`,
  });
  await session.exec('arguments[0].scrollIntoView({ block: "center" })', [{ 'element-6066-11e4-a52e-4f735466cecf': chart.id }]);
  await shot(session, '04-train-running');
  // Let it finish (or time out), then measure the chart's update rate.
  await waitUntil(
    async () => /finished|cancelled|failed/i.test(await (await session.testid('train-status')).text()),
    { timeoutMs: TRAIN_TIMEOUT_MS, what: 'the run to end', onTimeout: () => session.describePage() },
  ).catch((error) => log(`note: ${error.message.split('\n')[0]}`));
  const updates = await session.exec('return window.__chartUpdates || []');
  if (updates.length >= 2) {
    const seconds = (updates[updates.length - 1][0] - updates[0][0]) / 1000;
    measurements.chart_updates = updates.length;
    measurements.chart_points = updates[updates.length - 1][1];
    measurements.chart_updates_per_s = seconds > 0 ? Math.round((updates.length / seconds) * 10) / 10 : null;
  }
  const status = await (await session.testid('train-status')).text();
  if (/failed/i.test(status)) throw new Error(`training failed: ${status}`);
  // The history follows the run live: its row reads finished without a Refresh.
  await waitUntil(
    async () => {
      const rows = await session.find('[data-testid="train-runs"] tbody tr');
      return rows.length > 0 && /finished/i.test(await rows[0].text());
    },
    { what: 'the finished run reading finished in the history', onTimeout: () => session.describePage() },
  );
  await session.exec('arguments[0].scrollIntoView({ block: "center" })', [{ 'element-6066-11e4-a52e-4f735466cecf': chart.id }]);
  await new Promise((r) => setTimeout(r, 500));
  await shot(session, '04-train');
}

async function evaluatePage(session) {
  await go(session, 'evaluate');
  // The model the run just trained is offered at once (the Models page was not visited).
  await choose(session, 'eval-model-select', 'run-');
  await choose(session, 'eval-model-select', 'tiny-flan');
  await typeInto(session, 'eval-data-input', DATA);
  const run = await session.testid('eval-run');
  await waitUntil(() => run.enabled(), { what: 'the Evaluate button to be enabled', onTimeout: () => session.describePage() });
  await run.click();
  const table = await session.testid('eval-table', { timeoutMs: 180000 });
  await waitUntil(async () => /\d/.test(await table.text()), {
    timeoutMs: 180000,
    what: 'ROUGE scores in the evaluation table',
    onTimeout: async () => `error banner: ${await errorBanner(session)}\n${await session.describePage()}`,
  });
  log(`evaluation: ${JSON.stringify((await table.text()).replace(/\s+/g, ' ').slice(0, 200))}`);
  await shot(session, '05-evaluate');
}

async function summarizePage(session) {
  await go(session, 'summarize');
  await choose(session, 'summarize-model-select', 'tiny-flan');
  await typeInto(session, 'summarize-input', CHAT);
  await (await session.testid('summarize-run')).click();
  const output = await session.testid('summarize-output', { timeoutMs: 60000 });
  await waitUntil(async () => (await output.text()).trim().length > 0, {
    timeoutMs: 60000,
    what: 'a non-empty summary',
    onTimeout: async () => `error banner: ${await errorBanner(session)}\n${await session.describePage()}`,
  });
  const run = await session.testid('summarize-run');
  await waitUntil(() => run.enabled(), { timeoutMs: 60000, what: 'the summary to finish streaming' });
  log(`summary: ${JSON.stringify((await output.text()).slice(0, 200))}`);
  await shot(session, '06-summarize');
}

/**
 * Resume after an app restart: starts a long run with frequent checkpoints, closes the app
 * mid-run (the training thread dies with it), and returns the run's id.
 */
async function interruptedRun(session) {
  await go(session, 'train');
  await choose(session, 'train-model-select', 'tiny-flan');
  await typeInto(session, 'train-max-steps', String(RESUME_STEPS));
  await typeInto(session, 'train-batch-size', '2');
  await typeInto(session, 'train-eval-every', '0');
  await typeInto(session, 'train-save-every', '5');
  await (await session.testid('train-start')).click();
  const counter = await session.testid('train-step-counter');
  await waitUntil(async () => Number(await counter.attribute('data-step')) >= 12, {
    timeoutMs: TRAIN_TIMEOUT_MS,
    what: 'the long run to pass step 12 (two checkpoints)',
    onTimeout: async () => `error banner: ${await errorBanner(session)}\n${await session.describePage()}`,
  });
  const step = Number(await counter.attribute('data-step'));
  const title = await (await session.findOne('#progress-heading')).text();
  const runId = title.match(/run-[\w-]+/)?.[0];
  if (!runId) throw new Error(`no run id in "${title}"`);
  log(`closing the app at step ${step} of ${runId}`);
  return { runId, step };
}

/** After the restart: the datasets and the task mix of the last session are back. */
async function restoredSession(session) {
  const saved = JSON.parse(fs.readFileSync(path.join(CONFIG_DIR, 'app-state.json'), 'utf8'));
  if (!saved.ui?.datasets?.some((d) => d.path === DATA)) {
    throw new Error(`app-state.json does not list ${DATA}: ${JSON.stringify(saved).slice(0, 400)}`);
  }
  await go(session, 'datasets');
  await waitUntil(() => datasetTab(session, DATA), {
    what: 'the dataset of the last session listed again',
    onTimeout: () => session.describePage(),
  });
  await go(session, 'mix');
  await waitUntil(async () => (await session.find('[data-testid="mix-task-row"]')).length === 2, {
    what: 'the two tasks of the last session in the mix',
    onTimeout: () => session.describePage(),
  });
  log('the last session came back: its dataset and its two-task mix');
  await shot(session, '07-mix-restored');
}

async function resumedRun(session, { runId, step }) {
  const device = await session.testid('device-label', { timeoutMs: 60000 });
  await waitUntil(async () => (await device.text()).trim().length > 0, { what: 'the device label' });
  await restoredSession(session);
  await go(session, 'train');
  // The page reopens the newest run: interrupted, with Resume in the history.
  const status = await session.testid('train-status');
  await waitUntil(async () => (await status.text()).includes('interrupted'), {
    what: `run ${runId} shown as interrupted after the restart`,
    onTimeout: () => session.describePage(),
  });
  const resume = await waitUntil(
    async () => {
      for (const row of await session.find('[data-testid="train-runs"] tbody tr')) {
        if ((await row.text()).includes(runId)) {
          const buttons = await row.find('[data-testid="train-run-resume"]');
          if (buttons.length) return buttons[0];
        }
      }
      return null;
    },
    { what: `a Resume button for ${runId}`, onTimeout: () => session.describePage() },
  );
  await shot(session, '07-train-interrupted');
  await resume.click();
  const counter = await session.testid('train-step-counter');
  await waitUntil(async () => /finished|failed|cancelled/i.test(await status.text()), {
    timeoutMs: TRAIN_TIMEOUT_MS,
    what: 'the resumed run to end',
    onTimeout: async () => `error banner: ${await errorBanner(session)}\n${await session.describePage()}`,
  });
  const ended = await status.text();
  if (!/finished/i.test(ended)) throw new Error(`the resumed run ended ${ended}: ${await errorBanner(session)}`);
  const done = Number(await counter.attribute('data-step'));
  if (done !== RESUME_STEPS) throw new Error(`the resumed run ended at step ${done}, not ${RESUME_STEPS}`);
  // The log went on from a checkpoint at or before the step the app was closed at.
  const notes = (await session.find('[data-testid="train-note"]')).length;
  log(`resumed ${runId} (closed at step ${step}) and finished at step ${done}; ${notes} note(s)`);
  measurements.resume = { closed_at_step: step, finished_at_step: done };
  await shot(session, '08-train-resumed');
}

// ---------------------------------------------------------------- main

async function main() {
  measurements.binary = APP;
  measurements.binary_size_mb = Math.round((fs.statSync(APP).size / 1048576) * 10) / 10;
  const driver = spawn(TAURI_DRIVER, ['--port', String(PORT), '--native-driver', NATIVE_DRIVER], {
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const base = `http://127.0.0.1:${PORT}`;
  let session = null;
  let failure = null;
  try {
    await waitForServer(`${base}/status`);
    const launchedAt = Date.now();
    session = await Session.create(base, {
      alwaysMatch: { 'tauri:options': { application: APP } },
    });
    await scenario(session, launchedAt);
    // Close the app mid-run, start it again, resume the run and let it finish.
    const interrupted = await interruptedRun(session);
    await session.delete();
    session = null;
    await waitUntil(async () => appPid() === null, { timeoutMs: 15000, what: 'the app to exit' }).catch(() => {
      // Still there (the window closed, the process lingers): end it as a crash would.
      const pid = appPid();
      log(`the app (pid ${pid}) outlived its window: killing it`);
      if (pid) process.kill(pid, 'SIGKILL');
    });
    await waitUntil(async () => appPid() === null, { timeoutMs: 15000, what: 'the app to exit' });
    session = await Session.create(base, {
      alwaysMatch: { 'tauri:options': { application: APP } },
    });
    await resumedRun(session, interrupted);
  } catch (error) {
    failure = error;
    if (session) {
      try {
        fs.writeFileSync(path.join(ARTIFACTS, 'failure.png'), await session.screenshot());
        log(`failure screenshot: ${path.join(ARTIFACTS, 'failure.png')}`);
      } catch {
        // No window left to capture.
      }
    }
  } finally {
    if (session) await session.delete();
    driver.kill('SIGTERM');
  }
  fs.writeFileSync(path.join(ARTIFACTS, 'measurements.json'), JSON.stringify(measurements, null, 2));
  log('measurements', JSON.stringify(measurements, null, 2));
  if (failure) {
    console.error(`[e2e] FAILED: ${failure.stack ?? failure}`);
    process.exit(1);
  }
  log('PASSED');
}

await main();
