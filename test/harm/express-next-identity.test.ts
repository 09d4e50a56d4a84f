import assert from 'node:assert/strict';
import { installPatches, uninstallAllPatches } from '../../src';
import { getReply, startServer, TestServer } from '../helpers/servers';
import { RecordingTracer } from '../helpers/tracer';

 
const MAJORS: Array<[string, any]> = [['express@5', require('express')], ['express@4', require('express4')]];


for (const [label, express] of MAJORS) {
  describe(`express keeps the functions it hands app code (${label}, issue 18, defect 7)`, function () {
    this.timeout(30000);
    const tracer = new RecordingTracer();
    let server: TestServer;
    let url: string;

    for (const middlewareSpans of [false, true]) {
      describe(`middlewareSpans: ${middlewareSpans}`, () => {
        before(async () => {
          installPatches(['httpServer', 'express'], { tracer, aliases: { express4: 'express' }, hooks: { express: { middlewareSpans } } });
          const app = express();
          const api = express.Router();
          api.use((req: any, _res: any, next: any) => {
            if (req.next !== next) return next(new Error('req.next is not the next the layer got'));
            next();
          });
          api.get('/format', (_req: any, _res: any, next: any) => next());
          api.use('/format', (req: any, res: any, next: any) => {
            res.format({
              default: (a: any, b: any, c: any) => (a === req && b === res && c === next ? res.send('default') : res.status(500).send('changed')),
            });
          });
          app.use((req: any, _res: any, next: any) => (req.next === next ? next() : next(new Error('req.next differs'))));
          app.use('/api/:version', api);
          app.use((req: any, res: any, next: any) => {
            res.format({ json: () => res.json({ same: req.next === next }) });
          });
          app.use((err: any, _req: any, res: any, _next: any) => res.status(500).send(err.message));
          server = await startServer(app);
          url = server.url;
        });
        after(async () => {
          uninstallAllPatches();
          await server.close();
        });
        beforeEach(() => tracer.reset());

        it('res.format hands its handlers req.next, the very next of the layer', async () => {
          assert.deepEqual(await getReply(`${url}/api/v1/format`), { status: 200, body: 'default' });
          assert.deepEqual(await getReply(`${url}/other`, { accept: 'application/json' }), { status: 200, body: '{"same":true}' });
        });

        it('route names and spans are as before', async () => {
          await getReply(`${url}/api/v1/format`);
          await tracer.settle();
          const names = tracer.finished.filter((s) => s.tags['span.kind'] === 'server').map((s) => s.operationName);
          assert.deepEqual(names, ['GET /api/:version/format']);
          assert.equal(tracer.finished.find((s) => s.tags['span.kind'] === 'server')?.tags.error, undefined);
          if (middlewareSpans) assert.ok(tracer.finished.length > 1, 'middleware spans');
        });
      });
    }
  });
}
