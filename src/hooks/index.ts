import type { HookDefinition } from '../registry';
import { httpHook } from './http';
import { httpServerHook } from './httpServer';
import { pgHook } from './pg';

/** Every hook this package knows, in install order. */
export const HOOKS: readonly HookDefinition[] = [httpHook, httpServerHook, pgHook];
