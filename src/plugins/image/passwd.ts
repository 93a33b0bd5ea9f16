import { RuntimeError } from '../../errors';

/**
 * The image's /etc/passwd and /etc/group, and the resolution of an image configuration's `config.User` through
 * them (image-spec conversion.md, "Config.User"). Pure: the caller reads the files out of the image's root
 * filesystem and passes their text.
 */

/** One /etc/passwd line: `name:password:uid:gid:gecos:home:shell`. */
export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
  shell: string;
}

/** One /etc/group line: `name:password:gid:member,member,...`. */
export interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

/** The process identity an image's `config.User` stands for. */
export interface ImageUser {
  uid: number;
  gid: number;
  /** Supplementary groups: only when `User` names the user by name and gives no group (conversion.md). */
  additionalGids?: number[];
  /** The user's home directory from /etc/passwd, when the user has an entry there with a non-empty one. */
  home?: string;
}

/** The text of the image's /etc/passwd and /etc/group; absent when the image does not have the file. */
export interface ImageUserFiles {
  passwd?: string;
  group?: string;
}

/** Largest uid/gid: 2^32 - 2, since (uid_t)-1 means "no change" to setresuid(2) and chown(2). */
export const MAX_ID = 0xfffffffe;

const DIGITS = /^\d+$/;

/** An id field of a passwd/group line, or undefined when it is not a plain decimal number in range. */
function idField(text: string | undefined): number | undefined {
  if (text === undefined || !DIGITS.test(text)) return undefined;
  const value = Number(text);
  return value <= MAX_ID ? value : undefined;
}

/**
 * The meaningful lines of a passwd/group file, split at ':'. Like glibc's nss_files (and runc's libcontainer/user,
 * now github.com/moby/sys/user): surrounding blanks are ignored, and so are empty lines and `#` comments; lines
 * whose name starts with '+' or '-' are nss_compat (NIS) inclusions, which nss_files never matches by name or id,
 * so they are dropped too.
 */
function records(text: string): string[][] {
  const out: string[][] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith('+') || line.startsWith('-')) continue;
    out.push(line.split(':'));
  }
  return out;
}

/**
 * Parses /etc/passwd. Malformed lines are skipped, as glibc's parser rejects them: fewer than four fields, an
 * empty name, or a uid/gid that is not a decimal number in 0..2^32-2. (runc's parser instead keeps such a line
 * with the id read as 0, which would let a garbled line pass for root; glibc's behaviour is what programs in the
 * container see.) Missing trailing fields (gecos, home, shell) are empty, as in glibc; a shell containing ':'
 * keeps the rest of the line, as in glibc.
 */
export function parsePasswd(text: string): PasswdEntry[] {
  const entries: PasswdEntry[] = [];
  for (const fields of records(text)) {
    const [name, , uidText, gidText, , home = '', ...shell] = fields;
    const uid = idField(uidText);
    const gid = idField(gidText);
    if (!name || uid === undefined || gid === undefined) continue;
    entries.push({ name, uid, gid, home, shell: shell.join(':') });
  }
  return entries;
}

/**
 * Parses /etc/group. Malformed lines are skipped (fewer than three fields, an empty name, a gid that is not a
 * decimal number in range); the member list may be absent. Members are split at ',', with blanks around them
 * and empty items dropped, as glibc's list parser does.
 */
export function parseGroup(text: string): GroupEntry[] {
  const entries: GroupEntry[] = [];
  for (const fields of records(text)) {
    const [name, , gidText, ...rest] = fields;
    const gid = idField(gidText);
    if (!name || gid === undefined) continue;
    const members = rest.join(':').split(',').map((member) => member.trim()).filter((member) => member !== '');
    entries.push({ name, gid, members });
  }
  return entries;
}

const USER_FORMATS = 'expected user, uid, user:group, uid:gid, uid:group or user:gid';

function userError(user: string, why: string): RuntimeError {
  return new RuntimeError('image', `image config: /config/User ${JSON.stringify(user)}: ${why}`);
}

/** A numeric id of `User` (range-checked), or undefined for a name. */
function numericId(user: string, part: string, what: 'uid' | 'gid'): number | undefined {
  if (/^-\d+$/.test(part) || (DIGITS.test(part) && Number(part) > MAX_ID)) {
    throw userError(user, `${what} ${part} is out of range (0 to ${MAX_ID})`);
  }
  return DIGITS.test(part) ? Number(part) : undefined;
}

