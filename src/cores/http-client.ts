/**
 * The HTTP-client core shared by http, fetch and axios: whether a call is traced and under what, its span
 * and tags (`http.url` without credentials, query only when asked), header injection through a carrier
 * that never adds a second copy of a header the request already has, status and errors, and the rule
 * that one logical call makes one span: a transport (http, undici) running inside a traced client call
 * (axios) adds to that call's span instead of making its own, unless `nestedClientSpans`.
 */
import { Tags } from 'opentracing';
import type { Span } from 'opentracing';
import { isSuppressed, OutboundCall, outboundOf, storage } from '../context';
import { exportTargetUrls } from '../export-targets';
import { reportOnce } from '../logger';
import { compileMatcher } from '../matchers';
import type { Matcher } from '../matchers';
import type { ActiveHook } from '../registry/define';
import { clientParent, finishSpan, injectHeaders, logEvent, markError, runUserHook, setTag, startClientSpanUnder } from '../spans';
import { guardedErrorCopy } from './db-call';
import type { CommonHookOptions } from '../spans';
import { authorityOf, hostPort, redactText, spanUrlOf, splitHostPort } from '../url';
import { ownCopy } from '../own-copy';
import { headersToAdd } from '../trace-headers';

export interface HttpClientOptions extends CommonHookOptions {
  /** Keep the query string in `http.url` (default false). */
  captureQueryString?: boolean;
  /** Outgoing requests whose URL (without credentials) matches are not traced at all. */
  ignoreOutgoing?: Matcher | Matcher[];
  /** Hosts (hostname or hostname:port) that get a span but no trace headers. */
  propagationBlocklist?: Matcher | Matcher[];
  /**
   * When a traced client (axios) runs over a traced transport (http, fetch), keep a span for
   * each level (default false: the transport adds to the outer span and makes none of its own).
   */
  nestedClientSpans?: boolean;
  /** Runs when a call's span starts, with the request's method, URL (as `http.url` shows it) and headers. */
  requestHook?: (span: Span, request: HttpClientRequestInfo) => void;
  /** Runs when the response's head arrives, with its status and headers. */
  responseHook?: (span: Span, response: HttpClientResponseInfo) => void;
  /** A response header that names the callee (e.g. `x-service-name`): its value becomes `peer.service`. */
  peerServiceHeader?: string;
}

/** What a `requestHook` is told of a request. */
export interface HttpClientRequestInfo {
  readonly method: string;
  /** As `http.url` shows it: never credentials; the query only with `captureQueryString`. */
  readonly url: string;
  /** The request's headers as the library holds them (an object, an array, or a `Headers`), trace headers included. */
  readonly headers: unknown;
}

/** What a `responseHook` is told of a response. */
export interface HttpClientResponseInfo {
  readonly status: number;
  /** The response's headers as the library gives them. */
  readonly headers: unknown;
}

/** One install of an HTTP client hook: its options, matchers compiled once. */
export interface HttpClientState<O extends HttpClientOptions = HttpClientOptions> {
  readonly hook: ActiveHook<O>;
  readonly ignore: ((url: string) => boolean) | undefined;
  readonly blocked: ((host: string) => boolean) | undefined;
}

export function httpClientState<O extends HttpClientOptions>(hook: ActiveHook<O>): HttpClientState<O> {
  return { hook, ignore: compileMatcher(hook.options.ignoreOutgoing), blocked: compileMatcher(hook.options.propagationBlocklist) };
}

/** Where a request goes. `url` is absolute and may still hold credentials and a query string. */
export interface HttpTarget {
  readonly method: string;
  readonly url: string;
  /** The host connected to (any `user:password@` is dropped) and its port. */
  readonly hostname: string;
  readonly port: number;
}

