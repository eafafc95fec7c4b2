import { usageError } from './errors';

const UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * A duration option in ms: `30s`, `5m`, `2h`, `1d`, `250ms`, or plain milliseconds (`1500`).
 * Anything else is a usage error naming the option.
 */
export function parseDuration(option: string, text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(text.trim());
  const unit = UNITS[match?.[2] ?? 'ms'];
  const ms = match && unit !== undefined ? Math.round(Number(match[1]) * unit) : Number.NaN;
  if (!Number.isSafeInteger(ms)) {
    throw usageError(`--${option} must be a duration such as 30s, 5m, 2h, 1d or plain milliseconds; got ${JSON.stringify(text)}.`);
  }
  return ms;
}

/** A whole-number option within `[min, max]`, or a usage error naming the option. */
export function parseInteger(option: string, text: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const value = /^\d+$/.test(text.trim()) ? Number(text.trim()) : Number.NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `a whole number >= ${min}` : `a whole number from ${min} to ${max}`;
    throw usageError(`--${option} must be ${range}; got ${JSON.stringify(text)}.`);
  }
  return value;
}

/** `ms` for people: `850ms`, `42s`, `5m 3s`, `2h 10m`, `3d 4h`. */
export function formatDuration(ms: number): string {
  const abs = Math.abs(Math.round(ms));
  if (abs < 1_000) return `${abs}ms`;
  const seconds = Math.floor(abs / 1_000);
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return seconds % 60 === 0 ? `${minutes}m` : `${minutes}m ${seconds % 60}s`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return minutes % 60 === 0 ? `${hours}h` : `${hours}h ${minutes % 60}m`;
  const days = Math.floor(hours / 24);
  return hours % 24 === 0 ? `${days}d` : `${days}d ${hours % 24}h`;
}
