/**
 * The coexistence checks (the conformance contract's and the log hooks'): a child process installs
 * OpenTelemetry's instrumentation of a library and our hook in a given order, then measures each phase:
 * both installed, ours uninstalled, ours installed again.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';

/** In the child: the three phases, each measured by `measure` once ours is as the phase says. */
export async function coexistPhases<T extends object>(ours: { uninstall(): void; install(): void }, measure: () => Promise<T>): Promise<Array<{ phase: string } & T>> {
  const phases: Array<{ phase: string } & T> = [];
  const run = async (phase: string): Promise<void> => {
    phases.push({ phase, ...(await measure()) });
  };
  await run('both');
  ours.uninstall();
  await run('after uninstall');
  ours.install();
  await run('installed again');
  return phases;
}

/** In the child: runs `main`, prints what it resolved with as one JSON line and exits 0, or prints the error and exits 1. */
export function runChild(main: () => Promise<unknown>): void {
  main().then(
    (result) => {
      process.stdout.write(JSON.stringify(result) + '\n');
      process.exit(0);
    },
    (err) => {
      process.stderr.write(String(err?.stack ?? err) + '\n');
      process.exit(1);
    },
  );
}

/** In the test: runs the child `file` for the driver `name` in `order` (`otel-first`, `ours-first`), and returns the phases it printed. */
export async function coexistRun<P>(file: string, name: string, order: string): Promise<P[]> {
  const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const p = spawn(process.execPath, [file, name, order], { env: process.env });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('exit', (c) => resolve({ code: c, stdout, stderr }));
  });
  assert.equal(code, 0, stderr);
  return JSON.parse(stdout.trim().split('\n').pop()!) as P[];
}
