/**
 * The collectors the built-in tracer exports to: calls to them are its own export traffic, which the
 * HTTP-client core never traces. A leaf, so that the tracer (which adds them) and the core (which reads
 * them) need not import each other.
 */
import { redactedParts, redactText, urlForSpan } from './url';

const urls: string[] = [];
/** What messages never show of the collector URLs: their credentials and query strings (`redactedParts`). */
const secrets: string[] = [];

/**
 * Records the URL of a collector the built-in tracer exports to, as the exporter's request will have it
 * (parsed as `new URL` parses it: host in lower case, default port left out).
 */
export function addExportTarget(url: string): void {
  let parsed = url;
  try {
    parsed = new URL(url).href;
  } catch {
    // not a URL: the exporter cannot send there either
  }
  urls.push(parsed);
  for (const part of [...redactedParts(url, false), ...redactedParts(parsed, false)]) if (part.length > 1) secrets.push(part);
}

/** Every collector URL recorded so far, oldest first (the list only grows). */
export function exportTargetUrls(): readonly string[] {
  return urls;
}

/**
 * A collector URL as messages show it: without `user:password@` and without its query string (where
 * some vendors take an API key), as `http.url` shows a URL.
 */
export function collectorLabel(url: string): string {
  return redactText(urlForSpan(url, false), []);
}

/**
 * `text` (an exporter's error message, an OpenTelemetry diagnostic, a configured value) without the
 * credentials and query string of `url`, nor those of any collector recorded, nor the credentials of any
 * other URL in it.
 */
export function withoutCollectorSecrets(text: string, url?: string): string {
  return redactText(text, url === undefined ? secrets : [...redactedParts(url, false), ...secrets]);
}
