import type { HeaderEntry, IdempotencyRecord, Store } from '@oncely/core';
import * as fc from 'fast-check';
import { expect } from 'vitest';
import { conformanceId, expectRecord, freshToken } from './fixtures';
import type { StoreCheck, StoreCheckContext } from './options';

/** Most operations in one run of the model-based check. */
const MAX_COMMANDS = 30;
/** Record ids per run: few, so operations collide often. */
const IDS_PER_RUN = 3;

type TokenChoice = 'current' | 'stale' | 'random';

/** What a generated record looks like; its id, token and times are filled in when it runs. */
interface RecordShape {
  readonly state: 'in_progress' | 'completed';
  readonly key: string;
  readonly scope: string;
  readonly fingerprint: string;
  readonly leaseMs: number;
  readonly payload:
    | { readonly kind: 'response'; readonly status: number; readonly headers: readonly HeaderEntry[]; readonly body: Uint8Array | null }
    | { readonly kind: 'result'; readonly result: Uint8Array };
}

/**
 * The reference: a `Map` with the contract's semantics, and the virtual clock. `now` starts at the
 * real time and only moves forward; it is never placed within `2 * expiryGranularityMs` after, or
 * a second before, any record's `expiresAt`, so the store's precision and a backend's native TTL
 * (which follows the real clock) can never make an answer ambiguous.
 */
class StoreModel {
  readonly ids: readonly string[] = Array.from({ length: IDS_PER_RUN }, () => conformanceId());
  /** Records the store may still hold, expired ones included (until the store says it swept them). */
  readonly records = new Map<string, IdempotencyRecord>();
  /** Every token each id has had, for stale-owner commands. */
  readonly tokens = new Map<string, string[]>();
  readonly ttlMs: number;
  private now = Date.now();
  private readonly granularityMs: number;

  constructor(ctx: StoreCheckContext) {
    this.granularityMs = ctx.expiryGranularityMs;
    this.ttlMs = modelTtlMs(ctx);
  }

  /** The `now` for the next store call: real time at least, and clear of every expiry boundary. */
  settle(): number {
    let now = Math.max(this.now, Date.now());
    const guardBefore = Math.max(2 * this.granularityMs, 1000);
    const guardAfter = 2 * this.granularityMs;
    for (;;) {
      const near = [...this.records.values()].find((record) => now > record.expiresAt - guardBefore && now < record.expiresAt + guardAfter);
      if (!near) break;
      now = near.expiresAt + guardAfter;
    }
    this.now = now;
    return now;
  }

  advance(ms: number): void {
    this.now += ms;
  }

  live(id: string, now: number): IdempotencyRecord | undefined {
    const record = this.records.get(id);
    return record && record.expiresAt > now ? record : undefined;
  }

  put(record: IdempotencyRecord): void {
    this.records.set(record.id, record);
    const history = this.tokens.get(record.id) ?? [];
    if (!history.includes(record.token)) history.push(record.token);
    this.tokens.set(record.id, history);
  }

  token(id: string, choice: TokenChoice): string {
    const current = this.records.get(id)?.token;
    if (choice === 'current' && current !== undefined) return current;
    const stale = (this.tokens.get(id) ?? []).filter((token) => token !== current);
    if (choice === 'stale' && stale.length > 0) return stale[stale.length - 1] as string;
    return freshToken();
  }

  build(id: string, shape: RecordShape, token: string, now: number, expiresAt: number, createdAt: number): IdempotencyRecord {
    const base = { id, key: shape.key, scope: shape.scope, token, fingerprint: shape.fingerprint, expiresAt, createdAt };
    if (shape.state === 'in_progress') return { ...base, state: 'in_progress', leaseUntil: now + shape.leaseMs };
    const { payload } = shape;
    return payload.kind === 'response'
      ? {
          ...base,
          state: 'completed',
          completedAt: now,
          response: { status: payload.status, headers: payload.headers.map(([name, value]) => [name, value] as const), body: payload.body?.slice() ?? null },
        }
      : { ...base, state: 'completed', completedAt: now, result: payload.result.slice() };
  }
}

