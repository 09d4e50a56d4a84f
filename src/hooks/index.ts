import type { HookDefinition } from '../registry';
import { httpHook } from './http';
import { httpServerHook } from './httpServer';

/** Every hook this package knows, in install order. */
export const HOOKS: readonly HookDefinition[] = [httpHook, httpServerHook];