/** The target of a request to the absolute `url`; the port defaults by scheme. */
export function targetOfUrl(method: string, url: string): HttpTarget {
  const { hostname, port } = splitHostPort(authorityOf(url), /^(https|wss):/i.test(url) ? 443 : 80);
  return { method: method.toUpperCase(), url, hostname, port };
}

/** The log event of a failure: `cancel`, `timeout`, `abort` or `error`. */
function failureEvent(err: unknown): string {
  const e = err as { name?: unknown; code?: unknown; __CANCEL__?: unknown } | null | undefined;
  if (e === null || typeof e !== 'object') return 'error';
  try {
    if (e.__CANCEL__ === true || e.name === 'CanceledError' || e.code === 'ERR_CANCELED') return 'cancel';
    if (e.code === 'ECONNABORTED' || e.code === 'ETIMEDOUT' || e.name === 'TimeoutError') return 'timeout';
    return e.name === 'AbortError' ? 'abort' : 'error';
  } catch {
    // An app's error or abort reason whose fields throw when read (a getter, a Proxy): only the event's kind is lost.
    return 'error';
  }
}

/**
 * `result.then(onOk, onErr)`, the rejection passed on: what a wrapper hands back, never `result` with a
 * side `.then` (V8 stops collecting the caller's async frames at a promise with two reactions). Anything
 * else comes back as it is, after `onOther`.
 */
export function chained(result: any, onOk: (value: any) => void, onErr: (err: any) => void, onOther: () => void): any {
  if (result === null || typeof result?.then !== 'function') {
    onOther();
    return result;
  }
  return result.then(
    (value: unknown) => {
      onOk(value);
      return value;
    },
    (err: unknown) => {
      onErr(err);
      throw err;
    },
  );
}

/** The headers of a request being built, as the core reads and writes them. */
export interface HeaderCarrier {
  /** Whether the request has this header already (the caller's own, or an outer hook's); `name` is lower case. */
  has(name: string): boolean;
  set(name: string, value: string): void;
}

/** The host as `peer.hostname` shows it: no credentials, no IPv6 brackets. */
function peerHostname(target: HttpTarget): string {
  const host = target.hostname;
  // A plain name or IPv4 address (most) is as it is.
  if (host.indexOf('@') === -1 && host.indexOf('[') === -1 && host.indexOf(':') === -1) return host;
  return splitHostPort(host, target.port).hostname;
}

function isBlocked(state: HttpClientState, hostname: string, port: number): boolean {
  return state.blocked !== undefined && (state.blocked(hostname) || state.blocked(hostPort(hostname, port)));
}

const NO_SECRETS: readonly string[] = [];

/**
 * The fields of a client's error that a span logs: what says which failure it was (Node's system error
 * fields, a status, the `cause` that failed). Not what carries the exchange: undici's ResponseError's
 * `body` (the server's text, echoing the request's values) and `headers`, axios's `config`, `request`, `response`.
 */
const LOGGED_FIELDS = new Set(['name', 'message', 'stack', 'code', 'errno', 'syscall', 'address', 'port', 'hostname', 'statusCode', 'status', 'cause']);
const isLoggedField = (name: string): boolean => LOGGED_FIELDS.has(name);

/** One outbound call: its own span, or (span undefined) the outer call it adds to. Finishes once. */
export class HttpClientCall {
  private done = false;
  /** The last response's status was 5xx (a retried call's earlier 5xx does not count). */
  private serverError = false;

  constructor(
    private readonly state: HttpClientState,
    readonly span: Span | undefined,
    private readonly outer: OutboundCall | undefined,
    /** The host the request goes to is in `propagationBlocklist`. */
    private blocked: boolean,
    /** What `http.url` left out of the URL, to be kept out of error messages too. */
    private readonly secrets: readonly string[],
    private readonly method = '',
    /** `http.url` of the span. */
    private readonly url = '',
  ) {}

