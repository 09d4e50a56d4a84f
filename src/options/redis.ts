/** The redis hook's options (declared in ../hooks/redis, read by ../tracing/redis): the Redis core's. */
export type { RedisOptions, RedisCommandInfo } from '../cores/redis';
