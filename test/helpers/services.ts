/**
 * Connection settings for the real PostgreSQL, Redis, Redis Sentinel, Redis Cluster, MariaDB, RabbitMQ, Kafka-protocol broker and NATS
 * that `npm test` starts (scripts/with-services.js), or that PGHOST/DATABASE_URL, REDIS_URL, REDIS_SENTINEL, REDIS_CLUSTER_NODES,
 * MYSQL_URL, AMQP_URL, KAFKA_BROKERS and NATS_URL point to. A missing server fails the test with the reason.
 */
export function pgConfig(): { host: string; port: number; user: string; database: string; connectionString?: string } {
  const unavailable = process.env.OTCH_POSTGRES_UNAVAILABLE;
  if (unavailable) throw new Error(`PostgreSQL could not be started by scripts/services.js: ${unavailable}`);
  if (process.env.DATABASE_URL) {
    const u = new URL(process.env.DATABASE_URL);
    return { host: u.hostname, port: Number(u.port || 5432), user: decodeURIComponent(u.username), database: u.pathname.slice(1), connectionString: process.env.DATABASE_URL };
  }
  if (!process.env.PGHOST) {
    throw new Error('no PostgreSQL server: run the tests with `npm test` (it starts one), or set PGHOST/DATABASE_URL');
  }
  return {
    host: process.env.PGHOST,
    port: Number(process.env.PGPORT ?? 5432),
    user: process.env.PGUSER ?? 'postgres',
    database: process.env.PGDATABASE ?? 'postgres',
  };
}

/** A pg client connected to pgConfig()'s server (pg is loaded only when this is called). */
export async function connectedPgClient(): Promise<import('pg').Client> {
  const pg = require('pg') as typeof import('pg');
  const client = new pg.Client(pgConfig());
  await client.connect();
  return client;
}

export function redisUrl(): string {
  const unavailable = process.env.OTCH_REDIS_UNAVAILABLE;
  if (unavailable) throw new Error(`Redis could not be started by scripts/services.js: ${unavailable}`);
  if (!process.env.REDIS_URL) throw new Error('no Redis server: run the tests with `npm test` (it starts one), or set REDIS_URL');
  return process.env.REDIS_URL;
}

/** The nodes of the Redis Cluster that `npm test` starts, or that REDIS_CLUSTER_NODES (`host:port,…`) names. */
export function redisClusterNodes(): Array<{ host: string; port: number }> {
  const unavailable = process.env.OTCH_REDIS_CLUSTER_UNAVAILABLE;
  if (unavailable) throw new Error(`the Redis Cluster could not be started by scripts/services.js: ${unavailable}`);
  const nodes = process.env.REDIS_CLUSTER_NODES;
  if (!nodes) throw new Error('no Redis Cluster: run the tests with `npm test` (it starts one), or set REDIS_CLUSTER_NODES');
  return nodes.split(',').map((node) => {
    const at = node.lastIndexOf(':');
    return { host: node.slice(0, at), port: Number(node.slice(at + 1)) };
  });
}

/** The Redis Sentinel that `npm test` starts, or that REDIS_SENTINEL (`host:port`) names, and its master's name. */
export function redisSentinel(): { host: string; port: number; name: string } {
  const unavailable = process.env.OTCH_REDIS_SENTINEL_UNAVAILABLE;
  if (unavailable) throw new Error(`the Redis Sentinel could not be started by scripts/services.js: ${unavailable}`);
  const sentinel = process.env.REDIS_SENTINEL;
  if (!sentinel) throw new Error('no Redis Sentinel: run the tests with `npm test` (it starts one), or set REDIS_SENTINEL');
  const at = sentinel.lastIndexOf(':');
  return { host: sentinel.slice(0, at), port: Number(sentinel.slice(at + 1)), name: 'mymaster' };
}

/** redisUrl() as the host and port of a connection option (bullmq's). */
export function redisHostPort(): { host: string; port: number } {
  const u = new URL(redisUrl());
  return { host: u.hostname, port: Number(u.port || 6379) };
}

export function mysqlUrl(): string {
  const unavailable = process.env.OTCH_MARIADB_UNAVAILABLE;
  if (unavailable) throw new Error(`MariaDB could not be started by scripts/services.js: ${unavailable}`);
  if (!process.env.MYSQL_URL) throw new Error('no MySQL/MariaDB server: run the tests with `npm test` (it starts one), or set MYSQL_URL');
  return process.env.MYSQL_URL;
}

export function amqpUrl(): string {
  const unavailable = process.env.OTCH_RABBITMQ_UNAVAILABLE;
  if (unavailable) throw new Error(`RabbitMQ could not be started by scripts/services.js: ${unavailable}`);
  if (!process.env.AMQP_URL) throw new Error('no RabbitMQ server: run the tests with `npm test` (it starts one), or set AMQP_URL');
  return process.env.AMQP_URL;
}

/** mysqlUrl() taken apart. */
export function mysqlConfig(): { host: string; port: number; user: string; password: string; database: string } {
  const u = new URL(mysqlUrl());
  return { host: u.hostname, port: Number(u.port || 3306), user: decodeURIComponent(u.username), password: decodeURIComponent(u.password), database: u.pathname.slice(1) };
}

/** The tags of a SQL client span (pg, mysql2) for a query sent to the server `conn`. */
export function sqlTags(component: string, conn: { host: string; port: number; user: string; database: string }, statement: string): Record<string, unknown> {
  return {
    component,
    'db.type': 'sql',
    'db.instance': conn.database,
    'db.user': conn.user,
    'db.statement': statement,
    'peer.hostname': conn.host,
    'peer.port': conn.port,
    'peer.address': `${conn.host}:${conn.port}`,
  };
}

/** The tags of a messaging span (amqplib, kafkajs, nats, bullmq, socket.io): its library, its system and its destination. */
export function messagingTags(component: string, system: string, destination: string): Record<string, unknown> {
  return { component, 'messaging.system': system, 'message_bus.destination': destination };
}

/** The Kafka bootstrap brokers (`host:port`, comma-separated in KAFKA_BROKERS). */
export function kafkaBrokers(): string[] {
  const unavailable = process.env.OTCH_KAFKA_UNAVAILABLE;
  if (unavailable) throw new Error(`the Kafka broker could not be started by scripts/services.js: ${unavailable}`);
  if (!process.env.KAFKA_BROKERS) throw new Error('no Kafka broker: run the tests with `npm test` (it starts one), or set KAFKA_BROKERS');
  return process.env.KAFKA_BROKERS.split(',').map((broker) => broker.trim());
}

export function natsUrl(): string {
  const unavailable = process.env.OTCH_NATS_UNAVAILABLE;
  if (unavailable) throw new Error(`NATS could not be started by scripts/services.js: ${unavailable}`);
  if (!process.env.NATS_URL) throw new Error('no NATS server: run the tests with `npm test` (it starts one), or set NATS_URL');
  return process.env.NATS_URL;
}
