/**
 * The one error type users see. Every failure a user can cause ends up as a RuntimeError whose
 * message is a single line naming what was wrong; the CLI prints it once and exits with `exitCode`.
 */
export class RuntimeError extends Error {
  readonly code: string;
  readonly exitCode: number;
  readonly hint: string | undefined;

  constructor(code: string, message: string, options: { exitCode?: number; hint?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'RuntimeError';
    this.code = code;
    this.exitCode = options.exitCode ?? 1;
    this.hint = options.hint;
  }
}

/** A config.json (or process.json) value that is wrong: names the JSON pointer, the value and what was expected. */
export class ConfigError extends RuntimeError {
  readonly pointer: string;
  constructor(pointer: string, message: string, options: { source?: string } = {}) {
    super('config', `${options.source ?? 'config.json'}: ${pointer || '/'} ${message}`);
    this.name = 'ConfigError';
    this.pointer = pointer;
  }
}

/** A field that is valid per the spec but that this version of tsrun cannot apply yet: never ignored silently. */
export class NotSupportedError extends RuntimeError {
  constructor(pointer: string, detail?: string) {
    super('not-supported', `config.json: not supported yet: ${pointer}${detail ? ` (${detail})` : ''}`);
    this.name = 'NotSupportedError';
  }
}

/** Wording callers match on (containerd's shim, podman): keep these phrases stable. */
export const Phrases = {
  doesNotExist: 'container does not exist',
  notRunning: 'container not running',
  alreadyExists: 'container with given ID already exists',
  invalidId: 'invalid container ID format',
  executableNotFound: 'executable file not found in $PATH',
} as const;

export function describeValue(value: unknown): string {
  if (typeof value === 'bigint') return value.toString();
  const text = JSON.stringify(value);
  if (text === undefined) return String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
