/** The ioredis hook's options (declared in ../hooks/ioredis, read by ../tracing/ioredis): the Redis core's. */
export type { RedisOptions, RedisCommandInfo } from '../cores/redis';
