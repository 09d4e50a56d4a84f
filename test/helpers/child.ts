import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { HookName } from '../../src';

/** The repository root (tests run from build/test). */
export const root = path.join(__dirname, '..', '..', '..');
export const tracedApp = path.join(root, 'test', 'fixtures', 'traced-app.js');

export interface Run {
  stdout: string;
  stderr: string;
  status: number | null;
}

/** A clean environment: no variable of the test run's own leaks into the child. */
export function childEnv(extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, HOME: process.env.HOME, ...extra };
}

/** Runs `node <args>` from the repository root (default: traced-app.js under the preload) to its end. */
export function runNode(env: NodeJS.ProcessEnv, args = ['-r', './register', tracedApp]): Promise<Run> {
  return runFromRoot(args, childEnv(env));
}

function runFromRoot(args: string[], env: NodeJS.ProcessEnv): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { cwd: root, env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30000);
    child.on('exit', (status) => {
      clearTimeout(timer);
      resolve({ stdout, stderr, status });
    });
  });
}

/** A span as an ES-module app printed it (esmAppSpans). */
export interface PrintedSpan {
  name: string;
  id: string;
  parentId?: string;
  traceId: string;
  tags: Record<string, unknown>;
}

/**
 * Runs `body` as an ES-module app (`node --input-type=module -e`) from the repository root, in this
 * process's environment and `env`, with `hooks` installed on a RecordingTracer first (`tracer`,
 * `withSpan` and `require` are in scope). Checks that it exited 0, and returns the spans finished by the
 * end of `body`.
 */
export async function esmAppSpans(hooks: HookName[], body: string, env: NodeJS.ProcessEnv = {}): Promise<PrintedSpan[]> {
  const script = `
    import { createRequire } from 'node:module';
    const require = createRequire(process.cwd() + '/');
    const { installPatches, withSpan } = require('./build/src/index.js');
    const { RecordingTracer } = require('./build/test/helpers/tracer.js');
    const tracer = new RecordingTracer();
    installPatches(${JSON.stringify(hooks)}, { tracer });
    ${body}
    process.stdout.write(JSON.stringify(tracer.finished.map((s) => ({ name: s.operationName, id: s.id, parentId: s.parentId, traceId: s.traceId, tags: s.tags }))));
  `;
  const { status, stdout, stderr } = await runFromRoot(['--input-type=module', '-e', script], { ...process.env, ...env });
  assert.equal(status, 0, stderr);
  return JSON.parse(stdout) as PrintedSpan[];
}

/** Starts a server process that prints `listening <port>`; resolves with its URL and a stop function. */
export async function serve(args: string[], env: NodeJS.ProcessEnv): Promise<{ url: string; stderr(): string; stop(): Promise<void> }> {
  const child = spawn(process.execPath, args, { cwd: root, env: childEnv(env) });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const port = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const m = /listening (\d+)/.exec(out);
      if (m) resolve(m[1]);
    });
    child.on('exit', (code) => reject(new Error(`server exited ${code}: ${stderr}`)));
  });
  return {
    url: `http://127.0.0.1:${port}`,
    stderr: () => stderr,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.on('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

/** The JSON the traced app printed after `response ` (by default: the headers its downstream received). */
export function responseOf<T = Record<string, string | undefined>>(run: Run): T {
  return JSON.parse(run.stdout.split('response ')[1]) as T;
}

/**
 * Paths `name` in fresh temporary directories (named `prefix`…), for files a child process writes; the
 * directories are removed after the suite this is called in.
 */
export function tempFiles(prefix: string): (name: string) => string {
  const dirs: string[] = [];
  after(() => {
    for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
  });
  return (name) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
    dirs.push(dir);
    return path.join(dir, name);
  };
}

/** The spans the jsonl tracer wrote to `file`: one JSON object a line. */
export function readJsonl<T = any>(file: string): T[] {
  return fs.readFileSync(file, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as T);
}
