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

/** The longest message tsrun prints as an error or log entry: one quoting a megabyte of config.json is cut. */
export const MAX_MESSAGE = 2000;

/** `text` cut to `max` characters, saying how long it was. */
export function clip(text: string, max = MAX_MESSAGE): string {
  return text.length <= max ? text : `${text.slice(0, max - 40)}… (cut, ${text.length} characters in all)`;
}

/**
 * An error message as the one line users get: its lines joined (yargs and ps answer in several), control
 * characters escaped (a value from config.json may hold a NUL or a carriage return), at most MAX_MESSAGE long.
 */
export function oneLine(message: string): string {
  const joined = message.split('\n').map((line) => line.trim()).filter((line) => line !== '').join(' ');
  return clip(joined.replace(/(?!\t)\p{Cc}/gu, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`));
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
