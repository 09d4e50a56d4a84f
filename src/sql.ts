/**
 * SQL sanitising for `db.statement`: literals become `?`, comments go, placeholders and identifiers stay.
 * One forward pass over the text with no regular expression run on it, so its cost is linear in its
 * length whatever the input. Dialect-aware: PostgreSQL (dollar quotes, `E''`, nested comments, `$1`)
 * and MySQL/MariaDB (backtick identifiers, `#` and `-- ` comments, backslash escapes, `"` strings).
 */

export type SqlDialect = 'postgres' | 'mysql';

const QUOTE = 39; // '
const DOUBLE_QUOTE = 34; // "
const BACKTICK = 96; // `
const BACKSLASH = 92;
const DOLLAR = 36;

function isIdentStart(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 || c >= 128;
}
function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}
function isIdentPart(c: number): boolean {
  return isIdentStart(c) || isDigit(c) || c === DOLLAR;
}
function isSpace(c: number): boolean {
  return c === 32 || (c >= 9 && c <= 13);
}

/** End index (exclusive) of a quoted run starting at `start` (the opening quote), honouring doubled quotes. */
function skipQuoted(sql: string, start: number, quote: number, backslashEscapes: boolean, echoed = false): number {
  let i = start + 1;
  while (i < sql.length) {
    const c = sql.charCodeAt(i);
    if (backslashEscapes && c === BACKSLASH) {
      i += 2;
      continue;
    }
    if (c === quote) {
      // A server echoes a value unescaped: there, a quote followed by a letter or digit is inside it.
      if (sql.charCodeAt(i + 1) === quote || (echoed && isIdentPart(sql.charCodeAt(i + 1)))) {
        i += 2;
        continue;
      }
      return i + 1;
    }
    i++;
  }
  return sql.length;
}

/** A dollar-quote tag (`$$` or `$tag$`) starting at `i`, or undefined. */
function dollarTag(sql: string, i: number): string | undefined {
  let j = i + 1;
  if (sql.charCodeAt(j) === DOLLAR) return '$$';
  if (!isIdentStart(sql.charCodeAt(j))) return undefined;
  while (j < sql.length && (isIdentStart(sql.charCodeAt(j)) || isDigit(sql.charCodeAt(j)))) j++;
  return sql.charCodeAt(j) === DOLLAR ? sql.slice(i, j + 1) : undefined;
}

/** Whether a line comment starts at `i`: `--` (MySQL: followed by a space or the end), or MySQL's `#`. */
function lineCommentAt(sql: string, i: number, mysql: boolean): boolean {
  const c = sql.charCodeAt(i);
  if (c === 45 && sql.charCodeAt(i + 1) === 45) {
    if (!mysql) return true;
    const next = sql.charCodeAt(i + 2);
    return Number.isNaN(next) || isSpace(next);
  }
  return mysql && c === 35;
}

/** End of a block comment starting at `i` (PostgreSQL nests them, MySQL does not). */
function skipBlockComment(sql: string, i: number, nested: boolean): number {
  const n = sql.length;
  let depth = 1;
  i += 2;
  while (i < n && depth > 0) {
    if (nested && sql.charCodeAt(i) === 47 && sql.charCodeAt(i + 1) === 42) {
      depth++;
      i += 2;
    } else if (sql.charCodeAt(i) === 42 && sql.charCodeAt(i + 1) === 47) {
      depth--;
      i += 2;
    } else i++;
  }
  return i;
}

/** End of a numeric literal starting at `i`: 42, 4.2, .5, 1e10, 1e-3, 0x1F, 1_000. */
function skipNumber(sql: string, i: number): number {
  const n = sql.length;
  let j = i + 1;
  while (j < n) {
    const d = sql.charCodeAt(j);
    if (isDigit(d) || d === 46 || d === 95 || isIdentStart(d)) j++;
    else if ((d === 43 || d === 45) && (sql.charCodeAt(j - 1) | 32) === 101 && !(sql.charCodeAt(i + 1) === 120 || sql.charCodeAt(i + 1) === 88)) j++;
    else break;
  }
  return j;
}

