/**
 * SQL sanitising for `db.statement`: literals become `?`, comments go, `$1` placeholders and identifiers
 * stay. One pass over the text, no regular-expression backtracking on user input.
 */

function isIdentStart(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 || c >= 128;
}
function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}
function isIdentPart(c: number): boolean {
  return isIdentStart(c) || isDigit(c) || c === 36;
}

/** End index (exclusive) of a quoted run starting at `start` (the opening quote), honouring doubled quotes. */
function skipQuoted(sql: string, start: number, quote: number, backslashEscapes: boolean): number {
  let i = start + 1;
  while (i < sql.length) {
    const c = sql.charCodeAt(i);
    if (backslashEscapes && c === 92) {
      i += 2;
      continue;
    }
    if (c === quote) {
      if (sql.charCodeAt(i + 1) === quote) {
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
  if (sql.charCodeAt(j) === 36) return '$$';
  if (!isIdentStart(sql.charCodeAt(j))) return undefined;
  while (j < sql.length && (isIdentStart(sql.charCodeAt(j)) || isDigit(sql.charCodeAt(j)))) j++;
  return sql.charCodeAt(j) === 36 ? sql.slice(i, j + 1) : undefined;
}

export function sanitizeSql(sql: string): string {
  let out = '';
  let i = 0;
  const n = sql.length;
  while (i < n) {
    const c = sql.charCodeAt(i);
    // -- line comment
    if (c === 45 && sql.charCodeAt(i + 1) === 45) {
      const end = sql.indexOf('\n', i);
      i = end === -1 ? n : end;
      continue;
    }
    // /* block comment */ (PostgreSQL nests them)
    if (c === 47 && sql.charCodeAt(i + 1) === 42) {
      let depth = 1;
      i += 2;
      while (i < n && depth > 0) {
        if (sql.charCodeAt(i) === 47 && sql.charCodeAt(i + 1) === 42) { depth++; i += 2; }
        else if (sql.charCodeAt(i) === 42 && sql.charCodeAt(i + 1) === 47) { depth--; i += 2; }
        else i++;
      }
      out += ' ';
      continue;
    }
    // 'string'
    if (c === 39) {
      i = skipQuoted(sql, i, 39, false);
      out += '?';
      continue;
    }
    // "quoted identifier": kept
    if (c === 34) {
      const end = skipQuoted(sql, i, 34, false);
      out += sql.slice(i, end);
      i = end;
      continue;
    }
    if (c === 36) {
      // $1 placeholder: kept
      if (isDigit(sql.charCodeAt(i + 1))) {
        let j = i + 1;
        while (j < n && isDigit(sql.charCodeAt(j))) j++;
        out += sql.slice(i, j);
        i = j;
        continue;
      }
      // $tag$ dollar-quoted string $tag$
      const tag = dollarTag(sql, i);
      if (tag !== undefined) {
        const end = sql.indexOf(tag, i + tag.length);
        i = end === -1 ? n : end + tag.length;
        out += '?';
        continue;
      }
    }
    if (isIdentStart(c)) {
      let j = i + 1;
      while (j < n && isIdentPart(sql.charCodeAt(j))) j++;
      // E'…' (backslash escapes), B'…', X'…', U&'…' prefixed literals
      const word = sql.slice(i, j);
      if (sql.charCodeAt(j) === 39 && /^(e|b|x|n)$/i.test(word)) {
        i = skipQuoted(sql, j, 39, word === 'e' || word === 'E');
        out += '?';
        continue;
      }
      if (/^u$/i.test(word) && sql.charCodeAt(j) === 38 && sql.charCodeAt(j + 1) === 39) {
        i = skipQuoted(sql, j + 1, 39, false);
        out += '?';
        continue;
      }
      out += word;
      i = j;
      continue;
    }
    // number: 42, 4.2, .5, 1e10, 0x1F
    if (isDigit(c) || (c === 46 && isDigit(sql.charCodeAt(i + 1)))) {
      let j = i + 1;
      while (j < n) {
        const d = sql.charCodeAt(j);
        if (isDigit(d) || d === 46 || d === 95 || ((d === 101 || d === 69) && j + 1 < n) || ((d === 43 || d === 45) && (sql.charCodeAt(j - 1) | 32) === 101) || isIdentStart(d)) j++;
        else break;
      }
      out += '?';
      i = j;
      continue;
    }
    out += sql[i];
    i++;
  }
  // IN (?, ?, ?) and VALUES (?, ?) lists say nothing more as one `?`.
  return out.replace(/\(\s*\?(?:\s*,\s*\?)+\s*\)/g, '(?)').replace(/\s+/g, ' ').trim();
}

/** The statement's first keyword (SELECT, INSERT, …), upper-cased, for the operation name. */
export function sqlVerb(sql: string): string | undefined {
  const match = /^[\s(]*([A-Za-z]+)/.exec(sql);
  return match === null ? undefined : match[1].toUpperCase();
}
