import http from 'node:http';
import type { Driver } from '../driver';
import { arrivedSlow, frameworkDriver, listen } from './framework';

function expressDriver(label: string, moduleName: string, layerFile: string, routerModule: string, names: [string, string]): Driver {
  return frameworkDriver({
    name: label,
    hook: 'express',
    config: moduleName === 'express4' ? { aliases: { express4: 'express' } } : undefined,
    targets: () => {
      const Layer = require(layerFile);
      const router = require(routerModule);
      const proto = typeof router.prototype?.use === 'function' ? router.prototype : router;
      return [[Layer.prototype, names[0]], [Layer.prototype, names[1]], [proto, 'use']];
    },
    async start() {
      const express = require(moduleName);
      const app = express();
      const conf = express.Router();
      conf.get('/items/:id', (req: any, res: any) => {
        if (req.params.id === 'destroy') return void req.socket.destroy();
        if (req.params.id !== 'slow') return void res.send('ok');
        arrivedSlow();
        setTimeout(() => res.send('ok'), 30);
      });
      app.use('/conf', conf);
      return listen(http.createServer(app));
    },
    // OpenTelemetry patches the module named `express` (not the `express4` alias): express@5 only.
    otel: moduleName === 'express' ? { module: '@opentelemetry/instrumentation-express', export: 'ExpressInstrumentation', reload: [require.resolve('./otel-parent'), 'http', moduleName] } : undefined,
  });
}

export const expressDrivers: Driver[] = [
  expressDriver('express@5', 'express', 'router/lib/layer', 'router', ['handleRequest', 'handleError']),
  expressDriver('express@4', 'express4', 'express4/lib/router/layer', 'express4/lib/router/index', ['handle_request', 'handle_error']),
];
