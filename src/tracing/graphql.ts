/**
 * graphql span logic (declared in ../hooks/graphql). One span per operation executed, named
 * `<type> <name>` (`query GetUser`) or `graphql.execute` for an anonymous one, active while its resolvers
 * run, so that their database and HTTP calls are its children. The document is recorded with every
 * literal replaced by `?` (variables' values are never in it), printed by the app's own copy of graphql.
 * Errors in the result and thrown errors mark the span; their messages are logged with values redacted.
 */
import diagnostics from 'node:diagnostics_channel';
import path from 'node:path';
import { types } from 'node:util';
import type { Span } from 'opentracing';
import { RequestContext, storage, withSpan } from '../context';
import { subscribeChannel, unsubscribeAll } from '../registry/define';
import type { ActiveHook, PatchContext, Subscription } from '../registry/define';
import { reportOnce } from '../logger';
import { clientParent, finishSpan, logEvent, markError, setTag, startSpanWith, TagMap, tracingOff } from '../spans';
import { errorNotShown, statementLimit } from '../cores/db-call';
import { redactEchoedValues } from '../cores/echoed-values';
import type { GraphqlOptions } from '../options/graphql';
import { applyArgs } from '../apply-args';

const COMPONENT = 'graphql';
const DEFAULT_MAX_DOCUMENT = 2048;
/** Errors of one result logged at most (a list field failing per item can yield thousands). */
const MAX_LOGGED_ERRORS = 10;
const LITERALS = new Set(['IntValue', 'FloatValue', 'StringValue', 'BooleanValue', 'EnumValue']);

type AnyFunction = (...args: unknown[]) => unknown;
/** Per install: whether graphql 17's channels are bound (once, whichever copy of graphql 17 loads first). */
export interface GraphqlState {
  channelsBound: boolean;
  /** The span of each of graphql 17's calls this install started one for, by the call's channel message, until it ends. */
  readonly spans: WeakMap<object, Span>;
  /** How many of those calls are open: neither ended nor garbage-collected. */
  open: number;
  /** The subscriptions that finish those spans: kept past uninstall until no call is open. */
  readonly ends: Subscription[];
  uninstalled: boolean;
}

/** The hook's state, one per install. */
export function makeState(): GraphqlState {
  return { channelsBound: false, spans: new WeakMap(), open: 0, ends: [], uninstalled: false };
}

type Ctx = PatchContext<GraphqlOptions, GraphqlState>;

interface AstNode {
  kind: string;
  [key: string]: unknown;
}

/** The app's copy of graphql's visitor and printer (never a second copy). */
interface Printer {
  visit(root: unknown, visitor: unknown): unknown;
  print(ast: unknown): string;
}

const printers = new Map<string, Printer | null>();

function printerOf(basedir: string | undefined): Printer | undefined {
  if (basedir === undefined) return undefined;
  let printer = printers.get(basedir);
  if (printer === undefined) {
    try {
      /* eslint-disable @typescript-eslint/no-require-imports */
      const { visit } = require(path.join(basedir, 'language', 'visitor.js'));
      const { print } = require(path.join(basedir, 'language', 'printer.js'));
      /* eslint-enable @typescript-eslint/no-require-imports */
      printer = typeof visit === 'function' && typeof print === 'function' ? { visit, print } : null;
    } catch {
      printer = null;
    }
    printers.set(basedir, printer);
  }
  return printer ?? undefined;
}

function isGraphql17(dir: string): boolean {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return String((require(path.join(dir, 'package.json')) as { version?: unknown }).version).startsWith('17.');
  } catch {
    return false;
  }
}

const PLACEHOLDER = Object.freeze({ kind: 'EnumValue', value: '?' });
/** Redacted documents, by document: a server parses a query once and executes it many times. */
const redactedDocuments = new WeakMap<object, string>();

/** The document printed with every literal (arguments, defaults, directives) replaced by `?`. */
export function redactDocument(document: unknown, printer: Printer): string | undefined {
  if (document === null || typeof document !== 'object') return undefined;
  let text = redactedDocuments.get(document);
  if (text === undefined) {
    const redacted = printer.visit(document, { leave: (node: AstNode) => (LITERALS.has(node.kind) ? PLACEHOLDER : undefined) });
    text = printer.print(redacted);
    redactedDocuments.set(document, text);
  }
  return text;
}

/** A name or type reference in quotes (`"$id"`, `"User.email"`, `"[Int!]!"`), as graphql's messages quote them. */
const QUOTED_NAME = /^(?:[$@]?[_A-Za-z][_0-9A-Za-z]*(?:\.[_A-Za-z][_0-9A-Za-z]*)*|[[\]_A-Za-z0-9!]+)$/;

/** Where graphql's coercion and validation messages print a value (`got invalid value …`, `found …`). */
const VALUE_STARTS = /\b(?:value|found):?[ \t]+/gi;

/**
 * Where the value that starts at `from` ends: at a `;` or the line's end that is outside its strings
 * (JSON's `"…"` with escapes, a literal's block string `"""…"""`) and brackets, or at the text's end.
 */
