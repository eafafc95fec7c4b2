export { postgresStore, DEFAULT_OPERATION_TIMEOUT_MS, DEFAULT_MAX_RECORD_BYTES } from './postgres-store';
export type { PostgresStore, PostgresStoreOptions } from './postgres-store';
export { migrate, migrationSql, MIGRATIONS } from './schema';
export type { MigrationName, TableOptions } from './schema';
export { schedulePurge } from './purge';
export type { PurgeOptions, Purgeable, SchedulePurgeOptions, StopPurge } from './purge';
export { DEFAULT_TABLE } from './identifiers';
export type { Queryable } from './connection';
