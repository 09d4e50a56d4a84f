import type { FrameworkDriver } from '../harness';
import { expressDrivers } from './express';
import { fastifyDrivers } from './fastify';
import { hapiDriver } from './hapi';
import { koaDrivers } from './koa';

/** Every framework driver: one per framework and major version (koa: and router). */
export const FRAMEWORKS: FrameworkDriver[] = [...expressDrivers, ...koaDrivers, ...fastifyDrivers, hapiDriver];