function valueEnd(text: string, from: number): number {
  let depth = 0;
  let at = from;
  while (at < text.length) {
    const c = text[at];
    if (c === '"') {
      at = stringEnd(text, at);
      continue;
    }
    if (c === '\n' || (c === ';' && depth === 0)) break;
    if (c === '{' || c === '[') depth++;
    else if ((c === '}' || c === ']') && depth > 0) depth--;
    at++;
  }
  return at;
}

/** Just past the string that opens at `from` (a line's end closes a broken one; an unclosed one runs to the text's end). */
function stringEnd(text: string, from: number): number {
  if (text.startsWith('"""', from)) {
    for (let at = from + 3; at < text.length; at++) {
      if (text[at] === '\\' && text.startsWith('"""', at + 1)) at += 3;
      else if (text.startsWith('"""', at)) return at + 3;
    }
    return text.length;
  }
  for (let at = from + 1; at < text.length; at++) {
    const c = text[at];
    if (c === '\\') at++;
    else if (c === '"') return at + 1;
    else if (c === '\n') return at;
  }
  return text.length;
}

/**
 * graphql 16's own reasons after a coercion message's `;` (`Variable "$x" got invalid value …; <reason>`):
 * its input coercion's, its built-in scalars' and enums' (whose values follow `value`, redacted as such),
 * and graphql 17's `found: …`. Any other reason is a custom scalar's text, which may print the value bare.
 */
const GRAPHQL_REASONS = [
  /^Expected non-nullable type "[^"]*" not to be null\.$/,
  /^Expected type "[^"]*"(?: to be an object)?\.$/,
  /^Field "[^"]*" (?:of required type "[^"]*" was not provided|must be non-null)\.$/,
  /^Field "[^"]*" is not defined by type "[^"]*"\.(?: Did you mean [^;]*\?)?$/,
  /^Exactly one key must be specified for OneOf type "[^"]*"\.$/,
  /^(?:Int|Float|String|Boolean|ID) cannot represent [-a-z0-9 ]*value: /,
  /^Enum "[^"]*" cannot represent non-string value: /,
  /^Value (?:"(?:[^"\\\n]|\\.)*"|\?) does not exist in "[^"]*" enum\./,
  /^found: /,
];
/** A custom scalar's error that is no GraphQLError: graphql 16 puts its own words before the scalar's text. */
const SCALAR_REASON = /^Expected type "[^"]*"\. /;

/** A coercion message's reason (see GRAPHQL_REASONS): graphql's kept, a scalar's text replaced by `?`. */
function redactReason(reason: string): string {
  const lead = /^\s*/.exec(reason)![0];
  const text = reason.slice(lead.length);
  const scalar = SCALAR_REASON.exec(text);
  if (scalar !== null) return lead + scalar[0] + '?';
  return lead + (GRAPHQL_REASONS.some((own) => own.test(text)) ? redactValues(text) : '?');
}

/**
 * The text with the value that follows each `value`/`found` (graphql's coercion messages) replaced by
 * `?` as a whole, its strings included, to the `;` or line end after it; what follows such a `;` is the
 * reason the value was refused (see redactReason).
 */
function redactValues(text: string): string {
  let redacted = '';
  let copied = 0;
  const starts = new RegExp(VALUE_STARTS.source, VALUE_STARTS.flags);
  for (let found = starts.exec(text); found !== null; found = starts.exec(text)) {
    const start = found.index + found[0].length;
    redacted += text.slice(copied, start) + '?';
    copied = valueEnd(text, start);
    if (text[copied] === ';') return redacted + ';' + redactReason(text.slice(copied + 1));
    starts.lastIndex = copied;
  }
  return redacted + text.slice(copied);
}

/**
 * An error message without the values it echoes: the value that follows `value`/`found` as a whole,
 * and a custom scalar's reason for refusing it (see redactValues); then single-quoted strings, and
 * double-quoted ones that are not a name or type.
 */
export function redactGraphqlMessage(text: string): string {
  const invalid = HAS_INVALID_VALUE.exec(text);
  return (invalid === null ? redactValues(text) : invalid[0] + redactReason17(text.slice(invalid[0].length)))
    .replace(/'(?:[^'\\\n]|\\.)*'/g, "'?'")
    .replace(/"(?:[^"\\\n]|\\.)*"/g, (quoted) => (QUOTED_NAME.test(quoted.slice(1, -1)) ? quoted : '"?"'));
}

/**
 * graphql 17's coercion message (a variable's value, or an argument's with variables in it): `Variable "$x"
 * has invalid value at .a.b: <reason>`, its reason whole after the `: `, not a value (it may span lines).
 */
