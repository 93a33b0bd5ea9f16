import { RuntimeError } from '../../../errors';
import { quote } from '../digest';

/**
 * The `WWW-Authenticate` header (RFC 9110 §11.6.1): one or more challenges, each an auth scheme followed by
 * either a token68 or comma-separated `name=value` parameters whose values are tokens or quoted strings (with
 * `\` escapes). Several header lines arrive joined with ", ", which this grammar still splits correctly:
 * a bare token not followed by `=` starts the next challenge. Pure.
 *
 *     Bearer realm="https://auth.example/token",service="registry.example",scope="repository:x:pull"
 *     Basic realm=registry
 */

export interface Challenge {
  /** The scheme as sent; compare it case-insensitively (see findChallenge). */
  scheme: string;
  /** Parameters by lowercase name; the first occurrence wins. */
  params: Record<string, string>;
  token68?: string;
}

const TCHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/;
const TOKEN68_CHAR = /[A-Za-z0-9\-._~+/]/;

class Scanner {
  pos = 0;
  constructor(readonly text: string) {}

  get done(): boolean {
    return this.pos >= this.text.length;
  }

  peek(): string {
    return this.text.charAt(this.pos);
  }

  skipSpace(): void {
    while (this.peek() === ' ' || this.peek() === '\t') this.pos++;
  }

  /** Skips white space and list commas (empty list elements are allowed). */
  skipSeparators(): void {
    while (this.peek() === ' ' || this.peek() === '\t' || this.peek() === ',') this.pos++;
  }

  token(): string {
    const start = this.pos;
    while (!this.done && TCHAR.test(this.peek())) this.pos++;
    return this.text.slice(start, this.pos);
  }

  quotedString(): string {
    this.pos++; // the opening quote
    let value = '';
    for (;;) {
      if (this.done) throw this.error('a quoted string is not closed');
      const c = this.peek();
      this.pos++;
      if (c === '"') return value;
      if (c === '\\') {
        if (this.done) throw this.error('a quoted string ends in a lone backslash');
        value += this.peek();
        this.pos++;
      } else {
        value += c;
      }
    }
  }

  error(problem: string): RuntimeError {
    return new RuntimeError('registry', `WWW-Authenticate ${quote(this.text)}: ${problem} (at character ${this.pos + 1})`);
  }
}

/**
 * A token68 at the scanner's position (after the scheme): its characters and trailing `=`s, followed by the end
 * or a comma. Returns undefined (position unchanged) when what follows is not one, e.g. a parameter.
 */
function readToken68(s: Scanner): string | undefined {
  const start = s.pos;
  while (!s.done && TOKEN68_CHAR.test(s.peek())) s.pos++;
  if (s.pos === start) return undefined;
  while (s.peek() === '=') s.pos++;
  const end = s.pos;
  s.skipSpace();
  if (s.done || s.peek() === ',') return s.text.slice(start, end);
  s.pos = start;
  return undefined;
}

/** Every challenge of the header, in order. A malformed header is a RuntimeError naming it and the problem. */
export function parseWwwAuthenticate(header: string): Challenge[] {
  const s = new Scanner(header);
  const challenges: Challenge[] = [];
  s.skipSeparators();
  while (!s.done) {
    const scheme = s.token();
    if (scheme === '') throw s.error(`expected an auth scheme, found ${quote(s.peek())}`);
    const challenge: Challenge = { scheme, params: {} };
    challenges.push(challenge);
    const afterScheme = s.pos;
    s.skipSpace();
    if (s.done) break;
    if (s.pos > afterScheme && s.peek() !== ',') {
      const token68 = readToken68(s);
      if (token68 !== undefined) {
        challenge.token68 = token68;
        s.skipSeparators();
        continue;
      }
    } else if (s.peek() !== ',') {
      throw s.error(`expected a space or a comma after the scheme ${quote(scheme)}`);
    }
    // Parameters, until a token that is not followed by "=" (the next challenge's scheme) or the end.
    for (;;) {
      s.skipSeparators();
      if (s.done) break;
      const itemStart = s.pos;
      const name = s.token();
      if (name === '') throw s.error(`expected a parameter name, found ${quote(s.peek())}`);
      s.skipSpace();
      if (s.peek() !== '=') {
        s.pos = itemStart;
        break;
      }
      s.pos++;
      s.skipSpace();
      let value: string;
      if (s.peek() === '"') {
        value = s.quotedString();
      } else {
        value = s.token();
        if (value === '') throw s.error(`parameter ${quote(name)} has no value`);
      }
      const key = name.toLowerCase();
      if (!(key in challenge.params)) challenge.params[key] = value;
      s.skipSpace();
      if (!s.done && s.peek() !== ',') throw s.error(`expected a comma after parameter ${quote(name)}`);
    }
  }
  return challenges;
}

/** The first challenge of `scheme` (case-insensitive), if any. */
export function findChallenge(challenges: readonly Challenge[], scheme: string): Challenge | undefined {
  const wanted = scheme.toLowerCase();
  return challenges.find((c) => c.scheme.toLowerCase() === wanted);
}
