/**
 * The collectors the built-in tracer exports to: calls to them are its own export traffic, which the
 * HTTP-client core never traces. A leaf, so that the tracer (which adds them) and the core (which reads
 * them) need not import each other.
 */
const urls: string[] = [];

/** Records the URL of a collector the built-in tracer exports to. */
export function addExportTarget(url: string): void {
  urls.push(url);
}

/** Every collector URL recorded so far, oldest first (the list only grows). */
export function exportTargetUrls(): readonly string[] {
  return urls;
}
