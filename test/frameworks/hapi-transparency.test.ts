/**
 * hapi sees the app it saw untraced (issue 24): a route keeps the handler the app wrote (hapi names it
 * in its own errors, `server.table()` hands it back), with the hook installed and middleware spans on.
 */
import assert from 'node:assert/strict';
import { installPatches, uninstallAllPatches } from '../../src';
import { RecordingTracer } from '../helpers/tracer';

describe('hapi transparency (@hapi/hapi@21)', function () {
  this.timeout(30000);
  const tracer = new RecordingTracer();
   
  const load = (): any => require('@hapi/hapi');

  afterEach(() => {
    uninstallAllPatches();
    tracer.reset();
  });

  for (const middlewareSpans of [false, true]) {
    describe(`middlewareSpans: ${middlewareSpans}`, () => {
      beforeEach(() => installPatches(['httpServer', 'hapi'], { tracer, hooks: { hapi: { middlewareSpans } } }));

      it('a handler that returns nothing: hapi names the handler in its error, as untraced', async () => {
        const myErrorHandler = (): void => undefined;
        const server = load().server({ debug: false });
        server.route({ method: 'GET', path: '/', handler: myErrorHandler });
        const errors: any[] = [];
        server.events.on({ name: 'request', channels: 'error' }, (_request: unknown, event: any) => errors.push(event.error));
        const res = await server.inject('/');
        assert.equal(res.statusCode, 500);
        assert.equal(errors.length, 1);
        assert.match(errors[0].message, /myErrorHandler method did not return a value/);
      });

      it('server.table() and request.route hand back the very handler the app registered', async () => {
        async function getItem(request: any, _h: unknown): Promise<unknown> {
          return { same: request.route.settings.handler === getItem };
        }
        const server = load().server();
        server.route({ method: 'GET', path: '/items/{id}', handler: getItem });
        const [route] = server.table();
        assert.equal(route.settings.handler, getItem);
        const res = await server.inject('/items/1');
        assert.equal(res.payload, '{"same":true}');
      });
    });
  }
});
