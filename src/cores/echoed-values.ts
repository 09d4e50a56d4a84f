/**
 * A database server's error text without the values it echoes, whichever server wrote it: the mongodb
 * hook's rule, which graphql also applies to the errors its resolvers pass on (a database error reaches
 * the operation span with the values its own span leaves out).
 */
import { redactErrorText } from './db-call';

/** A number right after `: ` (`… with no onError value: 4111111111111111`), as MongoDB prints a value it could not convert. */
const NUMBER_AFTER_COLON = /(:[ \t]+)[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:e[-+]?\d+)?(?![\w.])/gi;
/** What `{ … }` is cut into: brackets, separators, and the runs between them. */
const OBJECT_TOKEN = /[{}[\],:\n]|[^{}[\],:\n]+/g;
const PUNCTUATION = new Set(['{', '}', '[', ']', ',', ':', '\n']);

/**
 * The text with the values the server echoes taken out: quoted ones (`'…'`, `"…"`) and SQL rows as
 * `redactErrorText` does; inside `{ … }` (MongoDB's `dup key: { email: "a@b.c", n: 5 }`, nested or with
 * lists) everything but the keys; and a number after `: `.
 */
export function redactEchoedValues(text: string): string {
  const quoted = redactErrorText(text);
  return (quoted.includes('{') ? redactObjectValues(quoted) : quoted).replace(NUMBER_AFTER_COLON, '$1?');
}

/** Inside `{ … }` (to the line's end at most), each run that is not a key (followed by `:`) becomes `?`. */
function redactObjectValues(text: string): string {
  const tokens = text.match(OBJECT_TOKEN) ?? [];
  let depth = 0;
  let out = '';
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i];
    if (token === '{') depth++;
    else if (token === '}') depth = Math.max(0, depth - 1);
    else if (token === '\n') depth = 0;
    else if (depth > 0 && !PUNCTUATION.has(token) && tokens[i + 1] !== ':' && token.trim() !== '') {
      out += token.replace(/^(\s*)[^]*?(\s*)$/, '$1?$2');
      continue;
    }
    out += token;
  }
  return out;
}
