/**
 * Trace headers that cannot be valid for their format are dropped before any tracer's `extract` sees them
 * (without its trace id header, a request starts a new root trace, whatever the tracer): W3C
 * `traceparent`/`tracestate`/`baggage`, B3 single and multi, Jaeger's `uber-trace-id` and its baggage
 * (`uberctx-<key>`, `jaeger-baggage`, `jaeger-debug-id`). Bounds and character sets only, checked with
 * anchored patterns of bounded length: no tracer gets a 5,000-character id or a control character.
 */

const HEX16 = '[0-9a-f]{16}';
const HEX16_32 = '(?:[0-9a-f]{16}|[0-9a-f]{32})';

/** Checks by lower-case header name; a value that fails one is dropped. */
const CHECKS: Record<string, (value: string) => boolean> = {
  traceparent: validTraceparent,
  tracestate: validTracestate,
  baggage: validBaggage,
  b3: matcher(`^(?:[01d]|${HEX16_32}-${HEX16}(?:-[01d](?:-${HEX16})?)?)$`),
  'x-b3-traceid': matcher(`^${HEX16_32}$`),
  'x-b3-spanid': matcher(`^${HEX16}$`),
  'x-b3-parentspanid': matcher(`^${HEX16}$`),
  'x-b3-sampled': matcher('^(?:[01d]|true|false)$'),
  'x-b3-flags': matcher('^[01]$'),
  // {trace-id}:{span-id}:{parent-span-id}:{flags}, the colons perhaps URL-encoded (jaeger-client does).
  'uber-trace-id': matcher('^[0-9a-f]{1,32}(?::|%3a)[0-9a-f]{1,16}(?::|%3a)[0-9a-f]{1,16}(?::|%3a)[0-9a-f]{1,2}$', 'i'),
  // Jaeger's baggage: `k1=v1, k2=v2`, and a debug id; printable ASCII, bounded as W3C baggage is.
  'jaeger-baggage': printable(8192),
  'jaeger-debug-id': printable(256),
};

/** Jaeger's baggage item headers (`uberctx-<key>`, the value URL-encoded), one item each. */
const UBERCTX = 'uberctx-';
const validUberctx = printable(4096);

const PRINTABLE = /^[\x20-\x7e]*$/;

function printable(maxLength: number): (value: string) => boolean {
  return (value) => value.length <= maxLength && PRINTABLE.test(value);
}

const CHECK_BY_NAME = new Map(Object.entries(CHECKS));

function matcher(source: string, flags = ''): (value: string) => boolean {
  const re = new RegExp(source, flags);
  return (value) => re.test(value);
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}(-[\x21-\x7e]*)?$/;
const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);

/** W3C trace-context: version ff, zero ids and bad hex are invalid; version 00 has exactly 55 characters. */
export function validTraceparent(value: string): boolean {
  if (value.length > 512) return false;
  const m = TRACEPARENT.exec(value);
  if (m === null || m[1] === 'ff' || m[2] === ZERO_TRACE || m[3] === ZERO_SPAN) return false;
  return m[1] !== '00' || m[4] === undefined;
}

const TRACESTATE_MEMBER = /^[ \t]*(?:[a-z0-9][_0-9a-z\-*/]{0,255}|[a-z0-9][_0-9a-z\-*/]{0,240}@[a-z][_0-9a-z\-*/]{0,13})=[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[ \t]*$/;

/** W3C tracestate: at most 512 characters and 32 list members, each `key=value` of the allowed characters. */
export function validTracestate(value: string): boolean {
  if (value.length > 512) return false;
  const members = value.split(',');
  if (members.length > 32) return false;
  return members.every((member) => member.trim() === '' || TRACESTATE_MEMBER.test(member));
}

const BAGGAGE_MEMBER = /^[ \t]*[!#$%&'*+\-.^_`|~0-9A-Za-z]+[ \t]*=[ \t]*[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]*[ \t]*(?:;[\x20-\x2b\x2d-\x7e]*)?$/;

/** W3C baggage: at most 8192 bytes and 180 list members, each `key=value[;properties]` of the allowed characters. */
export function validBaggage(value: string): boolean {
  if (value.length > 8192) return false;
  const members = value.split(',');
  if (members.length > 180) return false;
  return members.every((member) => member.trim() === '' || (member.length <= 4096 && BAGGAGE_MEMBER.test(member)));
}

/**
 * `headers` as they may go to a tracer's `extract`: the same object when every trace header in it is
 * valid, else a copy without the invalid ones (the caller's object, such as `req.headers`, is never
 * changed). Names are matched in any case (message headers keep theirs). A trace header that is not a
 * string (an array of repeated headers) is invalid.
 */
export function validTraceHeaders(headers: object): object {
  const record = headers as Record<string, unknown>;
  let copy: Record<string, unknown> | undefined;
  for (const name of Object.keys(record)) {
    const lower = name.toLowerCase();
    const check = CHECK_BY_NAME.get(lower) ?? (lower.startsWith(UBERCTX) ? validUberctx : undefined);
    if (check === undefined) continue;
    const value = record[name];
    if (typeof value === 'string' && check(value)) continue;
    copy ??= { ...record };
    delete copy[name];
  }
  return copy ?? headers;
}

/** Header formats whose headers belong together: the tracer's must not be mixed with the app's own. */
function formatOf(name: string): 'w3c' | 'b3' | undefined {
  if (name === 'traceparent' || name === 'tracestate') return 'w3c';
  if (name === 'b3' || name.startsWith('x-b3-')) return 'b3';
  return undefined;
}

/** The headers that say the app sent a context of that format itself. */
const LEADS = { w3c: ['traceparent'], b3: ['b3', 'x-b3-traceid'] } as const;

/**
 * Which of the tracer's headers (`injected`) to add to a request or message whose own headers `has`
 * answers for (a lower-case name, any case on the wire). A header the app set wins, and so does its
 * format: with the app's own `traceparent`, the tracer's `tracestate` stays out; with its `b3` or
 * `X-B3-TraceId`, every B3 header of the tracer's. One request never carries two contexts; baggage and
 * other headers are each their own.
 */
export function headersToAdd(injected: readonly string[], has: (lowerName: string) => boolean): string[] {
  const seen = new Map<string, boolean>();
  const hasOnce = (name: string): boolean => {
    let found = seen.get(name);
    if (found === undefined) seen.set(name, (found = has(name)));
    return found;
  };
  const added: string[] = [];
  for (const name of injected) {
    const lower = name.toLowerCase();
    const format = formatOf(lower);
    if (format !== undefined && LEADS[format].some(hasOnce)) continue;
    if (!hasOnce(lower)) added.push(name);
  }
  return added;
}
