#!/usr/bin/env node
'use strict';
/**
 * Runs a command with PostgreSQL, Redis, MariaDB, RabbitMQ, a Kafka-protocol broker and NATS
 * available, then stops what it started:
 *   node scripts/with-services.js mocha
 */
const { spawn } = require('node:child_process');
const os = require('node:os');
const path = require('node:path');
const services = require('./services');

async function main() {
  const [cmd, ...args] = process.argv.slice(2);
  if (!cmd) throw new Error('usage: node scripts/with-services.js <command> [args…]');
  const state = { env: {} };
  let stopped = false;
  const stopAll = () => {
    if (stopped) return;
    stopped = true;
    services.stop(state);
  };
  const exitOn = (signal) => {
    stopAll();
    process.exit(128 + os.constants.signals[signal]);
  };
  // Listening from the start: a signal while the services start (their processes are detached, so it
  // does not reach them) stops those already up once the one starting is up too, instead of leaving
  // them running; a second signal stops them at once.
  let child;
  let interrupted;
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.on(signal, () => {
      if (child !== undefined) child.kill(signal);
      else if (interrupted !== undefined) exitOn(signal);
      else interrupted = signal;
    });
  }
  await services.start({ state, cancelled: () => interrupted !== undefined });
  if (interrupted !== undefined) exitOn(interrupted);
  const bin = path.join(__dirname, '..', 'node_modules', '.bin');
  child = spawn(cmd, args, {
    stdio: 'inherit',
    env: { ...process.env, ...state.env, PATH: `${bin}${path.delimiter}${process.env.PATH}` },
  });
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