type ModelCommand = fc.AsyncCommand<StoreModel, Store, false>;

class CreateCommand implements ModelCommand {
  constructor(
    private readonly idIndex: number,
    private readonly shape: RecordShape,
  ) {}
  check(): boolean {
    return true;
  }
  async run(model: StoreModel, store: Store): Promise<void> {
    const id = model.ids[this.idIndex] as string;
    const now = model.settle();
    const record = model.build(id, this.shape, freshToken(), now, now + model.ttlMs, now);
    const result = await store.create(record, now);
    const live = model.live(id, now);
    if (live) {
      if (result.created) throw new Error(`${this.toString()}: create replaced the live record ${id} (expiresAt ${live.expiresAt} > now ${now}).`);
      expectRecord(result.existing, live, `${this.toString()}: existing record`);
    } else {
      expect(result, `${this.toString()}: create over an absent or expired record`).toEqual({ created: true });
      model.put(record);
    }
  }
  toString(): string {
    return `create(id${this.idIndex}, ${this.shape.state})`;
  }
}

class UpdateCommand implements ModelCommand {
  constructor(
    private readonly idIndex: number,
    private readonly tokenChoice: TokenChoice,
    private readonly takeover: boolean,
    private readonly extendRetention: boolean,
    private readonly shape: RecordShape,
  ) {}
  check(): boolean {
    return true;
  }
  async run(model: StoreModel, store: Store): Promise<void> {
    const id = model.ids[this.idIndex] as string;
    const now = model.settle();
    const current = model.records.get(id);
    const expectedToken = model.token(id, this.tokenChoice);
    const nextToken = this.takeover ? freshToken() : expectedToken;
    const expiresAt = this.extendRetention || !current ? now + model.ttlMs : current.expiresAt;
    const next = model.build(id, this.shape, nextToken, now, expiresAt, current?.createdAt ?? now);
    const updated = await store.update(id, expectedToken, next);
    const owner = current !== undefined && current.token === expectedToken;
    if (!owner) expect(updated, `${this.toString()}: update with a token that is not the record's`).toBe(false);
    else if (current.expiresAt > now) expect(updated, `${this.toString()}: update of a live record with its token`).toBe(true);
    if (updated) model.put(next);
    else if (owner) model.records.delete(id); // an expired record the store has swept
  }
  toString(): string {
    return `update(id${this.idIndex}, ${this.tokenChoice} token${this.takeover ? ', takeover' : ''}${this.extendRetention ? ', extend' : ''} → ${this.shape.state})`;
  }
}

class DeleteCommand implements ModelCommand {
  constructor(
    private readonly idIndex: number,
    private readonly tokenChoice: TokenChoice,
  ) {}
  check(): boolean {
    return true;
  }
  async run(model: StoreModel, store: Store): Promise<void> {
    const id = model.ids[this.idIndex] as string;
    const now = model.settle();
    const current = model.records.get(id);
    const expectedToken = model.token(id, this.tokenChoice);
    const deleted = await store.delete(id, expectedToken);
    const owner = current !== undefined && current.token === expectedToken;
    if (!owner) expect(deleted, `${this.toString()}: delete with a token that is not the record's`).toBe(false);
    else if (current.expiresAt > now) expect(deleted, `${this.toString()}: delete of a live record with its token`).toBe(true);
    if (owner) model.records.delete(id);
  }
  toString(): string {
    return `delete(id${this.idIndex}, ${this.tokenChoice} token)`;
  }
}

class GetCommand implements ModelCommand {
  constructor(private readonly idIndex: number) {}
  check(): boolean {
    return true;
  }
  async run(model: StoreModel, store: Store): Promise<void> {
    const id = model.ids[this.idIndex] as string;
    const now = model.settle();
    const stored = await store.get(id, now);
    const live = model.live(id, now);
    if (live) expectRecord(stored, live, `${this.toString()} at now ${now}`);
    else expect(stored, `${this.toString()}: get of an absent or expired record at now ${now}`).toBeNull();
  }
  toString(): string {
    return `get(id${this.idIndex})`;
  }
}

