#!/usr/bin/env node
// Placeholder until the service script lands: runs the command as is.
const { spawnSync } = require('node:child_process');
const [cmd, ...args] = process.argv.slice(2);
const r = spawnSync(cmd, args, { stdio: 'inherit', shell: false, env: { ...process.env, PATH: `${__dirname}/../node_modules/.bin:${process.env.PATH}` } });
process.exit(r.status ?? 1);
