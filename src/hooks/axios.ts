import { Tags } from 'opentracing';
import type { Span } from 'opentracing';
import { AxiosOptions, compileMatcher } from '../config';
import { OutboundCall, storage, withOutbound } from '../context';
import { wrap, unwrap } from '../patch';
import type { HookDefinition } from '../registry';
import { ActiveHook, finishSpan, injectHeaders, markError, setTag, startClientSpan } from '../spans';
import { splitHostPort, urlForSpan } from '../url';

/**
 * axios 1.x and 0.x. A request interceptor registered before any of the app's runs last, when the
 * URL and headers are final; it puts a traced adapter into that request's own config (never the
 * caller's). The adapter makes the span, injects the headers and runs the transport (http or fetch)
 * with the span marked as the outbound call, so the transport adds to it instead of making a second.
 */

type Adapter = (config: any) => Promise<any>;

interface AxiosState {
  hook: ActiveHook<AxiosOptions>;
  axios: any;
  ignore: ((url: string) => boolean) | undefined;
  blockPropagation: ((host: string) => boolean) | undefined;
  enabled: boolean;
}

/** Kept in the request config, which axios-retry passes back: lets a retry replace our old headers. */
const INJECTED_KEY = '__opentracingClientHooksInjected';

const tracedAdapters = new WeakMap<object, Map<Adapter, Adapter>>();
/** Traced adapter -> the adapter it traces: a retried config comes back holding ours. */
const untraced = new WeakMap<Adapter, Adapter>();

function resolveAdapter(s: AxiosState, adapter: unknown, config: unknown): Adapter | undefined {
  if (typeof adapter === 'function') return adapter as Adapter;
  if (typeof s.axios.getAdapter === 'function') {
    try {
      return s.axios.getAdapter(adapter ?? s.axios.defaults?.adapter, config);
    } catch {
      return undefined;
    }
  }
  return undefined;
}

function setHeader(config: any, name: string, value: string): void {
  const headers = config.headers;
  if (headers !== null && typeof headers === 'object' && typeof headers.set === 'function') headers.set(name, value);
  else config.headers = { ...(headers ?? {}), [name]: value };
}

function getHeader(config: any, name: string): unknown {
  const headers = config.headers;
  if (headers == null) return undefined;
  if (typeof headers.get === 'function') return headers.get(name);
  for (const key of Object.keys(headers)) if (key.toLowerCase() === name) return headers[key];
  return undefined;
}

function injectInto(s: AxiosState, config: any, span: Span, host: string): void {
  if (s.blockPropagation !== undefined && s.blockPropagation(host)) return;
  const headers = injectHeaders(s.hook, span);
  if (headers === undefined) return;
  const previous: Record<string, string> | undefined = config[INJECTED_KEY];
  for (const name of Object.keys(headers)) {
    const current = getHeader(config, name.toLowerCase());
    // The user's own header wins; one we set for an earlier attempt is replaced.
    if (current !== undefined && current !== null && (previous === undefined || previous[name] !== current)) continue;
    setHeader(config, name, headers[name]);
  }
  config[INJECTED_KEY] = headers;
}

function fullUrl(s: AxiosState, config: any): string | undefined {
  try {
    const uri: string = s.axios.getUri(config);
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(uri)) return uri;
    if (config.baseURL) return new URL(uri, config.baseURL).toString();
    return uri;
  } catch {
    return undefined;
  }
}

function describeFailure(err: any): 'cancel' | 'timeout' | 'error' {
  if (err?.__CANCEL__ === true || err?.name === 'CanceledError' || err?.code === 'ERR_CANCELED') return 'cancel';
  if (err?.code === 'ECONNABORTED' || err?.code === 'ETIMEDOUT') return 'timeout';
  return 'error';
}

