/**
 * A node:test reporter for run.js: writes every test's file, nesting, name and outcome, one JSON object
 * per line, to the file named by PEERS_RESULTS.
 */
import fs from 'node:fs';

export default async function* peersReporter(source) {
  const out = process.env.PEERS_RESULTS;
  for await (const event of source) {
    if (event.type !== 'test:pass' && event.type !== 'test:fail') continue;
    const { data } = event;
    const title = `${data.file ?? ''} > ${'  '.repeat(data.nesting)}${data.name}`;
    const skipped = data.skip !== undefined || data.todo !== undefined;
    const state = event.type === 'test:pass' ? (skipped ? 'pending' : 'passed') : 'failed';
    const line = { title, state };
    if (state === 'failed') {
      line.error = String(data.details?.error?.cause?.message ?? data.details?.error?.message).slice(0, 500);
      yield `  FAIL ${title}: ${line.error}\n`;
    }
    fs.appendFileSync(out, JSON.stringify(line) + '\n');
  }
}