  /** The request is ready to go (trace headers in): runs the `requestHook` with its headers, read only if there is one. */
  started(headers: () => unknown): void {
    const requestHook = this.state.hook.options.requestHook;
    const span = this.span;
    if (requestHook === undefined || span === undefined) return;
    runUserHook(`${this.state.hook.name} requestHook`, () => requestHook(span, { method: this.method, url: this.url, headers: headers() }));
  }

  /**
   * The call's next request (a redirect, a retry) goes to `describe()`'s target: whether it may carry trace
   * headers is that host's (`propagationBlocklist`), asked only when there is a blocklist.
   */
  retarget(describe: () => HttpTarget): void {
    if (this.state.blocked === undefined || this.span === undefined) return;
    const target = describe();
    this.blocked = isBlocked(this.state, peerHostname(target), target.port);
  }

  /** Whether this call still has trace headers to put on its request. */
  get injects(): boolean {
    return !this.blocked && this.state.hook.options.propagate !== false && (this.span !== undefined || this.outer?.injected !== true);
  }

  /** Puts the trace headers into `carrier`, those headersToAdd keeps (the caller's own win); returns those the tracer gave. */
  inject(carrier: HeaderCarrier): Record<string, string> | undefined {
    const span = this.span ?? this.outer?.span;
    if (!this.injects || span === undefined) return undefined;
    const headers = injectHeaders(this.state.hook, span);
    if (headers === undefined) return undefined;
    for (const name of headersToAdd(Object.keys(headers), (lower) => carrier.has(lower))) {
      try {
        carrier.set(name, headers[name]);
      } catch (err) {
        // A value the tracer produced that the library rejects: lose the header, never the request.
        reportOnce(`${this.state.hook.name}: setting header ${name}`, err);
      }
    }
    if (this.outer !== undefined) this.outer.injected = true;
    return headers;
  }

  /** The response's head: its status, and its headers for the `responseHook` and `peerServiceHeader`. */
  status(code: number, headers?: unknown): void {
    const span = this.span;
    if (span === undefined) {
      this.outer?.onStatus?.(code);
      return;
    }
    setTag(span, Tags.HTTP_STATUS_CODE, code);
    // Tagged at finish: a retry or redirect may yet bring another response.
    this.serverError = code >= 500;
    const { responseHook, peerServiceHeader } = this.state.hook.options;
    if (peerServiceHeader !== undefined && headers !== undefined) {
      const value = headerValue(headers, peerServiceHeader.toLowerCase());
      // undici gives header values as Buffers.
      const service = Buffer.isBuffer(value) ? value.toString('latin1') : value;
      if (typeof service === 'string' && service !== '') setTag(span, Tags.PEER_SERVICE, service);
    }
    if (responseHook !== undefined) runUserHook(`${this.state.hook.name} responseHook`, () => responseHook(span, { status: code, headers }));
  }

  log(event: string): void {
    if (this.span !== undefined) logEvent(this.span, { event });
  }

  /** Finishes the span the first time; `err` is logged with what `http.url` hides taken out of its text. */
  finish(err?: unknown, event = failureEvent(err)): void {
    if (this.done) return;
    this.done = true;
    if (this.span === undefined) return;
    if (this.serverError) setTag(this.span, Tags.ERROR, true);
    if (err !== undefined) {
      const redact = (text: string): string => redactText(text, this.secrets);
      // A copy with only the LOGGED_FIELDS, when the error has others.
      markError(this.span, guardedErrorCopy(err, redact, isLoggedField), event, redact);
    }
    finishSpan(this.span);
  }
}

/**
 * The first step of a call, before any tag is built: undefined when nothing is traced; an `HttpClientCall`
 * without a span when the call adds to an outer client call; else the parent of its own span (null: a root).
 * `describe` is asked here only for an outer call that has not injected yet, when a blocklist is to be checked.
 * `callback`, the request's own, tells a library's re-send of a request made under an outer call.
 */
