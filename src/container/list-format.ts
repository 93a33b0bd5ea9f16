import type { ContainerStateJson } from '../spec/types';

/** One container as `list` shows it: the fields of the state JSON (owner = user name of the state dir's owner). */
export type ListRow = ContainerStateJson;

const HEADER = ['ID', 'PID', 'STATUS', 'BUNDLE', 'CREATED', 'OWNER'];

// runc's tabwriter settings: tabwriter.NewWriter(out, 12 /*minwidth*/, 1, 3 /*padding*/, ' ', 0).
const MIN_WIDTH = 12;
const PADDING = 3;

/** Go's tabwriter measures cells in runes (code points), not bytes or UTF-16 units. */
function runeLength(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
}

/**
 * Lays out lines of tab-terminated cells the way Go's text/tabwriter does with runc's settings: every cell that is
 * followed by a tab is left-aligned and padded with spaces to its column's width, max(12, widest cell + 3); the
 * last cell of a line is not part of a column and is written as is. (All lines here have the same number of cells,
 * so every column forms one block spanning all lines.)
 */
function tabulate(lines: string[][]): string {
  const widths: number[] = [];
  for (const cells of lines) {
    cells.slice(0, -1).forEach((cell, column) => {
      widths[column] = Math.max(widths[column] ?? MIN_WIDTH, runeLength(cell) + PADDING);
    });
  }
  return lines
    .map((cells) => {
      const last = cells.length - 1;
      const padded = cells.map((cell, column) =>
        column === last ? cell : cell + ' '.repeat((widths[column] ?? MIN_WIDTH) - runeLength(cell)),
      );
      return `${padded.join('')}\n`;
    })
    .join('');
}

/** `tsrun list` (table format): the header line, then one line per container, each ending in a newline. */
export function formatListTable(rows: readonly ListRow[]): string {
  const lines = [HEADER, ...rows.map((row) => [row.id, String(row.pid), row.status, row.bundle, row.created, row.owner])];
  return tabulate(lines);
}

/**
 * Go's encoding/json escapes <, > and & (and U+2028/U+2029) inside strings; doing the same keeps our output
 * byte-identical to runc's. These characters occur only inside JSON strings, so replacing them anywhere is safe.
 */
function escapeLikeGo(json: string): string {
  return json.replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** The state JSON object with runc's field order; annotations left out when there are none (Go's omitempty). */
function stateObject(state: ContainerStateJson): Record<string, unknown> {
  const annotations = state.annotations;
  return {
    ociVersion: state.ociVersion,
    id: state.id,
    pid: state.pid,
    status: state.status,
    bundle: state.bundle,
    rootfs: state.rootfs,
    created: state.created,
    ...(annotations !== undefined && Object.keys(annotations).length > 0 ? { annotations } : {}),
    owner: state.owner,
  };
}

/**
 * `tsrun list --format json`: one compact JSON array, `null` when there are none (runc's nil slice). No trailing
 * newline, like formatState: the caller ends the line (runc's json.Encoder writes exactly one).
 */
export function formatListJson(rows: readonly ListRow[]): string {
  if (rows.length === 0) return 'null';
  return escapeLikeGo(JSON.stringify(rows.map(stateObject)));
}

/** `tsrun state`: 2-space-indented JSON without a trailing newline, as runc prints it. */
export function formatState(state: ContainerStateJson): string {
  return escapeLikeGo(JSON.stringify(stateObject(state), null, 2));
}
