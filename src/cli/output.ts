import fs from 'node:fs';

/** Writes to stdout synchronously: process.stdout may be async on pipes, and tsrun exits right after. */
export function printOut(text: string): void {
  const data = Buffer.from(text);
  let offset = 0;
  while (offset < data.length) {
    try {
      offset += fs.writeSync(1, data, offset);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') throw error;
    }
  }
}

export function printErr(text: string): void {
  try {
    fs.writeSync(2, text);
  } catch {
    // nowhere left to report
  }
}

/** Rows as columns padded to the widest cell plus three spaces (docker's `ls` look); the first row is the header. */
export function printTable(rows: readonly string[][]): void {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)) + 3);
  printOut(rows.map((r) => `${r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('')}\n`).join(''));
}