/** A statement as a span records it: sanitised, and its leading verb (`SELECT`), the operation name's label. */
export interface SanitizedStatement {
  readonly statement: string;
  readonly verb: string | undefined;
}

/**
 * Statements seen lately, per dialect: an app runs the same few statements (placeholders, not values) again and
 * again, so each is sanitised once. Bounded in count and length (the oldest goes first), never per call.
 */
const STATEMENT_CACHE_SIZE = 256;
const STATEMENT_CACHE_MAX_LENGTH = 2048;
const statementCaches: Record<SqlDialect, Map<string, SanitizedStatement>> = { postgres: new Map(), mysql: new Map() };

/** `sanitizeSql` and `sqlVerb` of `sql`, from the cache when the statement was seen lately. */
export function sanitizedStatement(sql: string, dialect: SqlDialect): SanitizedStatement {
  const cache = statementCaches[dialect];
  const cached = cache.get(sql);
  if (cached !== undefined) return cached;
  const statement = sanitizeSql(sql, dialect);
  const result = { statement, verb: sqlVerb(statement) };
  if (sql.length <= STATEMENT_CACHE_MAX_LENGTH) {
    if (cache.size >= STATEMENT_CACHE_SIZE) cache.delete(cache.keys().next().value as string);
    cache.set(sql, result);
  }
  return result;
}

export function sanitizeSql(sql: string, dialect: SqlDialect = 'postgres'): string {
  const mysql = dialect === 'mysql';
  const parts: string[] = [];
  let i = 0;
  const n = sql.length;
  while (i < n) {
    const c = sql.charCodeAt(i);
    if (lineCommentAt(sql, i, mysql)) {
      const end = sql.indexOf('\n', i);
      i = end === -1 ? n : end;
      continue;
    }
    if (c === 47 && sql.charCodeAt(i + 1) === 42) {
      i = skipBlockComment(sql, i, !mysql);
      parts.push(' ');
      continue;
    }
    if (c === QUOTE) {
      i = skipQuoted(sql, i, QUOTE, mysql);
      parts.push('?');
      continue;
    }
    if (c === DOUBLE_QUOTE) {
      // A quoted identifier in PostgreSQL (kept); a string literal in MySQL (redacted).
      const end = skipQuoted(sql, i, DOUBLE_QUOTE, mysql);
      parts.push(mysql ? '?' : sql.slice(i, end));
      i = end;
      continue;
    }
    if (c === BACKTICK && mysql) {
      const end = skipQuoted(sql, i, BACKTICK, false);
      parts.push(sql.slice(i, end));
      i = end;
      continue;
    }
    if (c === DOLLAR && !mysql) {
      // $1 placeholder: kept
      if (isDigit(sql.charCodeAt(i + 1))) {
        let j = i + 1;
        while (j < n && isDigit(sql.charCodeAt(j))) j++;
        parts.push(sql.slice(i, j));
        i = j;
        continue;
      }
      // $tag$ dollar-quoted string $tag$
      const tag = dollarTag(sql, i);
      if (tag !== undefined) {
        const end = sql.indexOf(tag, i + tag.length);
        i = end === -1 ? n : end + tag.length;
        parts.push('?');
        continue;
      }
    }
    if (isIdentStart(c)) {
      let j = i + 1;
      while (j < n && isIdentPart(sql.charCodeAt(j))) j++;
      const next = sql.charCodeAt(j);
      // Prefixed literals: E'…' (backslash escapes), B'…', X'…', N'…', U&'…', and MySQL's _charset'…'.
      if (next === QUOTE && j - i === 1) {
        const prefix = sql.charCodeAt(i) | 32;
        if (prefix === 101 || prefix === 98 || prefix === 120 || prefix === 110) {
          i = skipQuoted(sql, j, QUOTE, mysql || prefix === 101);
          parts.push('?');
          continue;
        }
      }
      if (next === QUOTE && mysql && c === 95) {
        i = skipQuoted(sql, j, QUOTE, true);
        parts.push('?');
        continue;
      }
      if (j - i === 1 && (c | 32) === 117 && next === 38 && sql.charCodeAt(j + 1) === QUOTE) {
        i = skipQuoted(sql, j + 1, QUOTE, false);
        parts.push('?');
        continue;
      }
      parts.push(sql.slice(i, j));
      i = j;
      continue;
    }
    if (isDigit(c) || (c === 46 && isDigit(sql.charCodeAt(i + 1)))) {
      i = skipNumber(sql, i);
      parts.push('?');
      continue;
    }
    parts.push(sql[i]);
    i++;
  }
  return collapse(parts.join(''));
}

