'use strict';
/**
 * A mocha reporter (mocha 6 and later) for run.js: writes every test's full title and outcome, one JSON
 * object per line, to the file named by PEERS_RESULTS, and prints failures as mocha's spec reporter does.
 */
const fs = require('node:fs');

function PeersReporter(runner) {
  const out = process.env.PEERS_RESULTS;
  const write = (title, state, err) => {
    const line = { title, state };
    if (err) line.error = String(err && err.message).slice(0, 500);
    fs.appendFileSync(out, JSON.stringify(line) + '\n');
  };
  runner.on('pass', (test) => write(test.fullTitle(), 'passed'));
  runner.on('pending', (test) => write(test.fullTitle(), 'pending'));
  runner.on('fail', (test, err) => {
    write(test.fullTitle(), 'failed', err);
    process.stdout.write(`  FAIL ${test.fullTitle()}: ${err && err.message}\n`);
  });
}

module.exports = PeersReporter;
