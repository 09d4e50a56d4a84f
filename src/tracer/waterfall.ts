import type { SpanRecord } from './records';

const BAR_WIDTH = 30;
const COLORS = ['\x1b[36m', '\x1b[35m', '\x1b[33m', '\x1b[32m', '\x1b[34m'];
const RED = '\x1b[31m';
const DIM = '\x1b[2m';
const BOLD = '\x1b[1m';
const RESET = '\x1b[0m';

function formatMs(value: number): string {
  return value >= 100 ? `${value.toFixed(0)}ms` : value >= 10 ? `${value.toFixed(1)}ms` : `${value.toFixed(2)}ms`;
}

function keyTags(tags: Record<string, unknown>): string {
  const parts: string[] = [];
  if (tags['http.status_code'] !== undefined) parts.push(String(tags['http.status_code']));
  if (tags['http.url'] !== undefined && tags['span.kind'] === 'server') parts.push(String(tags['http.url']).replace(/^https?:\/\/[^/]+/, ''));
  if (tags['http.url'] !== undefined && tags['span.kind'] === 'client') parts.push(`${tags.component ?? 'http'} -> ${tags['http.url']}`);
  if (tags['db.statement'] !== undefined) {
    const statement = String(tags['db.statement']).replace(/\s+/g, ' ');
    parts.push(statement.length > 60 ? `${statement.slice(0, 57)}...` : statement);
  }
  if (tags['db.redis.command_count'] !== undefined) parts.push(`${tags['db.redis.command_count']} commands`);
  return parts.join('  ');
}

/** Renders one trace as an indented waterfall: name, service, a time bar, duration and key tags; `note` goes in its heading. */
export function renderTrace(records: SpanRecord[], options: { color?: boolean; note?: string } = {}): string {
  if (records.length === 0) return '';
  const color = options.color === true;
  const ids = new Set(records.map((r) => r.spanId));
  const children = new Map<string | null, SpanRecord[]>();
  for (const r of records) {
    const parent = r.parentId !== null && ids.has(r.parentId) ? r.parentId : null;
    const list = children.get(parent) ?? [];
    list.push(r);
    children.set(parent, list);
  }
  for (const list of children.values()) list.sort((a, b) => a.start - b.start);
  const t0 = Math.min(...records.map((r) => r.start));
  const end = Math.max(...records.map((r) => r.start + r.duration));
  const total = Math.max(end - t0, 0.001);
  const services = [...new Set(records.map((r) => r.service))];
  const rows: Array<{ label: string; record: SpanRecord }> = [];
  const walk = (parent: string | null, depth: number): void => {
    for (const r of children.get(parent) ?? []) {
      rows.push({ label: `${'  '.repeat(depth)}${r.name}`, record: r });
      walk(r.spanId, depth + 1);
    }
  };
  walk(null, 0);
  const labelWidth = Math.min(48, Math.max(...rows.map((r) => r.label.length)));
  const serviceWidth = Math.max(...services.map((s) => s.length));
  const lines = [
    `${color ? BOLD : ''}trace ${records[0].traceId}${options.note === undefined ? '' : ` (${options.note})`}  ${records.length} spans  ${formatMs(total)}  ${services.join(', ')}${color ? RESET : ''}`,
  ];
  for (const { label, record } of rows) {
    const offset = Math.min(BAR_WIDTH - 1, Math.floor(((record.start - t0) / total) * BAR_WIDTH));
    const length = Math.max(1, Math.min(BAR_WIDTH - offset, Math.round((record.duration / total) * BAR_WIDTH)));
    const failed = record.tags.error === true;
    const tint = failed ? RED : COLORS[services.indexOf(record.service) % COLORS.length];
    const bar = ' '.repeat(offset) + '█'.repeat(length) + ' '.repeat(BAR_WIDTH - offset - length);
    const name = label.length > labelWidth ? `${label.slice(0, labelWidth - 1)}…` : label.padEnd(labelWidth);
    const tags = keyTags(record.tags) + (failed ? '  ERROR' : '');
    lines.push(
      color
        ? `${failed ? RED : ''}${name}${RESET}  ${DIM}${record.service.padEnd(serviceWidth)}${RESET}  ${tint}${bar}${RESET}  ${formatMs(record.duration).padStart(8)}  ${failed ? RED : DIM}${tags}${RESET}`
        : `${name}  ${record.service.padEnd(serviceWidth)}  |${bar}|  ${formatMs(record.duration).padStart(8)}  ${tags}`,
    );
  }
  return lines.join('\n') + '\n';
}
