/**
 * axios 1.x and 0.x span logic (declared in ../hooks/axios). A request interceptor registered before any
 * of the app's runs last, when the URL and headers are final; it puts a traced adapter into that request's
 * own config (never the caller's). The adapter makes the span, injects the headers and runs the transport
 * (http or fetch) with the span marked as the outbound call, so the transport adds to it instead of
 * making a second. axios 1.x's http adapter sends before it returns, so it gets no context of its own
 * (see `asOutbound`); other adapters may send later and run in one.
 */
import { asOutbound, OutboundCall, withOutbound } from '../context';
import { chained, HeaderCarrier, headerValue, HttpClientCall, HttpClientState, HttpTarget, startHttpClientCall, targetOfUrl } from '../cores/http-client';
import type { PatchContext } from '../registry/define';
import { isAbsoluteUrl } from '../url';
import type { AxiosOptions } from '../options/axios';
import { applyArgs } from '../apply-args';
import { copyWith } from '../own-copy';

export { httpClientState as makeState } from '../cores/http-client';

type Adapter = (config: any) => any;

/** One install's view of one axios module. Traced adapters are cached weakly: per-request adapters come and go. */
interface Binding {
  readonly state: HttpClientState<AxiosOptions>;
  readonly axios: any;
  readonly traced: WeakMap<Adapter, Adapter>;
  /** axios 1.x's own http adapter (undefined: not known yet; null: none, axios 0.x). */
  httpAdapter?: Adapter | null;
}

/**
 * Per axios module, the install its instances' interceptors follow now. Instances outlive an uninstall
 * with our interceptor still on them (it then passes through), and follow the next install from here.
 */
interface Ref {
  binding: Binding;
}

const refs = new WeakMap<object, Ref>();
/** Instances that carry our interceptor: a reinstall must not add a second. */
const intercepted = new WeakSet<object>();
/** Traced adapter -> the adapter it traces: a retried config comes back holding ours. */
const untraced = new WeakMap<Adapter, Adapter>();
/**
 * A request config -> the `adapter` it had before the interceptor put the traced one in: it is put back
 * when the traced adapter runs, so that the config the app gets back (response.config, error.config) holds
 * its own. (A request that fails before its adapter runs keeps the traced one.)
 */
const givenAdapters = new WeakMap<object, { own: boolean; value: unknown }>();

function restoreAdapter(config: any): void {
  const given = givenAdapters.get(config);
  if (given === undefined) return;
  givenAdapters.delete(config);
  if (given.own) config.adapter = given.value;
  else delete config.adapter;
}

/** Kept in the request config, which axios-retry passes back: lets a retry replace our old headers. */
const INJECTED_KEY = '__opentracingClientHooksInjected';

/** axios's own test for a URL it will not join to `baseURL`: a scheme, or `//` alone (protocol-relative). */
const AXIOS_ABSOLUTE = /^([a-z][a-z\d+\-.]*:)?\/\//i;

/** The URL axios requests without params (its `buildFullPath`): `baseURL` joined unless the URL is absolute. */
function fullPathOf(config: any): string {
  const url = config.url;
  const base = config.baseURL;
  if (!base || (typeof url === 'string' && AXIOS_ABSOLUTE.test(url) && config.allowAbsoluteUrls !== false)) return String(url ?? '');
  return url ? `${String(base).replace(/\/+$/, '')}/${String(url).replace(/^\/+/, '')}` : String(base);
}

/**
 * Whether the span needs the query that `params` make: only to keep it (`captureQueryString`) or match it
 * (`ignoreOutgoing`), and never through the app's own `paramsSerializer`, which axios runs once itself.
 */
function needsParamsQuery(state: HttpClientState<AxiosOptions>, config: any): boolean {
  return !!config.params && config.paramsSerializer == null && (state.hook.options.captureQueryString === true || state.ignore !== undefined);
}

function targetOf(binding: Binding, config: any): HttpTarget | undefined {
  // The config is merged already: getUri would merge the defaults into it again (tens of µs a call), so
  // it is asked only to serialise params, which is axios's own job.
  const uri: string = needsParamsQuery(binding.state, config) ? binding.axios.getUri(config) : fullPathOf(config);
  if (isAbsoluteUrl(uri)) return targetOfUrl(String(config.method ?? 'get'), uri);
  return config.baseURL ? targetOfUrl(String(config.method ?? 'get'), new URL(uri, config.baseURL).toString()) : undefined;
}

/**
 * The config's headers (AxiosHeaders in 1.x, a plain object in 0.x). A header we set for an earlier
 * attempt (axios-retry hands the config back) does not count: it is replaced.
 */
function carrierOf(config: any): HeaderCarrier {
  const previous: Record<string, unknown> | undefined = config[INJECTED_KEY];
  const get = (name: string): unknown => (typeof config.headers?.get === 'function' ? config.headers.get(name) : headerValue(config.headers, name));
  return {
    has(name) {
      const current = get(name);
      return current != null && current !== headerValue(previous, name);
    },
    set(name, value) {
      if (typeof config.headers?.set === 'function') config.headers.set(name, value);
      else config.headers = copyWith(config.headers, name, value);
    },
  };
}

function httpAdapterOf(binding: Binding): Adapter | null {
  if (binding.httpAdapter === undefined) {
    try {
      binding.httpAdapter = typeof binding.axios.getAdapter === 'function' ? (binding.axios.getAdapter('http') ?? null) : null;
    } catch {
      binding.httpAdapter = null;
    }
  }
  return binding.httpAdapter as Adapter | null;
}

