/** The http hook's options (declared in ../hooks/http, read by ../tracing/http): the HTTP client core's. */
import type { HttpClientOptions } from '../cores/http-client';

export type HttpOptions = HttpClientOptions;
