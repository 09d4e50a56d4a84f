/**
 * graphql span logic (declared in ../hooks/graphql). One span per operation executed, named
 * `<type> <name>` (`query GetUser`) or `graphql.execute` for an anonymous one, active while its resolvers
 * run, so that their database and HTTP calls are its children. The document is recorded with every
 * literal replaced by `?` (variables' values are never in it), printed by the app's own copy of graphql.
 * Errors in the result and thrown errors mark the span; their messages are logged with values redacted.
 */
import path from 'node:path';
import type { Span } from 'opentracing';
import { withSpan } from '../context';
import type { ActiveHook, PatchContext } from '../registry/define';
import { clientParent, finishSpan, logEvent, markError, setTag, startSpanWith, TagMap, truncate } from '../spans';
import type { GraphqlOptions } from '../options/graphql';

const COMPONENT = 'graphql';
const DEFAULT_MAX_DOCUMENT = 2048;
/** Errors of one result logged at most (a list field failing per item can yield thousands). */
const MAX_LOGGED_ERRORS = 10;
const LITERALS = new Set(['IntValue', 'FloatValue', 'StringValue', 'BooleanValue', 'EnumValue']);

type AnyFunction = (...args: any[]) => any;
type Ctx = PatchContext<GraphqlOptions, undefined>;

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

/**
 * An error message without the values it echoes: what follows `value`/`found` (graphql's coercion
 * messages), single-quoted strings, and double-quoted ones that are not a name or type.
 */
export function redactGraphqlMessage(text: string): string {
  return text
    .replace(/\b(value|found)(:?[ \t]+)[^;\n]*/gi, '$1$2?')
    .replace(/'(?:[^'\\\n]|\\.)*'/g, "'?'")
    .replace(/"(?:[^"\\\n]|\\.)*"/g, (quoted) => (QUOTED_NAME.test(quoted.slice(1, -1)) ? quoted : '"?"'));
}

interface ExecutionArgs {
  document?: { definitions?: AstNode[] };
  operationName?: unknown;
}

/** The operation of `args` that runs: the one named, or the only one. */
function operationOf(args: ExecutionArgs): AstNode | undefined {
  const definitions = args.document?.definitions;
  if (!Array.isArray(definitions)) return undefined;
  let found: AstNode | undefined;
  for (const definition of definitions) {
    if (definition?.kind !== 'OperationDefinition') continue;
    const name = (definition.name as { value?: unknown } | undefined)?.value;
    if (args.operationName != null) {
      if (name === args.operationName) return definition;
    } else if (found !== undefined) return undefined;
    else found = definition;
  }
  return found;
}

function startOperation(hook: ActiveHook<GraphqlOptions>, args: ExecutionArgs, printer: Printer | undefined): Span | undefined {
  const parent = clientParent(hook);
  if (parent === undefined) return undefined;
  const operation = operationOf(args);
  const type = typeof operation?.operation === 'string' ? operation.operation : undefined;
  const name = (operation?.name as { value?: unknown } | undefined)?.value;
  const tags: TagMap = { component: COMPONENT };
  if (type !== undefined) tags['graphql.operation.type'] = type;
  if (typeof name === 'string') tags['graphql.operation.name'] = name;
  const document = printer === undefined ? undefined : redactDocument(args.document, printer);
  if (document !== undefined) tags['graphql.document'] = truncate(document, hook.options.maxDocumentLength, DEFAULT_MAX_DOCUMENT);
  const operationName = type !== undefined && typeof name === 'string' ? `${type} ${name}` : 'graphql.execute';
  return startSpanWith(hook, operationName, { childOf: parent ?? undefined, tags });
}

/** Marks the span with the errors of a result (`{ errors }`), messages redacted, then finishes it. */
function finishWithResult(span: Span, result: unknown): void {
  const errors = result !== null && typeof result === 'object' ? (result as { errors?: unknown }).errors : undefined;
  if (Array.isArray(errors) && errors.length > 0) {
    setTag(span, 'error', true);
    for (const error of errors.slice(0, MAX_LOGGED_ERRORS)) {
      const e = error as { message?: unknown; path?: unknown; originalError?: { stack?: unknown } } | null;
      const stack = e?.originalError?.stack;
      // A redacted copy as the error object: the GraphQLError itself carries the values (its source, its original error).
      const copy = new Error(redactGraphqlMessage(String(e?.message)));
      copy.name = 'GraphQLError';
      copy.stack = typeof stack === 'string' ? redactGraphqlMessage(stack) : undefined;
      logEvent(span, {
        event: 'error',
        'error.object': copy,
        message: copy.message,
        stack: copy.stack,
        'graphql.path': Array.isArray(e?.path) ? e.path.join('.') : undefined,
      });
    }
  }
  finishSpan(span);
}

function fail(span: Span, err: unknown): void {
  markError(span, err, 'error', redactGraphqlMessage);
  finishSpan(span);
}

/** Runs `original` with `span` active and finishes the span with its outcome, sync or async. */
function runTraced(span: Span, original: AnyFunction, thisArg: unknown, args: ArrayLike<unknown>, onResult: (span: Span, result: unknown) => void): unknown {
  let result: any;
  try {
    result = withSpan(span, () => original.apply(thisArg, args as unknown[]));
  } catch (err) {
    fail(span, err);
    throw err;
  }
  if (result !== null && typeof result === 'object' && typeof result.then === 'function') {
    return result.then(
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

/** `execute(args)`: the operation span. */
function wrapExecute(hook: ActiveHook<GraphqlOptions>, basedir: string | undefined) {
  return (original: AnyFunction) =>
    function execute(this: unknown, args: unknown): unknown {
      let span: Span | undefined;
      if (hook.enabled && args !== null && typeof args === 'object') {
        try {
          span = startOperation(hook, args as ExecutionArgs, printerOf(basedir));
        } catch {
          span = undefined;
        }
      }
      if (span === undefined) return original.apply(this, arguments as unknown as unknown[]);
      return runTraced(span, original, this, arguments, finishWithResult);
    };
}

/** `parse` and `validate`: a span each when `parseSpans` is set (validate's result is its list of errors). */
function wrapPhase(hook: ActiveHook<GraphqlOptions>, phase: 'parse' | 'validate') {
  return (original: AnyFunction) =>
    function (this: unknown): unknown {
      if (hook.options.parseSpans !== true || !hook.enabled) return original.apply(this, arguments as unknown as unknown[]);
      const parent = clientParent(hook);
      const span = parent === undefined ? undefined : startSpanWith(hook, `graphql.${phase}`, { childOf: parent ?? undefined, tags: { component: COMPONENT } });
      if (span === undefined) return original.apply(this, arguments as unknown as unknown[]);
      return runTraced(span, original, this, arguments, (s, result) => finishWithResult(s, phase === 'validate' ? { errors: result } : result));
    };
}

export function patchExecute(exports: any, ctx: Ctx): void {
  ctx.wrap(exports, 'execute', wrapExecute(ctx.hook, ctx.basedir));
  // graphql 16's executeSync calls its module's own execute, not the export: no second span.
  ctx.wrap(exports, 'executeSync', wrapExecute(ctx.hook, ctx.basedir));
}

export function patchParse(exports: any, ctx: Ctx): void {
  ctx.wrap(exports, 'parse', wrapPhase(ctx.hook, 'parse'));
}

export function patchValidate(exports: any, ctx: Ctx): void {
  ctx.wrap(exports, 'validate', wrapPhase(ctx.hook, 'validate'));
}
