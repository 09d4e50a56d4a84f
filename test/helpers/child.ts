import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

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
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { cwd: root, env: childEnv(env) });
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
