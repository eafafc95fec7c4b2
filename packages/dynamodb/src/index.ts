export { dynamoStore, CREATE_CONDITION, TOKEN_CONDITION, DEFAULT_TIMEOUT_MS } from './dynamo-store';
export type { DynamoStore, DynamoStoreOptions } from './dynamo-store';
export { createTable } from './create-table';
export type { CreateTableOptions, CreateTableResult } from './create-table';
export { DYNAMODB_PARTITION_KEY, DYNAMODB_TTL_ATTRIBUTE } from './item';
export { DYNAMODB_MAX_ITEM_BYTES, dynamoItemSize } from './item-size';
export { DEFAULT_LIST_SCAN_MAX_PAGES, LIST_IN_PROGRESS_FILTER, PURGE_CONDITION } from './admin';