export function callParent(state: HttpClientState, describe?: () => HttpTarget | undefined, callback?: unknown): HttpClientCall | Span | null | undefined {
  const hook = state.hook;
  if (!hook.enabled) return undefined;
  const store = storage.getStore();
  const outer = outboundOf(store, callback);
  if (outer === undefined || isSuppressed(store)) return clientParent(hook);
  if (hook.options.nestedClientSpans === true) return clientParent(hook, outer.span);
  const target = outer.injected !== true && state.blocked !== undefined ? describe?.() : undefined;
  const blocked = target !== undefined && isBlocked(state, peerHostname(target), target.port);
  return new HttpClientCall(state, undefined, outer, blocked, NO_SECRETS);
}

/** The built-in tracer's collectors (`hostPort` form): calls there are its export traffic, never traced. */
const exportTargets = new Set<string>();
/** How many of the collector URLs (../export-targets) are in `exportTargets`. */
let exportUrlsSeen = 0;

/** Whether `hostname:port` is a collector of the built-in tracer, keyed as the calls it matches are. */
function isExportTarget(hostname: string, port: number): boolean {
  const urls = exportTargetUrls();
  if (urls.length === 0) return false;
  while (exportUrlsSeen < urls.length) {
    const target = targetOfUrl('POST', urls[exportUrlsSeen++]);
    const host = peerHostname(target);
    if (host !== '') exportTargets.add(hostPort(host, target.port));
  }
  return exportTargets.has(hostPort(hostname, port));
}

/**
 * Starts a call's own span under `parent`; undefined when the URL is ignored, the call is the built-in
 * tracer's export, or the tracer fails.
 */
export function startCallUnder(state: HttpClientState, component: string, parent: Span | null, target: HttpTarget | undefined): HttpClientCall | undefined {
  if (target === undefined) return undefined;
  const hostname = peerHostname(target);
  if (isExportTarget(hostname, target.port)) return undefined;
  const keepQuery = state.hook.options.captureQueryString === true;
  const spanUrl = spanUrlOf(target.url, keepQuery);
  const withQuery = spanUrl.withQuery;
  if (state.ignore !== undefined && state.ignore(withQuery)) return undefined;
  let { url, redacted } = spanUrl;
  if (keepQuery && url.indexOf('?') !== -1) ({ url, redacted } = withoutQuerySecrets(url, redacted));
  const span = startClientSpanUnder(state.hook, parent, `HTTP ${target.method}`, {
    [Tags.COMPONENT]: component,
    [Tags.HTTP_METHOD]: target.method,
    [Tags.HTTP_URL]: url,
    [Tags.PEER_HOSTNAME]: hostname,
    [Tags.PEER_PORT]: target.port,
  });
  if (span === undefined) return undefined;
  return new HttpClientCall(state, span, undefined, isBlocked(state, hostname, target.port), redacted, target.method, url);
}

/**
 * Query parameters whose values are credentials: the signatures, tokens and credential scopes of presigned
 * URLs (AWS SigV4 and SigV2, Azure SAS, Google Cloud Storage), OpenTelemetry's redacted keys among them.
 */
const SECRET_QUERY_KEY = /^(?:x-amz-(?:signature|security-token|credential)|x-goog-(?:signature|credential)|signature|sig|awsaccesskeyid)$/i;
/** A value this short is no credential, and taking it out of error messages would take out any text like it. */
const MIN_SECRET = 6;

/**
 * A URL whose query `http.url` keeps, with the values of credential parameters replaced by `REDACTED`; the
 * values (as in the URL, and decoded) join `redacted`, to be kept out of error messages as well.
 */
