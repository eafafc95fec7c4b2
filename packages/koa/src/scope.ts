import type { ScopeOption } from '@oncely/core';
import type { ParameterizedContext } from 'koa';

/**
 * Whose key it is: a constant (e.g. one webhook endpoint), or a function of the context (e.g. the
 * authenticated tenant from `ctx.state`). Required: there is no
 * global default, so tenant A's key never replays tenant B's response. Checked and resolved by
 * core (`scopeOption`, `resolveScope`).
 */
export type Scope = ScopeOption<ParameterizedContext>;
