import { createHash } from 'node:crypto';
import { TOKEN_OFFSET } from './codec';

/** A Lua script, run by SHA1 (`EVALSHA`), its source sent only when the server lacks it. */
export interface LuaScript {
  readonly name: 'create' | 'update' | 'delete';
  readonly source: string;
  readonly sha: string;
}

function script(name: LuaScript['name'], source: string): LuaScript {
  return { name, source, sha: createHash('sha1').update(source).digest('hex') };
}

// Every script touches exactly KEYS[1] (Redis Cluster: one slot per call, never a cross-slot error).
// Offsets below are those of the record format in codec.ts: expiresAt is the float64 at byte 1,
// the token field (u16 length + bytes) starts at byte TOKEN_OFFSET.
const tokenEnd = (argv: string): string => `${TOKEN_OFFSET - 1} + #${argv}`;

/**
 * create — KEYS[1] record key; ARGV[1] encoded record; ARGV[2] `now` (ms); ARGV[3] native expiry
 * (integer epoch ms, PXAT). Returns the live record's bytes if there is one (`expiresAt > now`,
 * judged by the caller's `now`, never the server's clock), else writes the record and returns 1.
 */
export const CREATE = script(
  'create',
  `local current = redis.call('GET', KEYS[1])
if current and struct.unpack('>d', current, 2) > tonumber(ARGV[2]) then return current end
redis.call('SET', KEYS[1], ARGV[1], 'PXAT', ARGV[3])
return 1`,
);

/**
 * update — KEYS[1]; ARGV[1] expected token field; ARGV[2] encoded next record; ARGV[3] native
 * expiry; ARGV[4] the next record's token field. Replaces the value iff its token is the expected
 * one (expired-but-present records included) and returns 1; else 0 — except when this very update
 * already landed: ioredis resends a command that was in flight when its connection dropped. The
 * encoded value carries the token it replaces, so stored bytes equal to ARGV[2] can only have been
 * written by an update from the same expected token to the same next record (with a token change,
 * so the first branch no longer matches): that is this command's first send, and it answers 1 again.
 */
export const UPDATE = script(
  'update',
  `if redis.call('GETRANGE', KEYS[1], ${TOKEN_OFFSET}, ${tokenEnd('ARGV[1]')}) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PXAT', ARGV[3])
  return 1
end
if ARGV[4] ~= ARGV[1] and redis.call('GETRANGE', KEYS[1], ${TOKEN_OFFSET}, ${tokenEnd('ARGV[4]')}) == ARGV[4]
  and redis.call('GET', KEYS[1]) == ARGV[2] then return 1 end
return 0`,
);

/** delete — KEYS[1]; ARGV[1] expected token field. Deletes iff the token matches; returns 1 or 0. */
export const DELETE = script(
  'delete',
  `if redis.call('GETRANGE', KEYS[1], ${TOKEN_OFFSET}, ${tokenEnd('ARGV[1]')}) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0`,
);

/** The scripts, for operators who want to `SCRIPT LOAD` them ahead of time. */
export const SCRIPTS: readonly LuaScript[] = [CREATE, UPDATE, DELETE];

type Arg = string | Buffer | number;

/**
 * What the store needs of an ioredis `Redis` or `Cluster`. The `...Buffer` variants return replies as
 * Buffers (no UTF-8 decoding). `evalshaBuffer`/`evalBuffer` exist at runtime on every ioredis 5/6
 * client but are not in its typings; `callBuffer` is avoided on purpose: under
 * `enableAutoPipelining` ioredis 5 drops its command name.
 */
export interface BufferCommands {
  evalshaBuffer(sha: string, numkeys: number, ...args: Arg[]): Promise<unknown>;
  evalBuffer(source: string, numkeys: number, ...args: Arg[]): Promise<unknown>;
  getBuffer(key: Buffer): Promise<Buffer | null>;
}

function isNoScript(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith('NOSCRIPT');
}

/**
 * Run `script` on the node owning `key`: `EVALSHA`, and on `NOSCRIPT` (a restarted or flushed
 * server, a failover, a new cluster node) `EVAL`, which also caches the script for next time.
 */
export async function runScript(client: BufferCommands, script: LuaScript, key: Buffer, args: Arg[]): Promise<unknown> {
  try {
    return await client.evalshaBuffer(script.sha, 1, key, ...args);
  } catch (error) {
    if (!isNoScript(error)) throw error;
    return client.evalBuffer(script.source, 1, key, ...args);
  }
}
