import type { Redis } from 'ioredis';

/** One `cmdstat_<name>` line of `INFO commandstats`. */
export interface CommandStat {
  readonly calls: number;
  readonly failed: number;
  readonly rejected: number;
}

/** Commands the test's admin connection sends (reset, read, SCRIPT FLUSH): never counted. */
const ADMIN = new Set(['info', 'config', 'script']);

/**
 * The server's command counters since the last `CONFIG RESETSTAT`, without the admin commands:
 * e.g. `{ evalsha: { calls: 2, failed: 0, rejected: 0 } }`.
 */
export async function commandStats(admin: Redis): Promise<Record<string, CommandStat>> {
  const info = await admin.info('commandstats');
  const stats: Record<string, CommandStat> = {};
  for (const line of info.split('\r\n')) {
    const match = /^cmdstat_([^:]+):(.*)$/.exec(line);
    if (!match) continue;
    const [, name, fields] = match as unknown as [string, string, string];
    if (ADMIN.has(name.split('|')[0] as string)) continue;
    const values = Object.fromEntries(fields.split(',').map((pair) => pair.split('=') as [string, string]));
    stats[name] = { calls: Number(values['calls'] ?? 0), failed: Number(values['failed_calls'] ?? 0), rejected: Number(values['rejected_calls'] ?? 0) };
  }
  return stats;
}

/** `{ evalsha: 2 }`: calls per command, for compact assertions and reports. */
export function calls(stats: Record<string, CommandStat>): Record<string, number> {
  return Object.fromEntries(Object.entries(stats).map(([name, stat]) => [name, stat.calls]));
}

export async function resetStats(admin: Redis): Promise<void> {
  await admin.config('RESETSTAT');
}
