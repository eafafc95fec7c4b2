import type { ScopeOption } from '@oncely/core';
import type { Request } from 'express';

/**
 * Whose key it is: a constant (e.g. one webhook endpoint), or a function of the request (e.g. the
 * authenticated tenant). Required: there is no
 * global default, so tenant A's key never replays tenant B's response. Checked and resolved by
 * core (`scopeOption`, `resolveScope`).
 */
export type Scope = ScopeOption<Request>;
