// A small W3C WebDriver client over fetch (Node >= 18): just what the Mixtune E2E test needs,
// with explicit waits that fail with a message naming what was awaited.

const ELEMENT = 'element-6066-11e4-a52e-4f735466cecf';

export class WebDriverError extends Error {}

export class Session {
  constructor(base, id) {
    this.base = base;
    this.id = id;
  }

  static async create(base, capabilities, timeoutMs = 60000) {
    const value = await request(base, 'POST', '/session', { capabilities }, timeoutMs);
    return new Session(base, value.sessionId);
  }

  cmd(method, path, body) {
    return request(this.base, method, `/session/${this.id}${path}`, body);
  }

  async delete() {
    try {
      await request(this.base, 'DELETE', `/session/${this.id}`, undefined, 15000);
    } catch {
      // The app may already be gone.
    }
  }

  async find(css) {
    const found = await this.cmd('POST', '/elements', { using: 'css selector', value: css });
    return found.map((e) => new Element(this, e[ELEMENT]));
  }

  async findOne(css) {
    const [first] = await this.find(css);
    return first ?? null;
  }

  /** Waits until `css` matches a displayed element; returns it. */
  async waitFor(css, { timeoutMs = 15000, what = css, visible = true } = {}) {
    return waitUntil(
      async () => {
        for (const element of await this.find(css)) {
          if (!visible || (await element.displayed())) return element;
        }
        return null;
      },
      { timeoutMs, what: `${what} to appear`, onTimeout: () => this.describePage() },
    );
  }

  async testid(id, options = {}) {
    return this.waitFor(`[data-testid="${id}"]`, { what: `data-testid="${id}"`, ...options });
  }

  /** Resizes the window (its outer size). */
  async setWindowSize(width, height) {
    return this.cmd('POST', '/window/rect', { width, height });
  }

  async exec(script, args = []) {
    return this.cmd('POST', '/execute/sync', { script, args });
  }

  async execAsync(script, args = []) {
    return this.cmd('POST', '/execute/async', { script, args });
  }

  /**
   * A PNG of the window. WebKitWebDriver snapshots after the next presentation update, and
   * with compositing off (needed under Xvfb) an idle page never presents again, so the
   * request hangs: a 1-px element that changes colour every 50 ms keeps frames coming.
   */
  async screenshot() {
    await this.exec(`if (!window.__e2eNudge) {
      const d = document.createElement('div');
      d.setAttribute('aria-hidden', 'true');
      d.style.cssText = 'position:fixed;right:0;bottom:0;width:1px;height:1px;pointer-events:none;z-index:2147483647';
      document.body.appendChild(d);
      let i = 0;
      window.__e2eNudge = setInterval(() => { d.style.background = i++ % 2 ? 'rgba(0,0,0,0.01)' : 'rgba(0,0,0,0.02)'; }, 50);
    }`);
    return Buffer.from(await request(this.base, 'GET', `/session/${this.id}/screenshot`, undefined, 30000), 'base64');
  }

  /** The visible text of the page (for failure messages). */
  async describePage() {
    try {
      const text = await this.exec('return document.body ? document.body.innerText : "(no body)"');
      return `page text: ${String(text).slice(0, 1500)}`;
    } catch (error) {
      return `(page text unavailable: ${error.message})`;
    }
  }
}

export class Element {
  constructor(session, id) {
    this.session = session;
    this.id = id;
  }
  cmd(method, path, body) {
    return this.session.cmd(method, `/element/${this.id}${path}`, body);
  }
  click() {
    return this.cmd('POST', '/click', {});
  }
  clear() {
    return this.cmd('POST', '/clear', {});
  }
  type(text) {
    return this.cmd('POST', '/value', { text });
  }
  text() {
    return this.cmd('GET', '/text');
  }
  attribute(name) {
    return this.cmd('GET', `/attribute/${encodeURIComponent(name)}`);
  }
  property(name) {
    return this.cmd('GET', `/property/${encodeURIComponent(name)}`);
  }
  displayed() {
    return this.cmd('GET', '/displayed').catch(() => false);
  }
  enabled() {
    return this.cmd('GET', '/enabled').catch(() => false);
  }
  async find(css) {
    const found = await this.cmd('POST', '/elements', { using: 'css selector', value: css });
    return found.map((e) => new Element(this.session, e[ELEMENT]));
  }
}

async function request(base, method, path, body, timeoutMs = 60000) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  let response;
  try {
    response = await fetch(base + path, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: controller.signal,
    });
  } catch (error) {
    throw new WebDriverError(`${method} ${path}: ${error.name === 'AbortError' ? `no answer in ${timeoutMs} ms` : error.message}`);
  } finally {
    clearTimeout(timer);
  }
  const text = await response.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    throw new WebDriverError(`${method} ${path}: HTTP ${response.status}: ${text.slice(0, 500)}`);
  }
  if (!response.ok || (json.value && json.value.error)) {
    const v = json.value ?? {};
    throw new WebDriverError(`${method} ${path}: ${v.error ?? response.status}: ${v.message ?? text.slice(0, 500)}`);
  }
  return json.value;
}

/** Polls `probe` until it returns a truthy value; throws naming `what` after `timeoutMs`. */
export async function waitUntil(probe, { timeoutMs = 15000, intervalMs = 150, what = 'condition', onTimeout } = {}) {
  const deadline = Date.now() + timeoutMs;
  let lastError;
  for (;;) {
    try {
      const value = await probe();
      if (value) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      const extra = onTimeout ? `\n${await onTimeout()}` : '';
      const cause = lastError ? `\nlast error: ${lastError.message}` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${cause}${extra}`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** Waits until `url` answers (any HTTP status). */
export async function waitForServer(url, timeoutMs = 20000) {
  await waitUntil(
    async () => {
      try {
        await fetch(url);
        return true;
      } catch {
        return false;
      }
    },
    { timeoutMs, intervalMs: 100, what: `${url} to listen` },
  );
}
