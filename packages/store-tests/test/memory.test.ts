import { memoryStore } from '@oncely/core';
import { runStoreConformance } from '@oncely/store-tests';

runStoreConformance({ name: 'memoryStore', createStore: () => memoryStore(), listInProgress: true, purgeExpired: true });
