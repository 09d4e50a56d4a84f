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
