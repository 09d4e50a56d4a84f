/** URL helpers that avoid a full parse on the hot path. */

/** Removes `user:password@` from an absolute URL string. */
export function stripCredentials(url: string): string {
  const scheme = url.indexOf('//');
  if (scheme === -1) return url;
  const start = scheme + 2;
  let end = url.length;
  for (let i = start; i < url.length; i++) {
    const c = url.charCodeAt(i);
    if (c === 47 /* / */ || c === 63 /* ? */ || c === 35 /* # */) {
      end = i;
      break;
    }
  }
  const at = url.lastIndexOf('@', end);
  return at >= start ? url.slice(0, start) + url.slice(at + 1) : url;
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

/** Host and port of an authority such as `example.com:8080` or `[::1]:80`. */
export function splitHostPort(authority: string, defaultPort: number): { hostname: string; port: number } {
  const bracket = authority.lastIndexOf(']');
  const colon = authority.lastIndexOf(':');
  if (colon > bracket && colon !== -1) {
    const port = Number(authority.slice(colon + 1));
    return { hostname: authority.slice(0, colon), port: Number.isFinite(port) && port > 0 ? port : defaultPort };
  }
  return { hostname: authority, port: defaultPort };
}
