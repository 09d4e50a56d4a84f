#!/usr/bin/env node
'use strict';
/**
 * Runs a command with PostgreSQL, Redis, MariaDB, RabbitMQ, a Kafka-protocol broker and NATS
 * available, then stops what it started:
 *   node scripts/with-services.js mocha
 */
const { spawn } = require('node:child_process');
const path = require('node:path');
const services = require('./services');

async function main() {
  const [cmd, ...args] = process.argv.slice(2);
  if (!cmd) throw new Error('usage: node scripts/with-services.js <command> [args…]');
  const state = await services.start();
  let stopped = false;
  const stopAll = () => {
    if (stopped) return;
    stopped = true;
    services.stop(state);
  };
  const bin = path.join(__dirname, '..', 'node_modules', '.bin');
  const child = spawn(cmd, args, {
    stdio: 'inherit',
    env: { ...process.env, ...state.env, PATH: `${bin}${path.delimiter}${process.env.PATH}` },
  });
  for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
  child.on('error', (err) => {
    process.stderr.write(`${cmd}: ${err.message}\n`);
    stopAll();
    process.exit(1);
  });
  child.on('exit', (code, signal) => {
    stopAll();
    process.exit(code ?? (signal ? 1 : 0));
  });
}

main().catch((err) => {
  process.stderr.write(`${err.message}\n`);
  process.exit(1);
});
