import fs from 'node:fs';
import path from 'node:path';
import { HOOK_NAMES } from '../../../src';
import type { Driver } from '../driver';

function isDriver(value: unknown): value is Driver {
  return value !== null && typeof value === 'object' && typeof (value as Driver).name === 'string' && typeof (value as Driver).hook === 'string';
}

/**
 * The drivers of one hook, from its file `drivers/<hook>.ts`: the array of drivers it exports when it
 * exports one (one driver per major version of the library), else every driver it exports.
 */
function driversOf(hook: string): Driver[] {
  const file = path.join(__dirname, `${hook}.js`);
  if (!fs.existsSync(file)) throw new Error(`no conformance driver for the hook "${hook}": add test/conformance/drivers/${hook}.ts`);
  const exported = Object.values(require(file) as Record<string, unknown>);
  const list = exported.find((value): value is Driver[] => Array.isArray(value) && value.length > 0 && value.every(isDriver));
  return list ?? exported.filter(isDriver);
}

/** Every conformance driver: one per hook and per major version of its library, in the order of HOOKS. */
export const DRIVERS: Driver[] = HOOK_NAMES.flatMap(driversOf);