/** Gids of the groups listing `name` as a member, in file order, each once. */
function memberships(name: string, groups: GroupEntry[]): number[] {
  const gids: number[] = [];
  for (const group of groups) {
    if (group.members.includes(name) && !gids.includes(group.gid)) gids.push(group.gid);
  }
  return gids;
}

function withExtras(uid: number, gid: number, home: string | undefined, additionalGids: number[]): ImageUser {
  const user: ImageUser = { uid, gid };
  if (additionalGids.length > 0) user.additionalGids = additionalGids;
  if (home) user.home = home;
  return user;
}

/**
 * The process identity for an image's `config.User`, per image-spec conversion.md and config.md (`user`, `uid`,
 * `user:group`, `uid:gid`, `uid:group`, `user:gid`):
 *
 * - A numeric uid or gid is copied verbatim, whether or not the files list it.
 * - A numeric uid without a group takes the gid of the first passwd entry with that uid, or 0 when there is none
 *   (or no /etc/passwd): what runc's user.GetExecUser and containerd's oci.WithUserID do.
 * - Names are looked up in /etc/passwd and /etc/group (first matching line wins, as in glibc and runc); a name
 *   that is not there, or a missing file to look it up in, is an error (conversion.md: MUST return an error).
 * - additionalGids: only for a user given by name without a group (conversion.md: SHOULD NOT when the user is
 *   numeric or a group is given). They are the gids of the groups whose member list names the user, in file
 *   order, each once — runc's GetExecUser (which docker uses), plus de-duplication. The primary gid is neither
 *   added nor removed: runc does neither; containerd's WithAdditionalGIDs drops the group named like the user and
 *   then prepends the primary gid, both of which are containerd policy rather than the spec.
 * - No `User` (or ""): root, resolved like docker does (runc's GetExecUser with an empty spec and uid 0 as the
 *   default): uid 0, the gid of passwd's uid-0 entry (0 when there is none), and that entry's home and group
 *   memberships — so `id` in the container shows root's groups as under docker and containerd.
 * - Ids are range-checked: 0 to 2^32-2. (runc and containerd stop at 2^31-1 for 32-bit platforms; the kernel's
 *   limit is what matters for tsrun.)
 * - `home` is the passwd entry's home directory when the uid has an entry (runc's GetExecUser sets it for a
 *   numeric uid too); the caller uses it for HOME.
 */
export function resolveImageUser(user: string | undefined, files: ImageUserFiles): ImageUser {
  const passwd = files.passwd === undefined ? undefined : parsePasswd(files.passwd);
  const groups = files.group === undefined ? undefined : parseGroup(files.group);

  if (user === undefined || user === '') {
    const root = passwd?.find((entry) => entry.uid === 0);
    if (root === undefined) return { uid: 0, gid: 0 };
    return withExtras(0, root.gid, root.home, memberships(root.name, groups ?? []));
  }

  const parts = user.split(':');
  const [userPart, groupPart] = parts;
  if (parts.length > 2 || !userPart || groupPart === '') throw userError(user, USER_FORMATS);

  const uidArg = numericId(user, userPart, 'uid');
  const gidArg = groupPart === undefined ? undefined : numericId(user, groupPart, 'gid');

  let uid: number;
  let entry: PasswdEntry | undefined;
  if (uidArg !== undefined) {
    uid = uidArg;
    entry = passwd?.find((candidate) => candidate.uid === uidArg);
  } else {
    if (passwd === undefined) throw userError(user, 'the image has no /etc/passwd to look the user up in');
    entry = passwd.find((candidate) => candidate.name === userPart);
    if (entry === undefined) throw userError(user, "no such user in the image's /etc/passwd");
    uid = entry.uid;
  }

  if (groupPart === undefined) {
    const gid = entry?.gid ?? 0;
    // A numeric user gets no supplementary groups, even when passwd names it (conversion.md).
    const additional = uidArg === undefined && entry !== undefined ? memberships(entry.name, groups ?? []) : [];
    return withExtras(uid, gid, entry?.home, additional);
  }

  let gid = gidArg;
  if (gid === undefined) {
    if (groups === undefined) throw userError(user, 'the image has no /etc/group to look the group up in');
    const group = groups.find((candidate) => candidate.name === groupPart);
    if (group === undefined) throw userError(user, "no such group in the image's /etc/group");
    gid = group.gid;
  }
  return withExtras(uid, gid, entry?.home, []);
}
