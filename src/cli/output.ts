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
