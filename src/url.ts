/** URL helpers that avoid a full parse on the hot path. */

const ABSOLUTE = /^[a-z][a-z0-9+.-]*:\/\//i;
/** `scheme://userinfo@` anywhere in a text: the userinfo runs to the last `@` before the authority ends. */
const CREDENTIALS_IN_TEXT = /\b([a-z][a-z0-9+.-]*:\/\/)[^\s/?#\\]*@/gi;
const NONE: readonly string[] = [];

/** Whether `url` starts with `scheme://` (an absolute URL, or an absolute-form request target). */
export function isAbsoluteUrl(url: string): boolean {
  return ABSOLUTE.test(url);
}

/**
 * The URL a request to `base` (`scheme://authority`, no trailing slash) for the request target `path`
 * stands for (RFC 9112 3.3): an absolute-form target (a forward proxy's) is the URL itself, and a
 * CONNECT's authority-form target (`host:port`, the tunnel's end) is `scheme://host:port`.
 */
export function requestUrl(base: string, method: string, path: string): string {
  if (ABSOLUTE.test(path)) return path;
  if (method === 'CONNECT' && path.charCodeAt(0) !== 47 /* / */) return base.slice(0, base.indexOf('//') + 2) + path;
  return base + path;
}

/** Start and end of the authority of an absolute URL; it ends at the first `/`, `?`, `#` or `\` (WHATWG). */
function authority(url: string): [number, number] | undefined {
  if (!ABSOLUTE.test(url)) return undefined;
  const start = url.indexOf('//') + 2;
  for (let i = start; i < url.length; i++) {
    const c = url.charCodeAt(i);
    if (c === 47 /* / */ || c === 63 /* ? */ || c === 35 /* # */ || c === 92 /* \ */) return [start, i];
  }
  return [start, url.length];
}

/** The authority of an absolute URL (`user:pw@host:port`), or '' when `url` is not absolute. */
export function authorityOf(url: string): string {
  const bounds = authority(url);
  return bounds === undefined ? '' : url.slice(bounds[0], bounds[1]);
}

/** The `user:password@` of an absolute URL, or undefined. An `@` in the path or query is not one. */
export function credentialsOf(url: string): string | undefined {
  const bounds = authority(url);
  if (bounds === undefined) return undefined;
  const at = url.lastIndexOf('@', bounds[1] - 1);
  return at >= bounds[0] ? url.slice(bounds[0], at + 1) : undefined;
}

/** Removes `user:password@` from an absolute URL string. */
export function stripCredentials(url: string): string {
  const info = credentialsOf(url);
  return info === undefined ? url : url.replace(info, '');
}

/** Drops the query string and fragment unless `keepQuery`; the fragment is never sent anyway. */
export function stripQuery(url: string, keepQuery: boolean): string {
  const hash = url.indexOf('#');
  if (hash !== -1) url = url.slice(0, hash);
  if (keepQuery) return url;
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

/** The URL as recorded in `http.url`: no credentials, no query string unless asked for. */
export function urlForSpan(url: string | URL, keepQuery: boolean): string {
  if (typeof url !== 'string') {
    return `${url.protocol}//${url.host}${url.pathname}${keepQuery ? url.search : ''}`;
  }
  return stripQuery(stripCredentials(url), keepQuery);
}

/** What `http.url` shows of a URL, the same with its query (for `ignoreOutgoing`), and what it leaves out. */
export interface SpanUrl {
  readonly url: string;
  readonly withQuery: string;
  /** As `redactedParts` gives them. */
  readonly redacted: readonly string[];
}

/**
 * `urlForSpan` with and without the query, and `redactedParts`, of an absolute URL string. A URL without
 * `@`, `?` or `#` (most) is all three as it is, found without parsing it.
 */
export function spanUrlOf(url: string, keepQuery: boolean): SpanUrl {
  if (url.indexOf('@') === -1 && url.indexOf('?') === -1 && url.indexOf('#') === -1) return { url, withQuery: url, redacted: NONE };
  const withQuery = urlForSpan(url, true);
  return { url: keepQuery ? withQuery : stripQuery(withQuery, false), withQuery, redacted: redactedParts(url, keepQuery) };
}

/** The path (with query) of an absolute URL: what follows its authority. */
export function pathOf(url: string): string {
  const bounds = authority(url);
  if (bounds === undefined) return url;
  const path = url.slice(bounds[1]);
  return path.startsWith('/') ? path : `/${path}`;
}

/**
 * What `urlForSpan` leaves out of `url` (its credentials, and its query unless kept), so that the same
 * text can be taken out of error messages, which no tag or log may show either.
 */
export function redactedParts(url: string, keepQuery: boolean): readonly string[] {
  const info = credentialsOf(url);
  const q = keepQuery ? -1 : url.indexOf('?');
  if (info === undefined && q === -1) return NONE;
  const parts: string[] = [];
  if (info !== undefined) parts.push(info);
  if (q !== -1) {
    const hash = url.indexOf('#', q);
    if (hash === -1 || hash > q + 1) parts.push(url.slice(q, hash === -1 ? undefined : hash));
  }
  return parts;
}

/** `text` without `parts` (from `redactedParts`) and without the credentials of any URL in it. */
export function redactText(text: string, parts: readonly string[]): string {
  for (const part of parts) {
    if (text.includes(part)) text = text.split(part).join('');
  }
  return text.includes('@') ? text.replace(CREDENTIALS_IN_TEXT, '$1') : text;
}

function portOf(text: string, defaultPort: number): number {
  const port = Number(text);
  return text !== '' && Number.isInteger(port) && port > 0 && port < 65536 ? port : defaultPort;
}

/**
 * Host and port of an authority such as `example.com:8080`, `[::1]:80` or `::1` (an IPv6 address loses
 * its brackets). Credentials before an `@` are never part of the host.
 */
export function splitHostPort(authority: string, defaultPort: number): { hostname: string; port: number } {
  const host = authority.slice(authority.lastIndexOf('@') + 1);
  if (host.startsWith('[')) {
    const close = host.indexOf(']');
    if (close !== -1) {
      const rest = host.slice(close + 1);
      return { hostname: host.slice(1, close), port: rest.startsWith(':') ? portOf(rest.slice(1), defaultPort) : defaultPort };
    }
  }
  const colon = host.indexOf(':');
  // Two colons or more without brackets: a bare IPv6 address, which has no port.
  if (colon === -1 || colon !== host.lastIndexOf(':')) return { hostname: host, port: defaultPort };
  return { hostname: host.slice(0, colon), port: portOf(host.slice(colon + 1), defaultPort) };
}

/** An IPv6 address without brackets: two colons or more (Node's test when it writes a Host header). */
export function isIPv6(hostname: string): boolean {
  const colon = hostname.indexOf(':');
  return colon !== -1 && hostname.includes(':', colon + 1) && !hostname.startsWith('[');
}

/** `host:port` for the propagation blocklist and the like, with an IPv6 address in brackets. */
export function hostPort(hostname: string, port: number): string {
  return isIPv6(hostname) ? `[${hostname}]:${port}` : `${hostname}:${port}`;
}

/** The Host header (HTTP/2's `:authority`) Node writes for `hostname` and `port`: no port when it is the scheme's default. */
export function hostHeader(hostname: string, port: number, defaultPort: number): string {
  return port === defaultPort ? (isIPv6(hostname) ? `[${hostname}]` : hostname) : hostPort(hostname, port);
}