function withoutQuerySecrets(url: string, redacted: readonly string[]): { url: string; redacted: readonly string[] } {
  const q = url.indexOf('?');
  const params = url.slice(q + 1).split('&');
  let secrets: string[] | undefined;
  for (let i = 0; i < params.length; i++) {
    const eq = params[i].indexOf('=');
    const value = params[i].slice(eq + 1);
    if (eq <= 0 || value === '' || !SECRET_QUERY_KEY.test(decoded(params[i].slice(0, eq)))) continue;
    params[i] = `${params[i].slice(0, eq)}=REDACTED`;
    secrets ??= redacted.slice();
    for (const secret of new Set([value, decoded(value)])) if (secret.length >= MIN_SECRET) secrets.push(secret);
  }
  return secrets === undefined ? { url, redacted } : { url: `${url.slice(0, q + 1)}${params.join('&')}`, redacted: secrets };
}

/** A query key or value decoded, as it is when it is not valid percent-encoding. */
function decoded(text: string): string {
  try {
    return decodeURIComponent(text.replace(/\+/g, ' '));
  } catch {
    return text;
  }
}

/** `callParent`, then `startCallUnder`: the whole start of a call for a hook that needs nothing between. */
export function startHttpClientCall(state: HttpClientState, component: string, describe: () => HttpTarget | undefined, callback?: unknown): HttpClientCall | undefined {
  const under = callParent(state, describe, callback);
  if (under === undefined || under instanceof HttpClientCall) return under;
  return startCallUnder(state, component, under, describe());
}

/**
 * The value of header `name` (lower case) in headers of any form: an object, a flat `[name, value, …]`
 * array, an array of pairs, or a raw header block (undici 5, where any value found is `true`).
 */
export function headerValue(headers: unknown, name: string): unknown {
  if (typeof headers === 'string') return `\r\n${headers.toLowerCase()}`.includes(`\r\n${name}:`) || undefined;
  if (Array.isArray(headers)) {
    const pairs = Array.isArray(headers[0]);
    for (let i = 0; i < headers.length; i += pairs ? 1 : 2) {
      const entry = pairs ? (headers[i] as unknown[]) : headers;
      const at = pairs ? 0 : i;
      const key = entry[at];
      // Only a name of the same length is lower-cased: no new string for each header of each request.
      if (typeof key === 'string' ? key.length === name.length && key.toLowerCase() === name : String(key).toLowerCase() === name) return entry[at + 1];
    }
    return undefined;
  }
  if (headers === null || typeof headers !== 'object') return undefined;
  // A fetch `Headers` (or axios's AxiosHeaders, whose get is case-insensitive too).
  if (typeof (headers as { get?: unknown }).get === 'function' && !(headers instanceof Map)) return (headers as { get(name: string): unknown }).get(name) ?? undefined;
  for (const key of Object.keys(headers)) if (key.toLowerCase() === name) return (headers as Record<string, unknown>)[key];
  return undefined;
}

/**
 * A copy of request headers in any form Node takes (an object, a flat array, or an array of pairs), read
 * once, to inject into before the request is built.
 */
export class HeaderCopy implements HeaderCarrier {
  readonly value: Record<string, unknown> | unknown[];

  constructor(headers: unknown) {
    if (!Array.isArray(headers)) this.value = headers !== null && typeof headers === 'object' ? ownCopy(headers) : {};
    else {
      const copy = headers.length > 0 && Array.isArray(headers[0]) ? headers.map((entry) => [entry[0], entry[1]]) : headers.slice();
      // What an array carries beside its entries (http2's raw headers: the `sensitiveHeaders` list), as it is, getters unread.
      for (const key of Object.getOwnPropertySymbols(headers)) Object.defineProperty(copy, key, Object.getOwnPropertyDescriptor(headers, key)!);
      this.value = copy;
    }
  }

  has(name: string): boolean {
    return headerValue(this.value, name) !== undefined;
  }

  set(name: string, value: string): void {
    const headers = this.value;
    if (!Array.isArray(headers)) headers[name] = value;
    else if (Array.isArray(headers[0])) headers.push([name, value]);
    // An odd flat array is one Node rejects: leave it as the caller made it, so the error stays theirs.
    else if (headers.length % 2 === 0) headers.push(name, value);
  }
}
