'use strict';
/**
 * The client calls that are measured. Each factory is called after the variant is set up (so the client
 * library is loaded, and hooked, the way an app would load it) and returns `{ call, close }`.
 * All traffic goes to 127.0.0.1: the echo, grpc and SQS servers of servers.js, and the PostgreSQL, Redis, Kafka broker,
 * MariaDB, RabbitMQ and NATS that scripts/with-services.js started.
 */
const REDIS_KEY = 'opentracing-client-hooks:bench';

async function httpClient({ echoPort }) {
  const http = require('node:http');
  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  const options = { host: '127.0.0.1', port: echoPort, path: '/echo', agent };
  return {
    call: () =>
      new Promise((resolve, reject) => {
        http
          .get(options, (res) => {
            res.on('error', reject);
            res.on('end', resolve);
            res.resume();
          })
          .on('error', reject);
      }),
    close: () => agent.destroy(),
  };
}

async function fetchClient({ echoPort }) {
  const url = `http://127.0.0.1:${echoPort}/echo`;
  return {
    call: async () => {
      const res = await fetch(url);
      await res.text();
    },
    close: () => undefined,
  };
}

async function axiosClient({ echoPort }) {
  const http = require('node:http');
  const axios = require('axios');
  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  const instance = axios.create({ httpAgent: agent, baseURL: `http://127.0.0.1:${echoPort}` });
  return { call: () => instance.get('/echo'), close: () => agent.destroy() };
}

async function pgClient() {
  const pg = require('pg');
  const pool = new pg.Pool({ max: 8 });
  await pool.query('SELECT 1');
  return { call: () => pool.query('SELECT 1'), close: () => pool.end() };
}

async function redisClient() {
  const { createClient } = require('redis');
  const client = createClient({ url: process.env.REDIS_URL });
  client.on('error', () => undefined); // a failed call still rejects
  await client.connect();
  await client.set(REDIS_KEY, 'v');
  return {
    call: () => client.get(REDIS_KEY),
    close: () => (typeof client.close === 'function' ? client.close() : client.quit()),
  };
}

