/** Mocha fixtures: what a suite opens before its tests and closes after. */

/**
 * A resource for the suite this is called in: opened before its tests (before each test, with `each`)
 * and closed after. The getter returns the open one.
 */
export function suiteFixture<T>(open: () => Promise<T>, close: (value: T) => unknown, each = false): () => T {
  let value: { current: T } | undefined;
  (each ? beforeEach : before)(async () => {
    value = { current: await open() };
  });
  (each ? afterEach : after)(async () => {
    const opened = value;
    value = undefined;
    if (opened !== undefined) await close(opened.current);
  });
  return () => {
    if (value === undefined) throw new Error('the suite fixture is not open');
    return value.current;
  };
}
