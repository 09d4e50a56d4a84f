import type { HookDefinition } from '../registry';
import { httpHook } from './http';
import { httpServerHook } from './httpServer';
import { pgHook } from './pg';
import { redisHook } from './redis';
import { ioredisHook } from './ioredis';

/** Every hook this package knows, in install order. */
export const HOOKS: readonly HookDefinition[] = [httpHook, httpServerHook, pgHook, redisHook, ioredisHook];
