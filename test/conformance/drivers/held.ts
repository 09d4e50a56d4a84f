import type { RecordedSpan } from '../../helpers/tracer';
import type { Driver } from '../driver';

/**
 * A consumer driver's in-flight call: message `id` is sent and handled, and its handler returns a promise
 * (the one `holds` has for `id`) that settles only after the contract has uninstalled the hook.
 */
export async function heldDelivery<T>(holds: Map<string, Promise<void>>, id: string, send: (id: string) => Promise<T>): Promise<{ outcome: Promise<unknown> }> {
  let release!: () => void;
  const hold = new Promise<void>((resolve) => (release = resolve));
  holds.set(id, hold);
  const seen = await send(id);
  const outcome = new Promise((resolve) =>
    setImmediate(() => {
      holds.delete(id);
      release();
      resolve(hold.then(() => seen));
    }),
  );
  return { outcome };
}

/**
 * The messages a consumer driver sends to the handler it runs, each with an id of its own: `call(parent)`
 * sends the next one with `parent`'s context and resolves with what the handler saw of it;
 * `inFlightCall()` sends one whose handler is held until the contract has uninstalled the hook.
 */
export class Deliveries<Seen> {
  private readonly waiting = new Map<string, (seen: Seen) => void>();
  /** Messages whose handler returns a promise that settles only when the in-flight call lets it. */
  private readonly holds = new Map<string, Promise<void>>();
  private sequence = 0;

  /** `transmit` sends message `id`, with the trace header `traceparent` when there is one; `fail` rejects the call. */
  constructor(private readonly transmit: (id: string, traceparent: string | undefined, fail: (err: unknown) => void) => void) {}

  /** The handler saw message `id`: hands `seen` to its call. The handler returns what this returns (its hold, if any). */
  seen(id: string, seen: Seen): Promise<void> | undefined {
    const done = this.waiting.get(id);
    this.waiting.delete(id);
    done?.(seen);
    return this.holds.get(id);
  }

  /** Sends message `id` with `parent`'s context in its headers; resolves with what the handler saw. */
  send(id: string, parent?: RecordedSpan): Promise<Seen> {
    return new Promise<Seen>((resolve, reject) => {
      this.waiting.set(id, resolve);
      this.transmit(id, parent === undefined ? undefined : `00-${parent.traceId}-${parent.id}-01`, reject);
    });
  }

  readonly call = (parent?: RecordedSpan): Promise<Seen> => this.send(String(++this.sequence), parent);

  readonly inFlightCall = (): Promise<{ outcome: Promise<unknown> }> => heldDelivery(this.holds, String(++this.sequence), (id) => this.send(id));

  /**
   * The consumer driver's call and inFlightCall, and its normalize: what the handler saw, minus the fields
   * `drop` and the headers that differ per call.
   */
  driverCalls(...drop: string[]): Pick<Driver, 'call' | 'inFlightCall' | 'normalize'> {
    return {
      call: this.call,
      inFlightCall: this.inFlightCall,
      normalize(result) {
        const rest: Record<string, unknown> = { ...(result as Record<string, unknown>) };
        for (const field of drop) delete rest[field];
        return withoutCallHeaders(rest);
      },
    };
  }
}

/** What a handler saw, minus the headers that differ per call: the call's id, and the trace header a traced sender adds. */
export function withoutCallHeaders(result: unknown): unknown {
  const { headers, ...rest } = result as { headers: Record<string, unknown> };
  const { traceparent: _trace, 'otch-id': _id, ...other } = headers;
  return { ...rest, headers: other };
}
