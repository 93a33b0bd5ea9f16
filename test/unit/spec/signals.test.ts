import { describe, expect, it } from 'vitest';
import { SIGNALS, SIGRTMAX, SIGRTMIN, parseSignal, signalName } from '../../../src/spec/signals';
import { errorOf } from '../../helpers/errors';

// Linux x86_64 numbering (signal(7)).
const EXPECTED: Array<[string, number]> = [
  ['HUP', 1], ['INT', 2], ['QUIT', 3], ['ILL', 4], ['TRAP', 5], ['ABRT', 6], ['BUS', 7], ['FPE', 8], ['KILL', 9],
  ['USR1', 10], ['SEGV', 11], ['USR2', 12], ['PIPE', 13], ['ALRM', 14], ['TERM', 15], ['STKFLT', 16], ['CHLD', 17],
  ['CONT', 18], ['STOP', 19], ['TSTP', 20], ['TTIN', 21], ['TTOU', 22], ['URG', 23], ['XCPU', 24], ['XFSZ', 25],
  ['VTALRM', 26], ['PROF', 27], ['WINCH', 28], ['IO', 29], ['PWR', 30], ['SYS', 31],
];

describe('the signal table', () => {
  it('has the 31 classic x86_64 signals and nothing else', () => {
    expect(Object.keys(SIGNALS)).toHaveLength(31);
    for (const [name, n] of EXPECTED) expect(SIGNALS[`SIG${name}`]).toBe(n);
  });

  it('is frozen', () => {
    expect(Object.isFrozen(SIGNALS)).toBe(true);
  });

  it('numbers real-time signals as glibc does', () => {
    expect(SIGRTMIN).toBe(34);
    expect(SIGRTMAX).toBe(64);
  });
});

describe('parseSignal', () => {
  it.each(EXPECTED)('parses %s in every spelling', (name, n) => {
    for (const text of [name, `SIG${name}`, name.toLowerCase(), `sig${name.toLowerCase()}`, `Sig${name}`]) {
      expect(parseSignal(text)).toBe(n);
    }
  });

  it.each([
    ['9', 9], ['15', 15], ['1', 1], ['64', 64], ['34', 34], ['32', 32], ['09', 9], ['+9', 9], ['0', 0], ['-0', 0],
    ['000', 0],
  ])('parses the number %j', (text, n) => {
    expect(parseSignal(text)).toBe(n);
    expect(Object.is(parseSignal(text), n)).toBe(true);
  });

  it.each([
    ['RTMIN', 34], ['SIGRTMIN', 34], ['rtmin', 34], ['RTMIN+0', 34], ['RTMIN+1', 35], ['sigrtmin+15', 49],
    ['RTMIN+30', 64], ['RTMAX', 64], ['SIGRTMAX', 64], ['RTMAX-0', 64], ['RTMAX-1', 63], ['rtmax-14', 50],
    ['RTMAX-30', 34],
  ])('parses the real-time signal %j', (text, n) => {
    expect(parseSignal(text)).toBe(n);
  });

  it.each([
    '', ' ', 'SIG', 'sig', 'KIL', 'KILLL', 'SIGSIGKILL', ' KILL', 'KILL ', '9 ', ' 9', '65', '100', '-1', '-9',
    '1e1', '0x9', '9.0', '99999999999999999999', 'RTMIN+31', 'RTMAX-31', 'RTMIN-1', 'RTMAX+1', 'RTMIN+', 'RTMAX-',
    'RTMIN+-1', 'IOT', 'POLL', 'CLD', 'UNUSED', 'EMT', 'INFO', 'LOST', 'SIGTERM,SIGKILL', 'K ILL',
  ])('rejects %j like runc, naming it', (text) => {
    const error = errorOf(() => parseSignal(text));
    expect(error.code).toBe('invalid-signal');
    expect(error.message).toBe(`unknown signal ${JSON.stringify(text)}`);
  });
});

describe('signalName', () => {
  it('names the classic signals', () => {
    expect(signalName(9)).toBe('SIGKILL');
    expect(signalName(15)).toBe('SIGTERM');
    expect(signalName(31)).toBe('SIGSYS');
  });

  it('names real-time signals like `kill -l`', () => {
    expect(signalName(34)).toBe('SIGRTMIN');
    expect(signalName(35)).toBe('SIGRTMIN+1');
    expect(signalName(49)).toBe('SIGRTMIN+15');
    expect(signalName(50)).toBe('SIGRTMAX-14');
    expect(signalName(63)).toBe('SIGRTMAX-1');
    expect(signalName(64)).toBe('SIGRTMAX');
  });

  it('describes numbers without a name', () => {
    expect(signalName(0)).toBe('signal 0');
    expect(signalName(32)).toBe('signal 32');
    expect(signalName(33)).toBe('signal 33');
    expect(signalName(65)).toBe('signal 65');
    expect(signalName(-1)).toBe('signal -1');
    expect(signalName(1.5)).toBe('signal 1.5');
  });

  it('round-trips through parseSignal for every named signal', () => {
    for (let n = 1; n <= 64; n++) {
      if (n === 32 || n === 33) continue;
      expect(parseSignal(signalName(n))).toBe(n);
    }
  });
});