function tracedAdapter(s: AxiosState, adapter: Adapter): Adapter {
  let byAdapter = tracedAdapters.get(s);
  if (byAdapter === undefined) tracedAdapters.set(s, (byAdapter = new Map()));
  let traced = byAdapter.get(adapter);
  if (traced !== undefined) return traced;
  traced = function tracedAxiosAdapter(config: any): Promise<any> {
    const store = storage.getStore();
    if (!s.enabled || store?.suppressed === true) return adapter(config);
    const url = fullUrl(s, config);
    if (url === undefined || (s.ignore !== undefined && s.ignore(urlForSpan(url, true)))) return adapter(config);
    const method = String(config.method ?? 'get').toUpperCase();
    let parsed: URL | undefined;
    try {
      parsed = new URL(url);
    } catch {
      parsed = undefined;
    }
    const tags: Record<string, unknown> = {
      [Tags.COMPONENT]: 'axios',
      [Tags.HTTP_METHOD]: method,
      [Tags.HTTP_URL]: parsed !== undefined ? urlForSpan(parsed, s.hook.options.captureQueryString === true) : urlForSpan(url, false),
    };
    if (parsed !== undefined) {
      const { hostname, port } = splitHostPort(parsed.host, parsed.protocol === 'https:' ? 443 : 80);
      tags[Tags.PEER_HOSTNAME] = hostname;
      tags[Tags.PEER_PORT] = port;
    }
    const span = startClientSpan(s.hook, `HTTP ${method}`, tags);
    if (span === undefined) return adapter(config);
    injectInto(s, config, span, parsed?.hostname ?? '');
    let status: number | undefined;
    const outbound: OutboundCall = {
      span,
      component: 'axios',
      injected: true,
      onStatus(code) {
        status = code;
      },
    };
    let promise: Promise<any>;
    try {
      promise = withOutbound(outbound, () => adapter(config));
    } catch (err) {
      finishSpan(span, err);
      throw err;
    }
    return promise.then(
      (response) => {
        const code = response?.status ?? status;
        if (code !== undefined) setTag(span, Tags.HTTP_STATUS_CODE, code);
        if (code >= 500) setTag(span, Tags.ERROR, true);
        finishSpan(span);
        return response;
      },
      (err) => {
        const code = err?.response?.status ?? status;
        if (code !== undefined) setTag(span, Tags.HTTP_STATUS_CODE, code);
        markError(span, err, describeFailure(err));
        finishSpan(span);
        throw err;
      },
    );
  };
  byAdapter.set(adapter, traced);
  untraced.set(traced, adapter);
  return traced;
}

function makeInterceptor(s: AxiosState) {
  return function traceAxiosRequest(config: any): any {
    if (!s.enabled || config == null) return config;
    const current = typeof config.adapter === 'function' ? untraced.get(config.adapter) ?? config.adapter : config.adapter;
    const adapter = resolveAdapter(s, current, config);
    if (adapter !== undefined) config.adapter = tracedAdapter(s, adapter);
    return config;
  };
}

const interceptors = new WeakMap<object, { state: AxiosState; id: number }>();

function instrumentInstance(s: AxiosState, instance: any): void {
  if (instance?.interceptors?.request === undefined || interceptors.has(instance)) return;
  const id = instance.interceptors.request.use(makeInterceptor(s), undefined, { synchronous: true });
  interceptors.set(instance, { state: s, id });
  if (typeof instance.create === 'function' && !instance.create.__wrapped) {
    wrap(instance, 'create', (original) =>
      function create(this: unknown): any {
        const created = original.apply(this, arguments as unknown as any[]);
        try {
          instrumentInstance(s, created);
        } catch {
          // An instance we cannot instrument still works.
        }
        return created;
      },
    );
  }
}

const states = new WeakMap<object, AxiosState>();

export const axiosHook: HookDefinition = {
  name: 'axios',
  targets: [
    {
      module: 'axios',
      versions: '>=0.19.0 <2',
      patch(exports, hook: ActiveHook<AxiosOptions>) {
        const axios = exports.default ?? exports;
        const s: AxiosState = {
          hook,
          axios,
          ignore: compileMatcher(hook.options.ignoreOutgoing),
          blockPropagation: compileMatcher(hook.options.propagationBlocklist),
          enabled: true,
        };
        states.set(axios, s);
        instrumentInstance(s, axios);
      },
      unpatch(exports) {
        const axios = exports.default ?? exports;
        const s = states.get(axios);
        if (s !== undefined) s.enabled = false;
        const entry = interceptors.get(axios);
        if (entry !== undefined) {
          axios.interceptors.request.eject(entry.id);
          interceptors.delete(axios);
        }
        unwrap(axios, 'create');
      },
    },
  ],
};
