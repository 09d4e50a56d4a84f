/** The fetch hook's options (declared in ../hooks/fetch, read by ../tracing/fetch). */
import type { HttpClientOptions } from '../cores/http-client';

export interface FetchOptions extends HttpClientOptions {
  /**
   * Finish the span when the response headers arrive instead of when the body is done
   * (default false). Useful when response bodies are often left unread.
   */
  finishOnHeaders?: boolean;
}