class AdvanceTimeCommand implements ModelCommand {
  constructor(private readonly ms: number) {}
  check(): boolean {
    return true;
  }
  async run(model: StoreModel): Promise<void> {
    model.advance(this.ms);
  }
  toString(): string {
    return `advanceTime(${this.ms} ms)`;
  }
}

function modelTtlMs(ctx: Pick<StoreCheckContext, 'expiryGranularityMs'>): number {
  return Math.max(10_000, 20 * ctx.expiryGranularityMs);
}

function commandArbitraries(ctx: StoreCheckContext): fc.Arbitrary<ModelCommand>[] {
  const ttl = modelTtlMs(ctx);
  const idIndex = fc.integer({ min: 0, max: IDS_PER_RUN - 1 });
  const text = fc.oneof(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 12 }), fc.constantFrom('k', 'tenant_1'));
  const headers = fc.array(
    fc.tuple(fc.constantFrom('content-type', 'link', 'etag', 'location', 'x-custom'), fc.string({ maxLength: 12 })).map(
      ([name, value]): HeaderEntry => [name, value],
    ),
    { maxLength: 4 },
  );
  const payload = fc.oneof(
    fc.record({
      kind: fc.constant('response' as const),
      status: fc.integer({ min: 100, max: 599 }),
      headers,
      body: fc.option(fc.uint8Array({ maxLength: 64 }), { nil: null, freq: 3 }),
    }),
    fc.record({ kind: fc.constant('result' as const), result: fc.uint8Array({ maxLength: 64 }) }),
  );
  const shape: fc.Arbitrary<RecordShape> = fc.record({
    state: fc.constantFrom('in_progress' as const, 'completed' as const),
    key: text,
    scope: text,
    fingerprint: fc.constantFrom('', 'v1:aa', 'v1:bb'),
    leaseMs: fc.integer({ min: 1, max: ttl }),
    payload,
  });
  const tokenChoice: fc.Arbitrary<TokenChoice> = fc.oneof(
    { arbitrary: fc.constant<TokenChoice>('current'), weight: 4 },
    { arbitrary: fc.constant<TokenChoice>('stale'), weight: 2 },
    { arbitrary: fc.constant<TokenChoice>('random'), weight: 1 },
  );
  const create = fc.tuple(idIndex, shape).map(([id, s]) => new CreateCommand(id, s));
  const update = fc
    .tuple(idIndex, tokenChoice, fc.boolean(), fc.boolean(), shape)
    .map(([id, t, takeover, extend, s]) => new UpdateCommand(id, t, takeover, extend, s));
  // fc.commands picks each entry equally often: create and update are listed twice to keep records around.
  return [
    create,
    create,
    update,
    update,
    fc.tuple(idIndex, tokenChoice).map(([id, t]) => new DeleteCommand(id, t)),
    idIndex.map((id) => new GetCommand(id)),
    fc.oneof(fc.integer({ min: 0, max: 2 * ttl }), fc.constant(ttl)).map((ms) => new AdvanceTimeCommand(ms)),
  ];
}

/**
 * Model-based check (fast-check `fc.commands`): random sequences of create, update and delete
 * (with the current, a stale or a random token; in progress or completed; with takeovers), get and
 * the passage of time, over a few ids, each answer compared with a reference model of the
 * contract. Fresh ids each run; virtual time starts at the real time and only moves forward.
 * Failures print the shrunk sequence and the seed.
 */
export const modelCheck: StoreCheck = {
  name: 'random operation sequences agree with the reference model (fast-check commands)',
  async run(ctx) {
    const commands = fc.commands(commandArbitraries(ctx), { maxCommands: MAX_COMMANDS, size: 'medium' });
    await fc.assert(
      fc.asyncProperty(commands, async (sequence) => {
        await fc.asyncModelRun(() => ({ model: new StoreModel(ctx), real: ctx.store }), sequence);
      }),
      { numRuns: ctx.modelRuns },
    );
  },
};
