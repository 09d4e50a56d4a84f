'use strict';
// Front service: calls the back service with axios and with fetch. Run under `node -r ./register`.
const http = require('node:http');
const axios = require('axios');

const back = process.env.BACK_URL;

const server = http.createServer(async (req, res) => {
  const match = /^\/checkout\/(\d+)$/.exec(req.url || '');
  if (!match) {
    res.statusCode = 404;
    return res.end();
  }
  try {
    const [order, stock] = await Promise.all([
      axios.get(`${back}/orders/${match[1]}`),
      fetch(`${back}/stock/${match[1]}`).then((r) => r.json()),
    ]);
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ order: order.data, stock }));
  } catch (err) {
    res.statusCode = 502;
    res.end(String(err));
  }
});

server.listen(0, '127.0.0.1', () => process.stdout.write(`listening ${server.address().port}\n`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
