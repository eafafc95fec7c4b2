/**
 * `ONCELY_RELIABILITY_SCALE` multiplies the load of every scenario (default 1, the CI load, which
 * already meets the "thousands of keys, many concurrent clients"). Use 2, 5, … for heavier
 * local runs; fractions are refused so that CI figures are never quietly smaller than documented.
 */
export function reliabilityScale(): number {
  const raw = process.env['ONCELY_RELIABILITY_SCALE']?.trim();
  if (raw === undefined || raw === '') return 1;
  const scale = Number(raw);
  if (!Number.isFinite(scale) || scale < 1) throw new TypeError(`ONCELY_RELIABILITY_SCALE must be a number >= 1, got ${JSON.stringify(raw)}.`);
  return scale;
}

/** `base` keys (or clients, rounds, …) times the scale, rounded. */
export function scaled(base: number): number {
  return Math.round(base * reliabilityScale());
}
