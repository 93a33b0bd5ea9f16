import { RuntimeError } from '../errors';

/** Pure parsers for /proc text. They take the file's content, never a path: reading is the caller's business. */

export interface ProcStat {
  pid: number;
  /** The command name, as the kernel keeps it (up to 15 bytes; may contain spaces and parentheses). */
  comm: string;
  /** One letter: R, S, D, Z (zombie), T, t, X (dead), I, ... */
  state: string;
  ppid: number;
  /** Field 22, clock ticks after boot, kept as the decimal text: compared, never computed with. */
  startTime: string;
}

function malformed(what: string, detail: string): RuntimeError {
  return new RuntimeError('proc-parse', `malformed ${what}: ${detail}`);
}

const UNSIGNED = /^[0-9]+$/;

/**
 * Parses /proc/<pid>/stat. The command name sits in parentheses and may itself contain `)` and spaces, so the
 * fields after it start at the LAST `)` of the text; everything before the first `(` is the pid.
 */
export function parseProcStat(text: string): ProcStat {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) throw malformed('/proc/<pid>/stat', 'no "(comm)"');
  const pidText = text.slice(0, open).trim();
  if (!UNSIGNED.test(pidText)) throw malformed('/proc/<pid>/stat', `bad pid ${JSON.stringify(pidText)}`);
  // Fields 3.. are single-space separated; field 3 is rest[0], so field N is rest[N - 3].
  const rest = text.slice(close + 1).trim().split(' ');
  const state = rest[0] ?? '';
  const ppid = rest[1] ?? '';
  const startTime = rest[22 - 3] ?? '';
  if (state.length !== 1) throw malformed(`/proc/${pidText}/stat`, `bad state ${JSON.stringify(state)}`);
  if (!/^-?[0-9]+$/.test(ppid)) throw malformed(`/proc/${pidText}/stat`, `bad ppid ${JSON.stringify(ppid)}`);
  if (!UNSIGNED.test(startTime)) throw malformed(`/proc/${pidText}/stat`, `bad start time ${JSON.stringify(startTime)}`);
  return { pid: Number(pidText), comm: text.slice(open + 1, close), state, ppid: Number(ppid), startTime };
}

export interface MountInfoEntry {
  mountId: number;
  parentId: number;
  major: number;
  minor: number;
  /** The path inside the mounted filesystem that is the root of this mount (not `/` for bind mounts). */
  root: string;
  mountPoint: string;
  /** Per-mount options (`rw`, `nosuid`, `relatime`, ...). */
  options: string[];
  /** Propagation tags: `shared:N`, `master:N`, `propagate_from:N`, `unbindable`. */
  optionalFields: string[];
  fsType: string;
  source: string;
  /** Per-superblock options. */
  superOptions: string[];
}

/** The kernel writes space, tab, newline and backslash in paths as `\ooo` octal escapes. */
export function unescapeMountField(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_match, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

// Split on commas before unescaping: a comma inside a value arrives escaped (\054) and must stay part of it.
function optionList(field: string): string[] {
  return field === '' ? [] : field.split(',').map(unescapeMountField);
}

function parseMountInfoLine(line: string, lineNumber: number): MountInfoEntry {
  const where = `/proc/<pid>/mountinfo line ${lineNumber}`;
  const fields = line.split(' ');
  const separator = fields.indexOf('-', 6);
  if (fields.length < 10 || separator < 0 || fields.length - separator !== 4) {
    throw malformed(where, JSON.stringify(line));
  }
  const [mountId = '', parentId = '', device = '', root = '', mountPoint = '', options = ''] = fields;
  const [fsType = '', source = '', superOptions = ''] = fields.slice(separator + 1);
  const deviceMatch = /^([0-9]+):([0-9]+)$/.exec(device);
  if (!UNSIGNED.test(mountId) || !UNSIGNED.test(parentId) || !deviceMatch) {
    throw malformed(where, JSON.stringify(line));
  }
  return {
    mountId: Number(mountId),
    parentId: Number(parentId),
    major: Number(deviceMatch[1]),
    minor: Number(deviceMatch[2]),
    root: unescapeMountField(root),
    mountPoint: unescapeMountField(mountPoint),
    options: optionList(options),
    optionalFields: fields.slice(6, separator),
    fsType: unescapeMountField(fsType),
    source: unescapeMountField(source),
    superOptions: optionList(superOptions),
  };
}

/**
 * Parses /proc/<pid>/mountinfo (proc(5)): `id parent major:minor root mountpoint options [optional...] - fstype
 * source superoptions`, one mount per line, in mount order.
 */
export function parseMountInfo(text: string): MountInfoEntry[] {
  const entries: MountInfoEntry[] = [];
  const lines = text.split('\n');
  for (const [index, line] of lines.entries()) {
    if (line === '') continue;
    entries.push(parseMountInfoLine(line, index + 1));
  }
  return entries;
}

export interface CgroupEntry {
  /** 0 for the cgroup v2 hierarchy. */
  hierarchyId: number;
  /** Controllers bound to the hierarchy (`cpu`, `cpuacct`, `name=systemd`, ...); empty for v2. */
  controllers: string[];
  /** The process' cgroup relative to the hierarchy's root (as seen from the reader's cgroup namespace). */
  path: string;
}

/** Parses /proc/<pid>/cgroup: `hierarchy-id:controller-list:path`; the path may itself contain colons. */
export function parseCgroupFile(text: string): CgroupEntry[] {
  const entries: CgroupEntry[] = [];
  for (const [index, line] of text.split('\n').entries()) {
    if (line === '') continue;
    const first = line.indexOf(':');
    const second = first < 0 ? -1 : line.indexOf(':', first + 1);
    const id = line.slice(0, first);
    if (second < 0 || !UNSIGNED.test(id)) {
      throw malformed(`/proc/<pid>/cgroup line ${index + 1}`, JSON.stringify(line));
    }
    const controllers = line.slice(first + 1, second);
    entries.push({
      hierarchyId: Number(id),
      controllers: controllers === '' ? [] : controllers.split(','),
      path: line.slice(second + 1),
    });
  }
  return entries;
}
