import type { HookDefinition } from '../registry';
import { httpHook } from './http';
import { httpServerHook } from './httpServer';
import { pgHook } from './pg';
import { redisHook } from './redis';
import { ioredisHook } from './ioredis';
import { fetchHook } from './fetch';
import { axiosHook } from './axios';

/** Every hook this package knows, in install order. */
export const HOOKS: readonly HookDefinition[] = [httpHook, httpServerHook, fetchHook, axiosHook, pgHook, redisHook, ioredisHook];
