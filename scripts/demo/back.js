'use strict';
// Back service: PostgreSQL (a pool query and a transaction), MySQL (the price), Redis (GET/SET and a
// MULTI), RabbitMQ (an event per order, consumed here too, where the consumer counts it in Redis), and
// BullMQ (a receipt job per order, run by a worker here too, which records it in PostgreSQL).
const http = require('node:http');
const pg = require('pg');
const mysql = require('mysql2/promise');
const amqp = require('amqplib');
const { createClient } = require('redis');
const { Queue, Worker } = require('bullmq');

const QUEUE = 'demo.order-viewed';
const pool = new pg.Pool({ max: 4 });
const prices = mysql.createPool({ uri: process.env.MYSQL_URL, connectionLimit: 2 });
const redis = createClient({ url: process.env.REDIS_URL });
redis.on('error', (err) => process.stderr.write(`redis: ${err.message}\n`));
let amqpConnection;
let publisher;
let consumed = 0;

const RECEIPTS = 'demo-receipts';
const jobsRedis = new URL(process.env.REDIS_URL);
const connection = { host: jobsRedis.hostname, port: Number(jobsRedis.port || 6379) };
const receipts = new Queue(RECEIPTS, { connection });
let receiptWorker;
let receiptsSent = 0;

/** The worker's processor: runs in a span that follows from the job's `bullmq.add`, in the same trace. */
async function sendReceipt(job) {
  await pool.query('UPDATE demo_orders SET note = $2 WHERE id = $1', [job.data.id, 'receipt sent']);
  receiptsSent++;
}

async function order(id) {
  const { rows } = await pool.query('SELECT id, item, quantity FROM demo_orders WHERE id = $1', [id]);
  const [priced] = await prices.query('SELECT price FROM demo_prices WHERE item = ?', [rows[0]?.item ?? '']);
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query("UPDATE demo_orders SET viewed = viewed + 1, note = 'seen by the demo' WHERE id = $1", [id]);
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK');
    throw err;
  } finally {
    client.release();
  }
  publisher.sendToQueue(QUEUE, Buffer.from(JSON.stringify({ id: Number(id) })));
  await publisher.waitForConfirms();
  await receipts.add('receipt', { id: Number(id) }, { removeOnComplete: true });
  return rows[0] ? { ...rows[0], price: priced[0]?.price ?? null } : null;
}

/** The consumer: runs in a span that follows from the publisher's, so it shows in the same trace. */
async function onOrderViewed(message) {
  const { id } = JSON.parse(message.content.toString());
  await redis.incr(`demo:events:${id}`);
  consumed++;
  this.ack(message);
}

async function stock(id) {
  const key = `demo:stock:${id}`;
  let level = await redis.get(key);
  if (level === null) {
    level = String(10 + Number(id));
    await redis.set(key, level, { EX: 60 });
  }
  await redis.multi().incr(`demo:views:${id}`).expire(`demo:views:${id}`, 60).exec();
  return { id: Number(id), level: Number(level) };
}

const server = http.createServer(async (req, res) => {
  // Orders whose event was consumed and whose receipt job ran.
  if (req.url === '/consumed') return res.end(String(Math.min(consumed, receiptsSent)));
  const match = /^\/(orders|stock)\/(\d+)$/.exec(req.url || '');
  if (!match) {
    res.statusCode = 404;
    return res.end();
  }
  try {
    const body = match[1] === 'orders' ? await order(match[2]) : await stock(match[2]);
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(body));
  } catch (err) {
    res.statusCode = 500;
    res.end(String(err));
  }
});

async function main() {
  await redis.connect();
  await pool.query(`CREATE TABLE IF NOT EXISTS demo_orders (
    id int PRIMARY KEY, item text NOT NULL, quantity int NOT NULL, viewed int NOT NULL DEFAULT 0, note text)`);
  await pool.query(`INSERT INTO demo_orders (id, item, quantity) VALUES (1, 'coffee', 2), (2, 'tea', 1), (3, 'cake', 3)
    ON CONFLICT (id) DO NOTHING`);
  await prices.query('CREATE TABLE IF NOT EXISTS demo_prices (item VARCHAR(32) PRIMARY KEY, price DECIMAL(6,2) NOT NULL)');
  await prices.query("INSERT IGNORE INTO demo_prices (item, price) VALUES ('coffee', 2.80), ('tea', 2.10), ('cake', 3.50)");
  amqpConnection = await amqp.connect(process.env.AMQP_URL);
  publisher = await amqpConnection.createConfirmChannel();
  const consumer = await amqpConnection.createChannel();
  await consumer.assertQueue(QUEUE, { durable: false });
  await consumer.consume(QUEUE, onOrderViewed.bind(consumer));
  await receipts.obliterate({ force: true });
  receiptWorker = new Worker(RECEIPTS, sendReceipt, { connection });
  await receiptWorker.waitUntilReady();
  server.listen(0, '127.0.0.1', () => process.stdout.write(`listening ${server.address().port}\n`));
}

process.on('SIGTERM', () => server.close(async () => {
  await receiptWorker?.close().catch(() => undefined);
  await receipts.close().catch(() => undefined);
  await amqpConnection?.close().catch(() => undefined);
  await redis.close().catch(() => undefined);
  await prices.end().catch(() => undefined);
  await pool.end().catch(() => undefined);
  process.exit(0);
}));

main().catch((err) => {
  process.stderr.write(`back service failed to start: ${err.message}\n`);
  process.exit(1);
});
