export { redisStore, DEFAULT_OPERATION_TIMEOUT_MS, DEFAULT_MAX_RECORD_BYTES, REDIS_MAX_VALUE_BYTES } from './redis-store';
export type { RedisStore, RedisStoreOptions } from './redis-store';
export { RedisTimeoutError } from './bounded';
export { encodeRecord, decodeRecord, FORMAT_VERSION } from './codec';
export { SCRIPTS } from './scripts';
export type { LuaScript } from './scripts';
