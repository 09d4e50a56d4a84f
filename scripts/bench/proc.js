'use strict';
/**
 * Child processes of the orchestrator, with an IPC channel, a time limit on every wait, and a kill of
 * whatever is still running when the orchestrator exits or is interrupted.
 */
const { spawn } = require('node:child_process');
const { ROOT } = require('./config');

const live = new Set();

function killAll() {
  for (const child of live) {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
  live.clear();
}
process.on('exit', killAll);
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    killAll();
    process.stderr.write(`bench: interrupted (${signal})\n`);
    process.exit(130);
  });
}

/**
 * Starts `node [execArgv] script ...args`. `next(timeoutMs)` resolves with the child's next IPC
 * message, or rejects when the child exits first or the time is up (the child is then killed).
 */
function start(script, args, { execArgv = [], env = process.env, name = script } = {}) {
  const child = spawn(process.execPath, [...execArgv, script, ...args], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  live.add(child);
  child.on('error', () => undefined); // EPIPE on a send to a child that is exiting: its exit tells the rest
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d) => {
    stderr = (stderr + d).slice(-4000);
  });
  const queue = [];
  const waiters = [];
  let exited;
  child.on('message', (msg) => {
    const waiter = waiters.shift();
    if (waiter) waiter.resolve(msg);
    else queue.push(msg);
  });
  child.on('exit', (code, signal) => {
    live.delete(child);
    exited = { code, signal };
    // Let a message sent just before exit arrive first.
    setImmediate(() => {
      for (const waiter of waiters.splice(0)) {
        waiter.reject(new Error(`${name} exited (${signal ?? code}) before answering: ${stderr.trim().split('\n').slice(-6).join(' | ')}`));
      }
    });
  });
  return {
    child,
    name,
    get stderr() {
      return stderr;
    },
    send(msg) {
      if (child.connected) child.send(msg, () => undefined);
    },
    next(timeoutMs) {
      if (queue.length > 0) return Promise.resolve(queue.shift());
      if (exited) return Promise.reject(new Error(`${name} exited (${exited.signal ?? exited.code}): ${stderr.trim().split('\n').slice(-6).join(' | ')}`));
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          const i = waiters.indexOf(waiter);
          if (i !== -1) waiters.splice(i, 1);
          child.kill('SIGKILL');
          reject(new Error(`${name}: no answer within ${timeoutMs} ms, killed`));
        }, timeoutMs);
        const waiter = {
          resolve: (m) => {
            clearTimeout(timer);
            resolve(m);
          },
          reject: (e) => {
            clearTimeout(timer);
            reject(e);
          },
        };
        waiters.push(waiter);
      });
    },
    /** Waits (bounded) for the process to end, killing it if it does not. */
    async stop(ms = 5000) {
      if (exited) return;
      const done = new Promise((resolve) => child.once('exit', resolve));
      if (child.connected) child.send({ cmd: 'exit' }, () => undefined);
      const timer = setTimeout(() => child.kill('SIGKILL'), ms);
      await done;
      clearTimeout(timer);
    },
  };
}

module.exports = { start, killAll };
