import { RuntimeError } from '../../errors';

/**
 * What a user asks to mount into a container, in docker's two syntaxes:
 *   -v SOURCE:DEST[:ro|rw][,nocopy]   SOURCE a volume name, or an absolute host path (a bind mount)
 *   --mount type=volume|bind|tmpfs,source=…,target=…[,readonly][,volume-nocopy][,bind-create-src]
 *           [,tmpfs-size=…][,tmpfs-mode=…]
 * Pure: names and paths are checked for form here; whether a volume or a host path exists is the caller's.
 */

export type MountRequest =
  | { kind: 'volume'; name: string; target: string; readonly: boolean; nocopy: boolean }
  | { kind: 'bind'; source: string; target: string; readonly: boolean; createSource: boolean }
  | { kind: 'tmpfs'; target: string; readonly: boolean; sizeBytes?: number; mode?: number };

function usage(message: string): RuntimeError {
  return new RuntimeError('usage', message);
}

/** A container path: absolute, without `..`, '.' or empty components, and not `/` itself. */
export function checkTarget(target: string, where: string): string {
  if (!target.startsWith('/')) throw usage(`${where}: the destination ${JSON.stringify(target)} must be an absolute path in the container`);
  const parts = target.split('/').filter((p) => p !== '');
  if (parts.length === 0) throw usage(`${where}: the destination cannot be / itself`);
  if (parts.some((p) => p === '..' || p === '.')) throw usage(`${where}: the destination ${JSON.stringify(target)} may not contain "." or ".."`);
  if (target.includes('\0')) throw usage(`${where}: the destination contains a NUL byte`);
  return `/${parts.join('/')}`;
}

function checkHostPath(source: string, where: string): string {
  if (!source.startsWith('/')) throw usage(`${where}: a bind mount's source must be an absolute host path, got ${JSON.stringify(source)}`);
  if (source.includes('\0')) throw usage(`${where}: the source contains a NUL byte`);
  return source;
}

/** `64m`, `1g`, `4096` → bytes (docker's tmpfs-size: a plain number is bytes). */
export function parseSize(text: string, where: string): number {
  const match = /^([0-9]+)([kmg]?)b?$/i.exec(text.trim());
  if (!match) throw usage(`${where}: ${JSON.stringify(text)} is not a size (a number of bytes, or with k, m or g)`);
  const factor = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[match[2]!.toLowerCase() as '' | 'k' | 'm' | 'g'];
  const bytes = Number(match[1]) * factor;
  if (!Number.isSafeInteger(bytes) || bytes <= 0) throw usage(`${where}: ${JSON.stringify(text)} is not a positive size`);
  return bytes;
}

function parseMode(text: string, where: string): number {
  if (!/^[0-7]{1,4}$/.test(text)) throw usage(`${where}: tmpfs-mode ${JSON.stringify(text)} must be octal permission bits such as 1777`);
  return parseInt(text, 8);
}

/** `-v SOURCE:DEST[:OPTIONS]`. */
export function parseVolumeFlag(text: string): MountRequest {
  const where = `-v ${text}`;
  const parts = text.split(':');
  if (parts.length < 2 || parts.length > 3 || parts[0] === '') {
    throw usage(`${where}: expected SOURCE:DEST[:OPTIONS] (SOURCE a volume name or an absolute host path)`);
  }
  const [source, dest, optionText = ''] = parts as [string, string, string?];
  let readonly = false;
  let nocopy = false;
  for (const option of optionText.split(',').filter((o) => o !== '')) {
    if (option === 'ro' || option === 'readonly') readonly = true;
    else if (option === 'rw') readonly = false;
    else if (option === 'nocopy') nocopy = true;
    else throw usage(`${where}: unknown option ${JSON.stringify(option)} (expected ro, rw or nocopy)`);
  }
  const target = checkTarget(dest, where);
  if (source.startsWith('/')) {
    if (nocopy) throw usage(`${where}: nocopy applies to volumes, not to host paths`);
    return { kind: 'bind', source: checkHostPath(source, where), target, readonly, createSource: false };
  }
  return { kind: 'volume', name: source, target, readonly, nocopy };
}

/** `--mount type=…,source=…,target=…,…` (docker's CSV form; keys as docker spells them, with its aliases). */
export function parseMountFlag(text: string): MountRequest {
  const where = `--mount ${text}`;
  const fields = new Map<string, string | true>();
  for (const field of text.split(',')) {
    if (field === '') continue;
    const eq = field.indexOf('=');
    const key = (eq < 0 ? field : field.slice(0, eq)).trim().toLowerCase();
    const value = eq < 0 ? true : field.slice(eq + 1);
    const canonical = { src: 'source', dst: 'target', destination: 'target', ro: 'readonly' }[key] ?? key;
    if (fields.has(canonical)) throw usage(`${where}: ${canonical} is given twice`);
    fields.set(canonical, value);
  }
  const valueOf = (key: string): string | undefined => {
    const value = fields.get(key);
    if (value === true) throw usage(`${where}: ${key} needs a value (${key}=…)`);
    return value;
  };
  const flag = (key: string): boolean => {
    const value = fields.get(key);
    if (value === undefined) return false;
    if (value === true || value === '1' || value === 'true') return true;
    if (value === '0' || value === 'false') return false;
    throw usage(`${where}: ${key}=${value} must be true or false`);
  };
  const type = valueOf('type') ?? 'volume';
  const allowed: Record<string, string[]> = {
    volume: ['type', 'source', 'target', 'readonly', 'volume-nocopy'],
    bind: ['type', 'source', 'target', 'readonly', 'bind-create-src'],
    tmpfs: ['type', 'target', 'readonly', 'tmpfs-size', 'tmpfs-mode'],
  };
  if (!(type in allowed)) throw usage(`${where}: type ${JSON.stringify(type)} is not volume, bind or tmpfs`);
  for (const key of fields.keys()) {
    if (!allowed[type]!.includes(key)) throw usage(`${where}: ${key} does not apply to type=${type} (expected ${allowed[type]!.slice(1).join(', ')})`);
  }
  const targetText = valueOf('target');
  if (targetText === undefined) throw usage(`${where}: target=… is required`);
  const target = checkTarget(targetText, where);
  const readonly = flag('readonly');
  if (type === 'tmpfs') {
    const size = valueOf('tmpfs-size');
    const mode = valueOf('tmpfs-mode');
    return { kind: 'tmpfs', target, readonly, ...(size !== undefined ? { sizeBytes: parseSize(size, where) } : {}), ...(mode !== undefined ? { mode: parseMode(mode, where) } : {}) };
  }
  const source = valueOf('source');
  if (type === 'bind') {
    if (source === undefined) throw usage(`${where}: a bind mount needs source=<absolute host path>`);
    return { kind: 'bind', source: checkHostPath(source, where), target, readonly, createSource: flag('bind-create-src') };
  }
  if (source === undefined) throw usage(`${where}: a volume mount needs source=<volume name> (tsrun volume create makes one)`);
  return { kind: 'volume', name: source, target, readonly, nocopy: flag('volume-nocopy') };
}
