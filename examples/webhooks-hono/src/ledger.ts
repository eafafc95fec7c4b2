/** What the fulfilment consumer did for one webhook event: the side effect this example counts. */
export interface LedgerEntry {
  readonly seq: number;
  readonly eventId: string;
  readonly provider: string;
  readonly type: string;
  readonly reference: string;
  readonly emailId: string;
  readonly at: string;
}

/**
 * The fulfilment ledger: every `record()` call appends an entry, with no deduplication of its own —
 * so its count is an honest measure of how many times the work really happened. Two entries for
 * one event would be a double fulfilment.
 */
export interface Ledger {
  record(entry: Omit<LedgerEntry, 'seq' | 'at'>): Promise<LedgerEntry>;
  entries(): readonly LedgerEntry[];
  /** Entries of one event (exactly-once means at most one). */
  countFor(eventId: string): number;
}

export interface LedgerOptions {
  /** Make the first N `record()` calls fail (a database blip), to show a consumer failing and succeeding on redelivery. */
  readonly failures?: number;
}

export function memoryLedger(options: LedgerOptions = {}): Ledger & { failNext(count?: number): void } {
  const entries: LedgerEntry[] = [];
  let failures = options.failures ?? 0;
  return {
    async record(entry) {
      await new Promise((resolve) => setTimeout(resolve, 1 + Math.random() * 4)); // a write takes a moment: deliveries overlap
      if (failures > 0) {
        failures--;
        throw new Error('ledger unavailable (simulated)');
      }
      const stored: LedgerEntry = { ...entry, seq: entries.length + 1, at: new Date().toISOString() };
      entries.push(stored);
      return stored;
    },
    entries: () => entries,
    countFor: (eventId) => entries.filter((entry) => entry.eventId === eventId).length,
    failNext(count = 1) {
      failures += count;
    },
  };
}