async function ioredisClient() {
  const m = require('ioredis');
  const Redis = m.Redis ?? m.default ?? m;
  const client = new Redis(process.env.REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  client.on('error', () => undefined);
  await client.connect();
  await client.set(REDIS_KEY, 'v');
  return { call: () => client.get(REDIS_KEY), close: () => client.quit() };
}

/** A kafkajs client on the broker scripts/with-services.js started (KAFKA_BROKERS), silent, with topics for one process. */
function kafkaSetup() {
  const { Kafka, Partitioners, logLevel } = require('kafkajs');
  const kafka = new Kafka({ clientId: 'bench', brokers: process.env.KAFKA_BROKERS.split(','), logLevel: logLevel.NOTHING });
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  return { kafka, producer, topic: `bench.${process.pid}.${Date.now()}` };
}

async function kafkajsSendClient() {
  const { producer, topic } = kafkaSetup();
  await producer.connect();
  const messages = [{ value: 'bench' }];
  await producer.send({ topic, messages });
  return { call: () => producer.send({ topic, messages }), close: () => producer.disconnect() };
}

/**
 * Messages there and back: `call()` sends one (`send(id)`) and resolves when the consumer has passed its id
 * to `handled(id)` (rejects if the send fails); `expect(id)` waits for an id sent outside call().
 */
function roundTrips(send) {
  let sequence = 0;
  const waiting = new Map();
  const expect = (id) => new Promise((resolve) => waiting.set(id, resolve));
  return {
    expect,
    handled: (id) => {
      const done = waiting.get(id);
      waiting.delete(id);
      if (done) done();
    },
    call: () =>
      new Promise((resolve, reject) => {
        const id = String(++sequence);
        waiting.set(id, resolve);
        Promise.resolve(send(id)).catch(reject);
      }),
  };
}

/** kafkajs: each call sends one message and resolves when eachMessage has handled it (a producer and a consumer span). */
async function kafkajsConsumeClient() {
  const { kafka, producer, topic } = kafkaSetup();
  await producer.connect();
  const trips = roundTrips((id) => producer.send({ topic, messages: [{ value: id }] }));
  const ready = trips.expect('0');
  await producer.send({ topic, messages: [{ value: '0' }] });
  const consumer = kafka.consumer({ groupId: `${topic}.group`, maxWaitTimeInMs: 5 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({ eachMessage: async ({ message }) => trips.handled(message.value.toString()) });
  await ready;
  return {
    call: trips.call,
    close: async () => {
      await consumer.disconnect();
      await producer.disconnect();
    },
  };
}

async function graphqlClient() {
  const graphql = require('graphql');
  const schema = graphql.buildSchema('type Query { user(id: ID!): User } type User { id: ID! name: String }');
  const rootValue = { user: async ({ id }) => ({ id, name: 'n' }) };
  // Parsed once, as a server's document cache does.
  const document = graphql.parse('query GetUser($id: ID!) { user(id: $id) { id name } }');
  const variableValues = { id: '1' };
  return { call: () => graphql.execute({ schema, document, rootValue, variableValues }), close: () => undefined };
}

/**
 * MONGODB_URL, else the tests' wire-protocol stand-in (build/test, which `npm run bench` builds first) in a
 * process of its own, so that its work is not measured.
 */
async function mongoUrl() {
  if (process.env.MONGODB_URL) return { url: process.env.MONGODB_URL, stop: () => undefined };
  const { spawn } = require('node:child_process');
  const path = require('node:path');
  const helper = path.join(__dirname, '..', '..', 'build', 'test', 'helpers', 'mongo-server.js');
  const child = spawn(process.execPath, ['-e', `require(${JSON.stringify(helper)}).startMongoStandIn().then((s) => console.log(s.url))`], { stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise((resolve, reject) => {
    child.stdout.once('data', (d) => resolve(String(d).trim()));
    child.once('exit', (code) => reject(new Error(`the MongoDB stand-in exited (${code}); run \`npm run build:test\` first, or set MONGODB_URL`)));
  });
  return { url, stop: () => child.kill() };
}

async function mongodbClient() {
  const { MongoClient } = require('mongodb');
  const server = await mongoUrl();
  const client = new MongoClient(server.url, { maxPoolSize: 8 });
  await client.connect();
  const coll = client.db('bench').collection('bench');
  await coll.deleteMany({});
  await coll.insertOne({ k: 1, v: 'one' });
  return {
    call: () => coll.findOne({ k: 1 }),
    close: async () => {
      await client.close();
      server.stop();
    },
  };
}

async function mysql2Client() {
  const mysql = require('mysql2');
  const pool = mysql.createPool({ uri: process.env.MYSQL_URL, connectionLimit: 8 }).promise();
  await pool.query('SELECT 1');
  return { call: () => pool.query('SELECT 1'), close: () => pool.end() };
}

/** knex on the same PostgreSQL as `pg` (pg reads the PG* variables), through its own pool of 8. */
async function knexClient() {
  const knex = require('knex')({ client: 'pg', connection: process.env.DATABASE_URL ?? {}, pool: { min: 0, max: 8 } });
  await knex.raw('select 1');
  return { call: () => knex.raw('select 1'), close: () => knex.destroy() };
}

/** amqplib: `sendToQueue` of one message, handled by the same process's consumer (noAck). */
async function amqplibClient() {
  const amqp = require('amqplib');
  const connection = await amqp.connect(process.env.AMQP_URL);
  const channel = await connection.createChannel();
  const { queue } = await channel.assertQueue('', { exclusive: true, autoDelete: true });
  const trips = roundTrips((id) => channel.sendToQueue(queue, Buffer.from(id)));
  await channel.consume(queue, (msg) => trips.handled(msg.content.toString()), { noAck: true });
  return { call: trips.call, close: () => connection.close() };
}

/** nats: `publish` of one message, handled by the same process's subscription (a producer and a consumer span). */
async function natsClient() {
  const { connect } = require('nats');
  const nc = await connect({ servers: process.env.NATS_URL });
  const subject = `bench.${process.pid}`;
  const decoder = new TextDecoder();
  const encoder = new TextEncoder();
  const trips = roundTrips((id) => nc.publish(subject, encoder.encode(id)));
  nc.subscribe(subject, { callback: (err, msg) => trips.handled(err ? '' : decoder.decode(msg.data)) });
  await nc.flush();
  return { call: trips.call, close: () => nc.close() };
}

/** bullmq: `queue.add` of one job, processed by the same process's worker (concurrency 8). */
async function bullmqClient() {
  const { Queue, Worker } = require('bullmq');
  const { hostname, port } = new URL(process.env.REDIS_URL);
  const connection = { host: hostname, port: Number(port) };
  const name = `bench-${process.pid}-${Date.now()}`;
  const queue = new Queue(name, { connection });
  const trips = roundTrips((id) => queue.add('job', { id }, { removeOnComplete: true }));
  const worker = new Worker(name, async (job) => trips.handled(job.data.id), { connection, concurrency: 8 });
  await worker.waitUntilReady();
  return {
    call: trips.call,
    close: async () => {
      await worker.close();
      await queue.obliterate({ force: true });
      await queue.close();
    },
  };
}

/** @grpc/grpc-js: a unary call to the grpc server of servers.js (another process). */
async function grpcClient({ grpcPort }) {
  const grpc = require('@grpc/grpc-js');
  const { GRPC_ECHO } = require('./grpc-echo');
  const Client = grpc.makeGenericClientConstructor(GRPC_ECHO, 'Echo');
  const client = new Client(`127.0.0.1:${grpcPort}`, grpc.credentials.createInsecure());
  const request = Buffer.from('bench');
  const call = () => new Promise((resolve, reject) => client.echo(request, (err, reply) => (err ? reject(err) : resolve(reply))));
  await call();
  return { call, close: () => client.close() };
}

/** AWS SDK v3: SQS `SendMessage` to the SQS stand-in of servers.js (credentials and region from measure.js's environment). */
async function awsSdkClient({ sqsPort }) {
  const { SQSClient, SendMessageCommand } = require('@aws-sdk/client-sqs');
  const endpoint = `http://127.0.0.1:${sqsPort}`;
  const client = new SQSClient({ endpoint });
  const input = { QueueUrl: `${endpoint}/000000000000/bench`, MessageBody: 'bench' };
  await client.send(new SendMessageCommand(input));
  return { call: () => client.send(new SendMessageCommand(input)), close: () => client.destroy() };
}

const FACTORIES = {
  http: httpClient,
  fetch: fetchClient,
  axios: axiosClient,
  pg: pgClient,
  redis: redisClient,
  ioredis: ioredisClient,
  'kafkajs-send': kafkajsSendClient,
  'kafkajs-consume': kafkajsConsumeClient,
  graphql: graphqlClient,
  mongodb: mongodbClient,
  mysql2: mysql2Client,
  knex: knexClient,
  amqplib: amqplibClient,
  grpc: grpcClient,
  'aws-sdk': awsSdkClient,
  bullmq: bullmqClient,
  nats: natsClient,
};

/** Runs `total` calls, `concurrency` at a time; bounded by `total`, rejects on the first failure. */
async function runCalls(call, total, concurrency) {
  let issued = 0;
  const worker = async () => {
    while (issued < total) {
      issued += 1;
      await call();
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, total) }, worker));
}

module.exports = { FACTORIES, runCalls, REDIS_KEY };
