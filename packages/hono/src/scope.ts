import type { ScopeOption } from '@oncely/core';
import type { Context } from 'hono';

/**
 * Whose key it is: a constant (e.g. one webhook endpoint), or a function of the context (e.g. the
 * authenticated tenant, `(c) => c.get('tenantId')`). Required: there is no
 * global default, so tenant A's key never replays tenant B's response. Checked and resolved by
 * core (`scopeOption`, `resolveScope`).
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Scope = ScopeOption<Context<any>>;
