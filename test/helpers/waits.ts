/** Waiting for what a server or a client does, without fixed sleeps. */

/** The next `event` of `emitter` (`events.once` would reject on the 'error' events a dropped connection emits). */
export function next(emitter: { once(event: string, listener: (...args: unknown[]) => void): unknown }, event: string): Promise<unknown> {
  return new Promise((resolve) => emitter.once(event, resolve));
}

/** Resolves once `condition` holds (polled), so that no test waits a fixed time for the server. */
export async function until(condition: () => boolean | Promise<boolean>, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Whether the server sees client `id` blocked in `command` (`CLIENT LIST` has no per-id filter before 6.2). */
export function blockedIn(list: unknown, id: unknown, command: string): boolean {
  return String(list).split('\n').some((line) => line.startsWith(`id=${id} `) && line.includes(` cmd=${command} `));
}

export const noop = (): void => undefined;