const HAS_INVALID_VALUE = /^(?:Variable "[^"\n]*"(?: defined by fragment "[^"\n]*")?|Argument "[^"\n]*") has invalid value(?: at [^:\n]*)?: /;
/** graphql 17's reason for a scalar's error that is no GraphQLError: `Expected value of type "T", but encountered error "<its text>"; found: <value>.` */
const ENCOUNTERED_ERROR = /^(Expected value of type "[^"\n]*", but encountered error ")[\s\S]*("; found: )/;
/** The value a reason of graphql 17's ends with (`…, found: <value>.`, `… Did you mean "b"? Found: <value>.`). */
const FOUND_VALUE = /(\b[Ff]ound: )[\s\S]*$/;

/**
 * graphql 17's reason for refusing a variable's value: graphql's own words (its messages about a value,
 * as about a literal) with the value it found, and a scalar's error it quotes, as `?`; any other is a
 * custom scalar's own GraphQLError's text, which may print the value bare: `?`.
 */
function redactReason17(reason: string): string {
  const encountered = ENCOUNTERED_ERROR.exec(reason);
  if (encountered !== null) return `${encountered[1]}?${encountered[2]}?`;
  if (!GRAPHQL_LITERAL_MESSAGES.some((own) => own.test(reason))) return '?';
  return FOUND_VALUE.test(reason) ? reason.replace(FOUND_VALUE, '$1?') : redactValues(reason);
}

interface ExecutionArgs {
  schema?: unknown;
  document?: { definitions?: AstNode[] };
  operationName?: unknown;
}

/**
 * The operation of `document` that runs: the one named `operationName`, or the only one. The name is
 * read only for a document graphql gets as far as reading it for.
 */
function operationOf(document: ExecutionArgs['document'], nameOf: () => unknown): AstNode | undefined {
  const definitions = document?.definitions;
  if (!Array.isArray(definitions)) return undefined;
  const operationName = nameOf();
  let found: AstNode | undefined;
  for (const definition of definitions) {
    if (definition?.kind !== 'OperationDefinition') continue;
    const name = (definition.name as { value?: unknown } | undefined)?.value;
    if (operationName != null) {
      if (name === operationName) return definition;
    } else if (found !== undefined) return undefined;
    else found = definition;
  }
  return found;
}

/** The execution args the hook reads itself. */
const READ_BY_HOOK: ReadonlySet<PropertyKey> = new Set<keyof ExecutionArgs>(['schema', 'document', 'operationName']);

/** One read of a property: its value, or what its getter threw. */
type Read = { value: unknown } | { thrown: unknown };

/**
 * The execution args as graphql is to get them, so that the hook's reads are no extra reads of the
 * caller's object. A plain object whose properties the hook reads are data is given as it is: reading
 * data runs nothing. Any other (getters, a class's instance, a Proxy) goes behind a Proxy that reads each
 * of those properties once, whoever asks first, and forwards every other read to the caller's very
 * object: its other getters run as untraced, with the same `this` (a copy would lose a class's getters,
 * or a private field behind one).
 */
function argsReadOnce(args: object): ExecutionArgs {
  if (!types.isProxy(args)) {
    const prototype = Object.getPrototypeOf(args);
    if ((prototype === Object.prototype || prototype === null) && !hasGetterReadByHook(args)) return args;
  }
  const reads = new Map<PropertyKey, Read>();
  return new Proxy(args, {
    get(target, key) {
      if (!READ_BY_HOOK.has(key)) return Reflect.get(target, key);
      let read = reads.get(key);
      if (read === undefined) {
        try {
          read = { value: Reflect.get(target, key) };
        } catch (thrown) {
          // Thrown again at graphql's read, which the app then gets, as untraced.
          read = { thrown };
        }
        reads.set(key, read);
      }
      if ('thrown' in read) throw read.thrown;
      return read.value;
    },
  });
}

function hasGetterReadByHook(args: object): boolean {
  for (const key of READ_BY_HOOK) {
    if (Object.getOwnPropertyDescriptor(args, key)?.get !== undefined) return true;
  }
  return false;
}

/** The operation span, when one is to be made: `type`/`name` of the operation, the document to print. */
function startOperation(hook: ActiveHook<GraphqlOptions>, type: unknown, name: unknown, document: unknown, printer: Printer | undefined): Span | undefined {
  const parent = clientParent(hook);
  if (parent === undefined) return undefined;
  const tags: TagMap = { component: COMPONENT };
  if (typeof type === 'string') tags['graphql.operation.type'] = type;
  if (typeof name === 'string') tags['graphql.operation.name'] = name;
  const text = printer === undefined ? undefined : redactDocument(document, printer);
  if (text !== undefined) {
    const limit = statementLimit(hook.options.maxDocumentLength, DEFAULT_MAX_DOCUMENT);
    tags['graphql.document'] = text.length > limit ? text.slice(0, limit) : text;
  }
  const operationName = typeof type === 'string' && typeof name === 'string' ? `${type} ${name}` : 'graphql.execute';
  const span = startSpanWith(hook, operationName, { childOf: parent ?? undefined, tags });
  if (span !== undefined && hook.options.resolverSpans === true) operations.set(span, { span, fields: new Map() });
  return span;
}

/** An operation whose resolvers get spans: its span, and its fields' spans by path (list indexes included). */
interface OperationState {
  span: Span;
  fields: Map<string, Span>;
}

/** By operation span and by field span: what a resolver running under either belongs to. */
const operations = new WeakMap<Span, OperationState>();

/**
 * A resolver's span, under its parent field's span or the operation's; undefined when the active span is
 * no operation's with resolver spans, or the field is deeper than `resolverDepth`.
 */
function startField(hook: ActiveHook<GraphqlOptions>, segments: ReadonlyArray<string | number>, tags: TagMap): Span | undefined {
  const active = storage.getStore()?.span;
  const operation = active === undefined ? undefined : operations.get(active);
  if (operation === undefined) return undefined;
  const names = segments.filter((segment) => typeof segment === 'string');
  const maxDepth = hook.options.resolverDepth;
  if (maxDepth !== undefined && maxDepth >= 0 && names.length > maxDepth) return undefined;
  let parentEnd = segments.length - 1;
  while (parentEnd > 0 && typeof segments[parentEnd - 1] === 'number') parentEnd--;
  const parent = (parentEnd > 0 ? operation.fields.get(segments.slice(0, parentEnd).join('.')) : undefined) ?? operation.span;
  tags.component = COMPONENT;
  tags['graphql.field.path'] = segments.join('.');
  const span = startSpanWith(hook, `graphql.resolve ${names.join('.')}`, { childOf: parent, tags });
  if (span !== undefined) {
    operation.fields.set(segments.join('.'), span);
    operations.set(span, operation);
  }
  return span;
}

/** Ends an operation: its fields' spans are no longer parents. */
function endOperation(span: Span): void {
  operations.delete(span);
}

/**
 * An error's text from the app's code (a resolver, the database it called) rather than graphql's own:
 * redacted as graphql's, then as the database hooks redact what a server echoes (all quoted values, even
 * name-like ones, `{ … }` values, SQL rows, a number after `: `).
 */
function redactAppMessage(text: string): string {
  return redactEchoedValues(redactGraphqlMessage(text));
}

/** How many `originalError`s deep `fromApp` looks. */
const MAX_ORIGINAL_ERRORS = 4;

/**
 * Whether an error's text comes from the app's code: the error at the end of its `originalError`s (a
 * resolver's throw that graphql located, or the error itself) is no GraphQLError; or it is an execution
 * error (it has a `path`: a resolver threw it, a GraphQLError too, as Apollo and yoga advise for user
 * errors); or it is a GraphQLError that graphql did not locate (no `nodes`, no `locations`: graphql's
 * parse, validation and coercion errors all have them).
 */
function fromApp(err: unknown): boolean {
  if (err === null || typeof err !== 'object') return true;
  const { path, nodes, locations } = err as { path?: unknown; nodes?: unknown; locations?: unknown };
  if (Array.isArray(path) || !(isNonEmpty(nodes) || isNonEmpty(locations))) return true;
  const at = innermostError(err);
  return at === null || typeof at !== 'object' || (at as { name?: unknown }).name !== 'GraphQLError';
}

/** The error at the end of `err`'s `originalError`s (`MAX_ORIGINAL_ERRORS` deep at most): the one that was thrown. */
function innermostError(err: unknown): unknown {
  let at = err;
  for (let depth = 0; depth < MAX_ORIGINAL_ERRORS; depth++) {
    const inner = at !== null && typeof at === 'object' ? (at as { originalError?: unknown }).originalError : undefined;
    if (inner === null || typeof inner !== 'object') break;
    at = inner;
  }
  return at;
}

function isNonEmpty(value: unknown): boolean {
  return Array.isArray(value) && value.length > 0;
}

/**
 * What a span logs as an error: a new Error with the message and stack redacted and none of the
 * original's fields, since a GraphQLError carries the values (its source, its original error).
 */
function redactedCopy(name: string, message: unknown, stack: unknown, appText: boolean): Error {
  const redact = appText ? redactAppMessage : redactGraphqlMessage;
  const copy = new Error(redact(String(message)));
  copy.name = name;
  copy.stack = typeof stack === 'string' ? loggedStack(stack, copy.message, redact) : undefined;
  return copy;
}

/**
 * A stack as logged: its head is the logged message, after the stack's own error name (the head is the
 * text of whichever error made the stack, which graphql copies to the errors it wraps: a scalar's text
 * with no graphql words around it to tell it by); then its frames, redacted.
 */
function loggedStack(stack: string, message: string, redact: (text: string) => string): string {
  const name = /^[A-Za-z_$][\w$]*(?=:|\n|$)/.exec(stack)?.[0] ?? 'Error';
  const frames = /\n\s+at /.exec(stack);
  return `${name}: ${message}${frames === null ? '' : redact(stack.slice(frames.index))}`;
}

/** A thrown error's redacted copy (see redactedCopy), as app text when `byApp`; the app's error is left as it is. */
function redactedError(err: unknown, byApp: boolean): Error {
  try {
    if (err === null || typeof err !== 'object') return redactedCopy('Error', err, undefined, true);
    const { name, message, stack } = err as { name?: unknown; message?: unknown; stack?: unknown };
    return redactedCopy(typeof name === 'string' ? name : 'Error', message, stack, byApp || fromApp(err));
  } catch {
    return errorNotShown();
  }
}

/** The kinds of a value literal's nodes: where a scalar's `parseLiteral` locates a GraphQLError of its own. */
const VALUE_KINDS: ReadonlySet<string> = new Set([...LITERALS, 'NullValue', 'ListValue', 'ObjectValue']);

/**
 * graphql's own messages about a literal in a validation result (16's ValuesOfCorrectTypeRule, 17's
 * validateInputLiteral, the built-in scalars' and enums' `parseLiteral`), and its error limit's.
 */
const GRAPHQL_LITERAL_MESSAGES = [
  /^Expected (?:a )?value of (?:non-null )?type "[^"]*"(?:, found|, but encountered error "| to be an object, found| to include required field "| not to include unknown field "| not to be null\.$| to be provided\.$)/,
  /^Expected variable "[^"]*" provided to /,
  /^Field "[^"]*" (?:of required type "[^"]*" was not provided|must be non-null)\.$/,
  /^(?:OneOf Input Object "[^"]*" must specify exactly one key|Within OneOf Input Object type "[^"]*", exactly one field must be specified, and the value for that field must be non-null)\.$/,
  /^Variable "[^"]*" must be non-nullable to be used for OneOf Input Object "[^"]*"\.$/,
  /^(?:(?:Int|Float|String|Boolean|ID)|Enum "[^"]*") cannot represent /,
  /^Value "(?:[^"\\\n]|\\.)*" does not exist in "[^"]*" enum\./,
  /^Too many validation errors, error limit reached\. Validation aborted\.$/,
];

