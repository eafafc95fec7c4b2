export { mongoStore, MONGODB_MAX_DOCUMENT_BYTES, MONGODB_TTL_INDEX } from './mongo-store';
export type { MongoStore, MongoStoreOptions } from './mongo-store';
export type { MongoRecordDocument } from './document';
export { MONGODB_IN_PROGRESS_INDEX } from './admin';
