import type { Driver } from '../driver';

/**
 * None: the winston hook makes no span, it adds ids to log records. Its contract (the same output besides the
 * added fields, the same errors, no memory per line, uninstall, life beside OpenTelemetry's instrumentation)
 * runs in test/hooks/logs.test.ts, for every log hook alike.
 */
export const winstonDrivers: Driver[] = [];
