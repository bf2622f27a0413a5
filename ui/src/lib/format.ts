/** Small display helpers shared by pages. */

/** `1.2 GB`, `340 MB`, `12 KB`. */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return '—';
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(value >= 100 ? 0 : 1)} ${units[unit]}`;
}

/** `77M`, `248M`, `1.2B` parameters. */
export function formatCount(n: number): string {
  if (!Number.isFinite(n)) return '—';
  if (n >= 1e9) return `${(n / 1e9).toFixed(1)}B`;
  if (n >= 1e6) return `${Math.round(n / 1e6)}M`;
  if (n >= 1e3) return `${Math.round(n / 1e3)}K`;
  return String(n);
}

/** A ROUGE F-measure as everywhere in the app: percent, two decimals (`0.4123` → `41.23`). */
export function formatRouge(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '—';
  return (value * 100).toFixed(2);
}

/** `+1.23` / `−4.56`: a ROUGE change in points (as `formatRouge`), with its sign. */
export function formatDelta(delta: number): string {
  if (!Number.isFinite(delta)) return '—';
  const text = (Math.abs(delta) * 100).toFixed(2);
  return delta < 0 ? `−${text}` : `+${text}`;
}

/** Progress as a 0..1 fraction (0 when the total is unknown). */
export function fraction(done: number, total: number): number {
  return total > 0 ? Math.min(1, Math.max(0, done / total)) : 0;
}

/** A short id for cancellable tasks. */
export function newTaskId(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}