/**
 * Whether the adapter creates its request before it returns: axios 1.x's http adapter on its own
 * transport sends at once, unless the body needs a wait first (a form-data stream's length).
 */
function sendsAtOnce(binding: Binding, adapter: Adapter, config: any): boolean {
  if (adapter !== httpAdapterOf(binding) || config.transport != null) return false;
  const data = config.data;
  return data == null || typeof data === 'string' || data instanceof Uint8Array || data instanceof ArrayBuffer;
}

function runTraced(binding: Binding, adapter: Adapter, config: any): any {
  if (config !== null && typeof config === 'object') restoreAdapter(config);
  if (!binding.state.hook.enabled) return adapter(config);
  let call: HttpClientCall | undefined;
  try {
    call = startHttpClientCall(binding.state, 'axios', () => targetOf(binding, config));
    if (call?.injects) config[INJECTED_KEY] = call.inject(carrierOf(config));
    call?.started(() => config.headers);
  } catch {
    // A config axios itself will reject (a bad URL): it goes through untraced, and fails in axios's words.
    call?.finish();
    call = undefined;
  }
  const traced = call;
  if (traced?.span === undefined) return adapter(config);
  let transportStatus: number | undefined;
  const outbound: OutboundCall = { span: traced.span, component: 'axios', injected: true, onStatus: (code: number) => void (transportStatus = code) };
  const settle = (status: unknown, err?: unknown, headers?: unknown): void => {
    outbound.finished = true;
    const code = status ?? transportStatus;
    if (typeof code === 'number') traced.status(code, headers);
    traced.finish(err);
  };
  let result: unknown;
  try {
    // A context only for an adapter that may send later (the fetch adapter, a custom one).
    result = sendsAtOnce(binding, adapter, config) ? asOutbound(outbound, () => adapter(config)) : withOutbound(outbound, () => adapter(config));
  } catch (err) {
    outbound.finished = true;
    traced.finish(err);
    throw err;
  }
  // Not a promise: axios calls `.then` on it and fails in its own words, as untraced.
  return chained(result, (response) => settle(response?.status, undefined, response?.headers), (err) => settle(err?.response?.status, err, err?.response?.headers), () =>
    settle(undefined, new TypeError(`the axios adapter returned ${result === null ? 'null' : typeof result}, not a promise`)),
  );
}

function tracedAdapter(binding: Binding, adapter: Adapter): Adapter {
  let traced = binding.traced.get(adapter);
  if (traced === undefined) {
    traced = (config: any) => runTraced(binding, adapter, config);
    binding.traced.set(adapter, traced);
    untraced.set(traced, adapter);
  }
  return traced;
}

function resolveAdapter(axios: any, adapter: unknown, config: unknown): Adapter | undefined {
  if (typeof adapter === 'function') return adapter as Adapter;
  if (typeof axios.getAdapter !== 'function') return undefined;
  try {
    return axios.getAdapter(adapter ?? axios.defaults?.adapter, config);
  } catch {
    // axios will fail the same way itself, untraced.
    return undefined;
  }
}

function interceptor(ref: Ref) {
  return function traceAxiosRequest(config: any): any {
    const binding = ref.binding;
    if (!binding.state.hook.enabled || config == null) return config;
    const current = typeof config.adapter === 'function' ? untraced.get(config.adapter) ?? config.adapter : config.adapter;
    const adapter = resolveAdapter(binding.axios, current, config);
    if (adapter !== undefined) {
      givenAdapters.set(config, { own: Object.prototype.hasOwnProperty.call(config, 'adapter'), value: config.adapter });
      config.adapter = tracedAdapter(binding, adapter);
    }
    return config;
  };
}

/** Adds our interceptor once per instance; returns its id when added. */
function intercept(ref: Ref, instance: any): number | undefined {
  if (instance?.interceptors?.request === undefined || intercepted.has(instance)) return undefined;
  intercepted.add(instance);
  return instance.interceptors.request.use(interceptor(ref), undefined, { synchronous: true });
}

/** `create` of an instance: the new instance gets our interceptor, and its own `create` the same wrapper. */
function wrapCreate(ref: Ref) {
  return (original: (...args: any[]) => any) =>
    function create(this: unknown): any {
      if (!ref.binding.state.hook.enabled) return applyArgs(original, this, arguments);
      const created = applyArgs(original, this, arguments);
      try {
        intercept(ref, created);
        // Set on the app's new instance, not recorded for uninstall: like its interceptor, it passes through then.
        if (typeof created.create === 'function') created.create = wrapCreate(ref)(created.create);
      } catch {
        // An instance we cannot instrument still works.
      }
      return created;
    };
}


export function patchAxios(exports: any, { state, wrap, onUninstall }: PatchContext<AxiosOptions, HttpClientState<AxiosOptions>>): void {
  const axios = exports.default ?? exports;
  const binding: Binding = { state, axios, traced: new WeakMap() };
  let ref = refs.get(axios);
  if (ref === undefined) refs.set(axios, (ref = { binding }));
  else ref.binding = binding;
  const id = intercept(ref, axios);
  if (id !== undefined) {
    onUninstall(() => {
      axios.interceptors.request.eject(id);
      intercepted.delete(axios);
    });
  }
  wrap(axios, 'create', wrapCreate(ref));
}
