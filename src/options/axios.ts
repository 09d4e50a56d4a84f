/** The axios hook's options (declared in ../hooks/axios, read by ../tracing/axios): the HTTP client core's. */
import type { HttpClientOptions } from '../cores/http-client';

export type AxiosOptions = HttpClientOptions;