/**
 * Whether an error of a validation result is a custom scalar's own: a GraphQLError its `parseLiteral`
 * threw, which graphql reports as it is, with no words of its own around the scalar's text (which may
 * print the value bare: `Invalid email: alice@example.com`). It is located at the literal, or nowhere;
 * graphql's own errors there say one of its own messages.
 */
function scalarsOwn(error: unknown): boolean {
  if (error === null || typeof error !== 'object') return false;
  const { nodes, message } = error as { nodes?: unknown; message?: unknown };
  if (Array.isArray(nodes) && nodes.some((node) => !VALUE_KINDS.has(String((node as AstNode | null)?.kind)))) return false;
  return !GRAPHQL_LITERAL_MESSAGES.some((own) => own.test(String(message)));
}

/**
 * A frame of graphql's leaf completion, which calls a scalar's or an enum's `serialize` (17: its
 * `coerceOutputValue`) on a resolver's value: graphql 16's and @graphql-tools/executor's function, 17's
 * Executor method. An execution error whose thrown error was made there is the scalar's, not the resolver's.
 */
const LEAF_COMPLETION_FRAME = /\n\s+at (?:[\w$]+\.)?completeLeafValue \(/;
/**
 * graphql's own messages about a value its leaf completion refused: its built-in scalars' and enums'
 * `serialize` (`Int cannot represent non-integer value: …`), and its own for a `serialize` that returned
 * nothing (`Expected \`Email.serialize(<value>)\` to return non-nullable value, returned: null`).
 */
const GRAPHQL_OUTPUT_MESSAGES = /^(?:(?:Int|Float|String|Boolean|ID) cannot represent [-a-z0-9 ]*value: |Enum "[^"\n]*" cannot represent value: )/;
const NON_NULLABLE_OUTPUT = /^(Expected `[\w$]*\.(?:serialize|coerceOutputValue)\()[\s\S]*(\)` to return non-nullable value, returned: )(null|undefined)$/;

/**
 * What is logged of the text of an execution error that a scalar's `serialize` made (see
 * LEAF_COMPLETION_FRAME), or undefined for any other: graphql's own words kept, the value `?` (its
 * non-nullable message's argument too); a custom scalar's own text, which may print the resolver's value
 * bare (graphql-scalars' `Value is not a valid email address: <value>`), `?`.
 */
function leafCompletionText(error: unknown): string | undefined {
  const stack = (innermostError(error) as { stack?: unknown } | null)?.stack;
  if (typeof stack !== 'string' || !LEAF_COMPLETION_FRAME.test(stack)) return undefined;
  const message = String((error as { message?: unknown }).message);
  if (GRAPHQL_OUTPUT_MESSAGES.test(message)) return redactGraphqlMessage(message);
  const nonNullable = NON_NULLABLE_OUTPUT.exec(message);
  return nonNullable === null ? '?' : `${nonNullable[1]}?${nonNullable[2]}${nonNullable[3]}`;
}

/**
 * The logged copy of one error of a result (its message, and the stack of the error it came from), and
 * its path; in a validation result, a custom scalar's own error (see scalarsOwn) is logged as `?`, and in
 * an execution result, what a scalar's `serialize` made (see leafCompletionText).
 */
function resultErrorCopy(error: unknown, validation: boolean): { copy: Error; path?: string } {
  try {
    const e = error as { message?: unknown; path?: unknown; originalError?: { stack?: unknown } } | null;
    const leaf = validation ? undefined : leafCompletionText(error);
    const message = leaf ?? (validation && scalarsOwn(error) ? '?' : e?.message);
    // The leaf's text is redacted already: graphql's words, which the app's rule would garble (`Enum "?"`).
    const copy = redactedCopy('GraphQLError', message, e?.originalError?.stack, leaf === undefined && fromApp(error));
    return { copy, path: Array.isArray(e?.path) ? e.path.join('.') : undefined };
  } catch {
    return { copy: errorNotShown() };
  }
}

/** A validate span's end: its result is the list of errors. */
function finishValidation(span: Span, errors: unknown): void {
  finishWithResult(span, { errors }, true);
}

/** Marks the span with the errors of a result (`{ errors }`), messages redacted, then finishes it. */
function finishWithResult(span: Span, result: unknown, validation = false): void {
  const errors = result !== null && typeof result === 'object' ? (result as { errors?: unknown }).errors : undefined;
  if (Array.isArray(errors) && errors.length > 0) {
    setTag(span, 'error', true);
    for (const error of errors.slice(0, MAX_LOGGED_ERRORS)) {
      const { copy, path } = resultErrorCopy(error, validation);
      logEvent(span, { event: 'error', 'error.object': copy, message: copy.message, stack: copy.stack, 'graphql.path': path });
    }
  }
  endOperation(span);
  finishSpan(span);
}

function fail(span: Span, err: unknown): void {
  // A resolver's span (one that belongs to another's operation): what it throws is the app's text.
  const operation = operations.get(span);
  const byResolver = operation !== undefined && operation.span !== span;
  endOperation(span);
  markError(span, redactedError(err, byResolver));
  finishSpan(span);
}

/** Runs `original` with `span` active and finishes the span with its outcome, sync or async. */
function runTraced(span: Span, original: AnyFunction, thisArg: unknown, args: ArrayLike<unknown>, onResult: (span: Span, result: unknown) => void): unknown {
  let result: unknown;
  try {
    result = withSpan(span, () => original.apply(thisArg, args as unknown[]));
  } catch (err) {
    fail(span, err);
    throw err;
  }
  if (isThenable(result)) {
    return (result as PromiseLike<unknown>).then(
      (value: unknown) => (onResult(span, value), value),
      (err: unknown) => {
        fail(span, err);
        throw err;
      },
    );
  }
  onResult(span, result);
  return result;
}

/** `execute(args)`: the operation span; `printer` gives the app's graphql printer, to redact the document. */
function wrapExecute(hook: ActiveHook<GraphqlOptions>, printer: () => Printer | undefined) {
  return (original: AnyFunction) =>
    function execute(this: unknown, args: unknown): unknown {
      let span: Span | undefined;
      if (tracingOff(hook) || args === null || typeof args !== 'object') return applyArgs(original, this, arguments);
      const given = argsReadOnce(args);
      try {
        // In graphql's order: a getter that throws stops the reads there, as it does in graphql.
        if (hook.options.resolverSpans === true) traceResolvers(given.schema);
        const document = given.document;
        const operation = operationOf(document, () => given.operationName);
        span = startOperation(hook, operation?.operation, (operation?.name as { value?: unknown } | undefined)?.value, document, printer());
      } catch {
        span = undefined;
      }
      let argsGiven: ArrayLike<unknown> = arguments;
      if (given !== args) {
        argsGiven = Array.prototype.slice.call(arguments);
        (argsGiven as unknown[])[0] = given;
      }
      if (span === undefined) return Reflect.apply(original, this, argsGiven);
      return runTraced(span, original, this, argsGiven, finishWithResult);
    };
}

/**
 * @graphql-tools/executor's `execute` (graphql-yoga) and `executeSync` (which calls its module's own
 * `execute`, not the export: one span), which run operations with an engine of its own over the app's
 * graphql 16 (its peer dependency), whose printer redacts the document. Its `subscribe` executes each
 * event with a function of its module that no export reaches: no span per event.
 */
export function patchToolsExecute(exports: object, ctx: Ctx): void {
  currentInstall = ctx.current;
  let graphqlDir: string | undefined | null;
  const printer = (): Printer | undefined => {
    if (graphqlDir === undefined) {
      try {
        graphqlDir = ctx.basedir === undefined ? null : path.dirname(require.resolve('graphql/package.json', { paths: [ctx.basedir] }));
      } catch {
        graphqlDir = null;
      }
    }
    if (graphqlDir === null) return undefined;
    // graphql 17's own printer is the one its ES-module build loaded, not a second copy from its CommonJS files.
    return printers.has(graphqlDir) || !isGraphql17(graphqlDir) ? printerOf(graphqlDir) : printer17;
  };
  const wrap = wrapExecute(ctx.hook, printer);
  ctx.wrap(exports, 'execute', wrap);
  ctx.wrap(exports, 'executeSync', wrap);
}

/** `parse` and `validate`: a span each when `parseSpans` is set (validate's result is its list of errors). */
function wrapPhase(hook: ActiveHook<GraphqlOptions>, phase: 'parse' | 'validate') {
  return (original: AnyFunction) =>
    function (this: unknown): unknown {
      if (hook.options.parseSpans !== true || !hook.enabled) return applyArgs(original, this, arguments);
      const parent = clientParent(hook);
      const span = parent === undefined ? undefined : startSpanWith(hook, `graphql.${phase}`, { childOf: parent ?? undefined, tags: { component: COMPONENT } });
      if (span === undefined) return applyArgs(original, this, arguments);
      return runTraced(span, original, this, arguments, phase === 'validate' ? finishValidation : finishWithResult);
    };
}

export function patchExecute(exports: object, ctx: Ctx): void {
  currentInstall = ctx.current;
  const printer = (): Printer | undefined => printerOf(ctx.basedir);
  ctx.wrap(exports, 'execute', wrapExecute(ctx.hook, printer));
  // graphql 16's executeSync calls its module's own execute, not the export: no second span.
  ctx.wrap(exports, 'executeSync', wrapExecute(ctx.hook, printer));
}

export function patchParse(exports: object, ctx: Ctx): void {
  currentInstall = ctx.current;
  ctx.wrap(exports, 'parse', wrapPhase(ctx.hook, 'parse'));
}

export function patchValidate(exports: object, ctx: Ctx): void {
  currentInstall = ctx.current;
  ctx.wrap(exports, 'validate', wrapPhase(ctx.hook, 'validate'));
}

// ---------------------------------------------------------------------------------------------------
// Resolver spans on graphql 16: the schema's own resolvers (never the default property resolver) are
// wrapped once per schema, the first time it executes with `resolverSpans`. The wrappers stay in the
// schema and answer to whichever install is current (none: they pass through).

const tracedSchemas = new WeakSet<object>();

interface GraphqlPath {
  prev: GraphqlPath | undefined;
  key: string | number;
}

function pathSegments(path: GraphqlPath | undefined): Array<string | number> {
  const segments: Array<string | number> = [];
  for (let at = path; at != null; at = at.prev) segments.push(at.key);
  return segments.reverse();
}

interface ResolveInfo {
  path?: GraphqlPath;
  fieldName?: unknown;
  parentType?: unknown;
  returnType?: unknown;
}

/** The registry's lookup of the hook's current install (`ctx.current`), kept from the latest patch: resolvers replaced in a schema outlive an install. */
let currentInstall: () => ActiveHook<GraphqlOptions> | undefined = () => undefined;

function tracedResolver(resolve: AnyFunction): AnyFunction {
  return function resolver(this: unknown, _source: unknown, _args: unknown, _context: unknown, resolveInfo: unknown): unknown {
    const info = resolveInfo as ResolveInfo | undefined;
    const hook = currentInstall();
    if (hook === undefined || !hook.enabled || hook.options.resolverSpans !== true) return applyArgs(resolve, this, arguments);
    let span: Span | undefined;
    try {
      span = startField(hook, pathSegments(info?.path), { 'graphql.field.name': info?.fieldName, 'graphql.parent.type': String(info?.parentType), 'graphql.field.type': String(info?.returnType) });
    } catch {
      span = undefined;
    }
    if (span === undefined) return applyArgs(resolve, this, arguments);
    return runTraced(span, resolve, this, arguments, (s) => finishSpan(s));
  };
}

function traceResolvers(schema: unknown): void {
  if (schema === null || typeof schema !== 'object' || tracedSchemas.has(schema)) return;
  tracedSchemas.add(schema);
  const types = (schema as { getTypeMap?(): Record<string, unknown> }).getTypeMap?.() ?? {};
  for (const [name, type] of Object.entries(types)) {
    const getFields = (type as { getFields?: () => Record<string, { resolve?: unknown }> }).getFields;
    if (name.startsWith('__') || typeof getFields !== 'function' || !('isTypeOf' in (type as object))) continue;
    for (const field of Object.values(getFields.call(type))) {
      if (typeof field.resolve === 'function') field.resolve = tracedResolver(field.resolve as AnyFunction);
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// graphql 17 publishes tracing channels (graphql:execute, :execute:rootSelectionSet, :parse, :validate,
// :resolve) from every entry point, its ES-module build included (which require() loads on Node 20.19+):
// the spans come from them, made active through a store binding of our request context on each start
// channel. A subscription event is executed through the root selection set channel alone.

interface ChannelMessage {
  result?: unknown;
  error?: unknown;
  document?: unknown;
  operationName?: unknown;
  operationType?: unknown;
  fieldPath?: unknown;
  fieldName?: unknown;
  parentType?: unknown;
  fieldType?: unknown;
  isDefaultResolver?: unknown;
}

/** The app's graphql 17 (its printer), recorded when it loads. */
let printer17: Printer | undefined;

type StartFn = (hook: ActiveHook<GraphqlOptions>, message: ChannelMessage) => Span | undefined;

/**
 * Binds one graphql tracing channel: `start` makes the span (and, with `activate`, the store in which the
 * traced function runs); `end`/`asyncEnd` finish it with the result, `error` marks it.
 */
function bindChannel(ctx: Ctx, name: string, start: StartFn, onResult: (span: Span, result: unknown) => void, activate: boolean): void {
  const { hook, state } = ctx;
  const begin = (message: ChannelMessage): Span | undefined => {
    if (!hook.enabled || message === null || typeof message !== 'object') return undefined;
    try {
      const span = start(hook, message);
      if (span !== undefined) openCall(state, message, span);
      return span;
    } catch (err) {
      reportOnce(`graphql ${name} span`, err);
      return undefined;
    }
  };
  if (activate) {
    const startChannel = diagnostics.channel(`tracing:graphql:${name}:start`);
    // The store graphql runs in: ours with the span active, else the caller's unchanged.
    const transform = (message: unknown): RequestContext | undefined => {
      const current = storage.getStore();
      const span = begin(message as ChannelMessage);
      if (span === undefined) return current;
      // Object.assign: a spread's copy takes V8's slow path for each key it gets later (see own-copy.ts).
      const store: { -readonly [K in keyof RequestContext]: RequestContext[K] } = Object.assign({}, current);
      store.span = span;
      return store;
    };
    startChannel.bindStore(storage, transform);
    ctx.onUninstall(() => startChannel.unbindStore(storage));
  } else {
    ctx.subscribe(`tracing:graphql:${name}:start`, (message) => void begin(message as ChannelMessage));
  }
  const done = (message: ChannelMessage): void => {
    // Another install's call (one from before a reinstall) is its own to finish.
    const span = state.spans.get(message);
    if (span === undefined) return;
    state.spans.delete(message);
    collectedCalls.unregister(message);
    closeCall(state);
    if (message.error !== undefined) fail(span, message.error);
    else onResult(span, message.result);
  };
  // `end` closes a synchronous call (its result or error is set by then); a promise ends at `asyncEnd`.
  subscribeChannel(state.ends, `tracing:graphql:${name}:end`, (m) => {
    const message = m as ChannelMessage;
    if (message.error !== undefined || (Object.prototype.hasOwnProperty.call(message, 'result') && !isThenable(message.result))) done(message);
  });
  subscribeChannel(state.ends, `tracing:graphql:${name}:asyncEnd`, (m) => done(m as ChannelMessage));
}

/**
 * Calls garbage-collected without ever ending (a resolver that never settles, whose promise nothing
 * holds): no longer open. Their spans, held only through their call, are abandoned, never finished.
 */
const collectedCalls = new FinalizationRegistry<GraphqlState>(closeCall);

/** A call with a span starts; its message is held weakly, so that a call that never ends keeps nothing. */
function openCall(state: GraphqlState, message: ChannelMessage, span: Span): void {
  state.spans.set(message, span);
  state.open++;
  collectedCalls.register(message, state, message);
}

/** A call ended or was collected; after uninstall, the last one unsubscribes. */
function closeCall(state: GraphqlState): void {
  state.open--;
  if (state.uninstalled && state.open === 0) unsubscribeAll(state.ends);
}

/** At uninstall: the calls open still finish their spans as they end; the last one to end (or be collected) unsubscribes. */
function releaseWhenIdle(state: GraphqlState): void {
  state.uninstalled = true;
  if (state.open === 0) unsubscribeAll(state.ends);
}

function isThenable(value: unknown): boolean {
  return value !== null && typeof value === 'object' && typeof (value as { then?: unknown }).then === 'function';
}

/** The document of each operation span that graphql 17's `execute` channel started (its root selection set makes none). */
const executeDocuments = new WeakMap<Span, unknown>();

const startExecute: StartFn = (hook, message) => {
  const span = startOperation(hook, message.operationType, message.operationName, message.document, printer17);
  if (span !== undefined) executeDocuments.set(span, message.document);
  return span;
};

/**
 * A root selection set executed outside `execute()`: each subscription event (graphql 17 runs it through
 * `executeSubscriptionEvent`, never `execute`), or an app's own call of `executeRootSelectionSet`. Inside
 * `execute()` it runs synchronously in the execute span's store: that span already stands for it.
 */
const startRootSelectionSet: StartFn = (hook, message) => {
  const active = storage.getStore()?.span;
  if (active !== undefined && executeDocuments.get(active) === message.document) return undefined;
  return startOperation(hook, message.operationType, message.operationName, message.document, printer17);
};

const startPhase =
  (phase: 'parse' | 'validate'): StartFn =>
  (hook) => {
    if (hook.options.parseSpans !== true) return undefined;
    const parent = clientParent(hook);
    return parent === undefined ? undefined : startSpanWith(hook, `graphql.${phase}`, { childOf: parent ?? undefined, tags: { component: COMPONENT } });
  };

const startResolve: StartFn = (hook, message) => {
  if (hook.options.resolverSpans !== true || message.isDefaultResolver === true || typeof message.fieldPath !== 'string') return undefined;
  const segments = message.fieldPath.split('.').map((segment) => (/^\d+$/.test(segment) ? Number(segment) : segment));
  return startField(hook, segments, { 'graphql.field.name': message.fieldName, 'graphql.parent.type': message.parentType, 'graphql.field.type': message.fieldType });
};

/** graphql 17 loaded: its printer is recorded, and its channels bound (once per install). */
export function patchGraphql17(exports: object, ctx: Ctx): void {
  currentInstall = ctx.current;
  const { visit, print } = exports as { visit?: unknown; print?: unknown };
  if (printer17 === undefined && typeof visit === 'function' && typeof print === 'function') printer17 = { visit: visit as Printer['visit'], print: print as Printer['print'] };
  const state = ctx.state;
  if (state.channelsBound || typeof diagnostics.tracingChannel !== 'function') return;
  state.channelsBound = true;
  ctx.onUninstall(() => releaseWhenIdle(state));
  bindChannel(ctx, 'execute', startExecute, finishWithResult, true);
  bindChannel(ctx, 'execute:rootSelectionSet', startRootSelectionSet, finishWithResult, true);
  // Only the channels the options ask for: a bound channel makes graphql build a message per parse, or per field.
  const options = ctx.hook.options;
  if (options.parseSpans === true) {
    bindChannel(ctx, 'parse', startPhase('parse'), (span) => finishSpan(span), false);
    bindChannel(ctx, 'validate', startPhase('validate'), finishValidation, false);
  }
  if (options.resolverSpans === true) bindChannel(ctx, 'resolve', startResolve, (span) => finishSpan(span), true);
}