/**
 * Folds white space to single spaces and a parenthesised list of only `?` (IN lists, VALUES rows) to
 * `(?)`, in one pass: the list's end is found once, so no input makes it quadratic.
 */
function collapse(text: string): string {
  let out = '';
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (isSpace(c)) {
      while (i < n && isSpace(text.charCodeAt(i))) i++;
      if (out.length > 0 && i < n) out += ' ';
      continue;
    }
    if (c === 40) {
      const end = placeholderListEnd(text, i);
      if (end !== -1) {
        out += '(?)';
        i = end;
        continue;
      }
    }
    out += text[i];
    i++;
  }
  return out;
}

/** If `(?, ?, …)` with two or more `?` starts at `i`, the index after its `)`, else -1. */
function placeholderListEnd(text: string, i: number): number {
  const n = text.length;
  let j = i + 1;
  let count = 0;
  for (;;) {
    while (j < n && isSpace(text.charCodeAt(j))) j++;
    if (text.charCodeAt(j) !== 63) return -1;
    count++;
    j++;
    while (j < n && isSpace(text.charCodeAt(j))) j++;
    const d = text.charCodeAt(j);
    if (d === 41) return count >= 2 ? j + 1 : -1;
    if (d !== 44) return -1;
    j++;
  }
}

/** The statement's first keyword (SELECT, INSERT, …), upper-cased, for the operation name. */
export function sqlVerb(sql: string): string | undefined {
  let i = 0;
  const n = sql.length;
  while (i < n && (isSpace(sql.charCodeAt(i)) || sql.charCodeAt(i) === 40)) i++;
  let j = i;
  while (j < n && ((sql.charCodeAt(j) | 32) >= 97 && (sql.charCodeAt(j) | 32) <= 122)) j++;
  return j > i ? sql.slice(i, j).toUpperCase() : undefined;
}

/** Whether the quote at `i` is the apostrophe of an English contraction (`doesn't`, `can't`), not a literal's start. */
function isContraction(text: string, i: number): boolean {
  return (
    (text.charCodeAt(i - 1) | 32) === 110 &&
    isIdentStart(text.charCodeAt(i - 2)) &&
    (text.charCodeAt(i + 1) | 32) === 116 &&
    !isIdentPart(text.charCodeAt(i + 2))
  );
}

/**
 * A database error's message with every quoted run (`'…'`, `"…"`, with backslash escapes) and number
 * replaced by `?`: servers echo values in both quote styles (`Duplicate entry 'a@b' for key`, `invalid
 * input syntax for type integer: "abc"`), and knex puts the statement, values inlined, in front.
 * White space and placeholders (`$1`) stay.
 */
export function redactSqlMessage(text: string): string {
  let out = '';
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text.charCodeAt(i);
    if ((c === QUOTE && !isContraction(text, i)) || c === DOUBLE_QUOTE) {
      i = skipQuoted(text, i, c, true, true);
      out += '?';
      continue;
    }
    if (isIdentStart(c) || c === DOLLAR) {
      let j = i + 1;
      while (j < n && isIdentPart(text.charCodeAt(j))) j++;
      out += text.slice(i, j);
      i = j;
      continue;
    }
    if (isDigit(c)) {
      i = skipNumber(text, i);
      out += '?';
      continue;
    }
    out += text[i];
    i++;
  }
  return out;
}
