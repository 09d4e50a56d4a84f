import createDebug from 'debug';

/** Debug logger: enable with DEBUG=opentracing-client-hooks* */
export const log = createDebug('opentracing-client-hooks');

const reported = new Set<string>();

/** Reports a fault once per `where`, so that a broken tracer cannot flood the log. */
export function reportOnce(where: string, err: unknown): void {
  if (reported.has(where)) return;
  reported.add(where);
  log('fault in %s (reported once): %O', where, err);
}

/** Emits a warning on stderr once per message. */
const warned = new Set<string>();
export function warnOnce(message: string): void {
  if (warned.has(message)) return;
  warned.add(message);
  process.stderr.write(`opentracing-client-hooks: ${message}\n`);
}
