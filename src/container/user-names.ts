import fs from 'node:fs';

/** The user name of `uid` from the host's /etc/passwd, or `#<uid>` like runc's list when there is none. */
export function userName(uid: number, passwd = readPasswd()): string {
  for (const line of passwd.split('\n')) {
    const fields = line.split(':');
    if (fields.length >= 3 && Number(fields[2]) === uid && fields[2] !== '') return fields[0]!;
  }
  return `#${uid}`;
}

function readPasswd(): string {
  try {
    return fs.readFileSync('/etc/passwd', 'utf8');
  } catch {
    return '';
  }
}
