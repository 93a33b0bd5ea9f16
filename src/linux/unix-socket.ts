import path from 'node:path';
import { RuntimeError } from '../errors';
import { SyscallError } from './errno';
import { OpenFlags } from './constants';
import { check, errno, fn, koffi } from './libc';

/**
 * AF_UNIX stream sockets and SCM_RIGHTS fd passing, for the console socket protocol (`--console-socket`: one
 * sendmsg carrying one SCM_RIGHTS message with exactly one fd, the pty master, and a non-empty payload shorter
 * than 4096 bytes) and for tsrun's own relay in `run -t`/`exec -t`.
 *
 * Structs are laid out by hand in Buffers, with the LP64 layouts of Linux (x86_64, arm64), checked against
 * the C headers:
 *   struct sockaddr_un { u16 sun_family; char sun_path[108]; }                               110 bytes
 *   struct msghdr { void *name; u32 namelen; (4 pad) struct iovec *iov; size_t iovlen;
 *                   void *control; size_t controllen; int flags; (4 pad) }                      56 bytes
 *   struct iovec { void *base; size_t len; }                                                    16 bytes
 *   struct cmsghdr { size_t len; int level; int type; } + data; CMSG_LEN(4) = 20, CMSG_SPACE(4) = 24
 *
 * Addresses inside structs: msghdr points at the iovec and the control buffer, the iovec at the data. All of
 * them live in ONE Buffer; `koffi.address(buffer)` (koffi >= 2.16 accepts Buffers and typed arrays) gives the
 * address of its first byte and the inner pointers are that base plus offsets. The same Buffer is then passed
 * as the `void *` msghdr argument, which koffi hands to C in place (no copy), so the kernel reads and writes the
 * very memory the inner pointers refer to, and the Buffer stays referenced (alive) for the whole call. The
 * Buffer is always larger than 64 bytes so V8 allocates its backing store off the JS heap, where it never moves
 * (koffi.address also materializes an on-heap typed array off-heap first).
 */

const AF_UNIX = 1;
const SOCK_STREAM = 1;
const SOCK_CLOEXEC = OpenFlags.CLOEXEC;
const SOL_SOCKET = 1;
const SCM_RIGHTS = 1;
const MSG_NOSIGNAL = 0x4000;
const MSG_CTRUNC = 0x8;
const MSG_CMSG_CLOEXEC = 0x40000000;
const EINTR = 4;

/** sizeof(sun_path): a path must fit with its terminating NUL, i.e. be at most 107 bytes. */
export const SUN_PATH_SIZE = 108;
/** The console socket protocol's payload limit: shorter than this many bytes. */
export const MAX_PAYLOAD = 4096;

const MSGHDR_SIZE = 56;
const IOVEC_SIZE = 16;
const CMSG_HEADER_SIZE = 16;
const CMSG_LEN_ONE_FD = CMSG_HEADER_SIZE + 4;
const CMSG_SPACE_ONE_FD = 24;
// Offsets inside the single message Buffer: msghdr, then the iovec, then the control message, then the data.
const IOV_OFFSET = MSGHDR_SIZE;
const CMSG_OFFSET = IOV_OFFSET + IOVEC_SIZE;
const DATA_OFFSET = CMSG_OFFSET + CMSG_SPACE_ONE_FD;

function close(fd: number): void {
  fn('int close(int)')(fd);
}

function newSocket(): number {
  return check(fn('int socket(int, int, int)')(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), 'socket', 'AF_UNIX');
}

function sockaddr(socketPath: string): Buffer {
  const address = Buffer.alloc(2 + SUN_PATH_SIZE);
  address.writeUInt16LE(AF_UNIX, 0);
  address.write(socketPath, 2, 'utf8');
  return address;
}

/**
 * Calls `use` with a struct sockaddr_un and its length for `socketPath`. A path of 108 bytes or more does not
 * fit in sun_path; it is reached through its directory instead: the directory is opened O_PATH and the
 * socket is named `/proc/self/fd/<dirfd>/<name>` (needs /proc; the final name must still fit).
 */
function withSockaddr(socketPath: string, use: (address: Buffer, length: number) => void): void {
  if (socketPath === '' || socketPath.includes('\0')) {
    throw new RuntimeError('socket', `invalid unix socket path ${JSON.stringify(socketPath)}`);
  }
  if (Buffer.byteLength(socketPath) < SUN_PATH_SIZE) {
    use(sockaddr(socketPath), 2 + Buffer.byteLength(socketPath) + 1);
    return;
  }
  const directory = path.dirname(socketPath);
  const name = path.basename(socketPath);
  // A file descriptor has at most 10 digits: decide before opening anything whether the short form fits.
  if (name === '' || Buffer.byteLength(`/proc/self/fd/0123456789/${name}`) >= SUN_PATH_SIZE) {
    throw new RuntimeError(
      'socket',
      `unix socket path \`${socketPath}\` is too long (${Buffer.byteLength(socketPath)} bytes, the limit is ${SUN_PATH_SIZE - 1}) and its file name too long to reach through its directory`,
    );
  }
  const flags = OpenFlags.PATH | OpenFlags.DIRECTORY | OpenFlags.CLOEXEC;
  const dirFd = check(fn('int open(const char *, int, ...)')(directory, flags, 'uint32_t', 0), 'open socket directory', `\`${directory}\``);
  try {
    const short = `/proc/self/fd/${dirFd}/${name}`;
    use(sockaddr(short), 2 + Buffer.byteLength(short) + 1);
  } finally {
    close(dirFd);
  }
}

/** Connects a new AF_UNIX stream socket (close-on-exec) to `socketPath`; the socket is closed on failure. */
export function connectUnix(socketPath: string): number {
  const fd = newSocket();
  try {
    withSockaddr(socketPath, (address, length) => {
      const connect = fn('int connect(int, void *, uint32_t)');
      for (;;) {
        if ((connect(fd, address, length) as number) >= 0) return;
        const e = errno();
        if (e !== EINTR) throw new SyscallError('connect', e, `\`${socketPath}\``);
      }
    });
  } catch (error) {
    close(fd);
    throw error;
  }
  return fd;
}

/** A new AF_UNIX stream socket bound to `socketPath` (which must not exist) and listening with a backlog of 1. */
export function listenUnix(socketPath: string): number {
  const fd = newSocket();
  try {
    withSockaddr(socketPath, (address, length) => {
      check(fn('int bind(int, void *, uint32_t)')(fd, address, length), 'bind', `\`${socketPath}\``);
    });
    check(fn('int listen(int, int)')(fd, 1), 'listen', `\`${socketPath}\``);
  } catch (error) {
    close(fd);
    throw error;
  }
  return fd;
}

/** accept4(SOCK_CLOEXEC) on a listening socket; blocks until a peer connects. */
export function acceptUnix(fd: number): number {
  const accept4 = fn('int accept4(int, void *, void *, int)');
  for (;;) {
    const result = accept4(fd, null, null, SOCK_CLOEXEC) as number;
    if (result >= 0) return result;
    const e = errno();
    if (e !== EINTR) throw new SyscallError('accept4', e, `fd ${fd}`);
  }
}

/** A connected pair of AF_UNIX stream sockets, both close-on-exec. */
export function socketPair(): [number, number] {
  const fds = [-1, -1];
  check(fn('int socketpair(int, int, int, _Out_ int *fds)')(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 'socketpair', 'AF_UNIX');
  return [fds[0]!, fds[1]!];
}

/** Fills msghdr and iovec in `message` (laid out as described at the top) for `dataLength` bytes of data. */
function prepareMessage(message: Buffer, dataLength: number): void {
  const base = koffi().address(message);
  message.writeBigUInt64LE(0n, 0); // msg_name
  message.writeUInt32LE(0, 8); // msg_namelen
  message.writeBigUInt64LE(base + BigInt(IOV_OFFSET), 16); // msg_iov
  message.writeBigUInt64LE(1n, 24); // msg_iovlen
  message.writeBigUInt64LE(base + BigInt(CMSG_OFFSET), 32); // msg_control
  message.writeBigUInt64LE(BigInt(CMSG_SPACE_ONE_FD), 40); // msg_controllen
  message.writeInt32LE(0, 48); // msg_flags
  message.writeBigUInt64LE(base + BigInt(DATA_OFFSET), IOV_OFFSET); // iov_base
  message.writeBigUInt64LE(BigInt(dataLength), IOV_OFFSET + 8); // iov_len
}

/**
 * Sends `fd` over the connected unix socket `socketFd`: ONE sendmsg with ONE SCM_RIGHTS control message
 * carrying exactly that fd, and `payload` as data (non-empty, shorter than 4096 bytes in UTF-8; runc sends
 * the pty's name). MSG_NOSIGNAL: a closed peer gives EPIPE instead of SIGPIPE. A short write is an error.
 */
export function sendFd(socketFd: number, fd: number, payload: string): void {
  const length = Buffer.byteLength(payload);
  if (length === 0) throw new RuntimeError('socket', 'sendFd: the payload must not be empty');
  if (length >= MAX_PAYLOAD) {
    throw new RuntimeError('socket', `sendFd: the payload must be shorter than ${MAX_PAYLOAD} bytes, got ${length}`);
  }
  if (!Number.isInteger(fd) || fd < 0) throw new RuntimeError('socket', `sendFd: invalid file descriptor ${fd}`);

  const message = Buffer.alloc(DATA_OFFSET + length);
  prepareMessage(message, length);
  message.writeBigUInt64LE(BigInt(CMSG_LEN_ONE_FD), CMSG_OFFSET); // cmsg_len
  message.writeInt32LE(SOL_SOCKET, CMSG_OFFSET + 8); // cmsg_level
  message.writeInt32LE(SCM_RIGHTS, CMSG_OFFSET + 12); // cmsg_type
  message.writeInt32LE(fd, CMSG_OFFSET + CMSG_HEADER_SIZE); // the fd; the last 4 bytes are padding
  message.write(payload, DATA_OFFSET, 'utf8');

  const sendmsg = fn('long sendmsg(int, void *, int)');
  for (;;) {
    const sent = Number(sendmsg(socketFd, message, MSG_NOSIGNAL));
    if (sent === length) return;
    if (sent >= 0) {
      throw new RuntimeError('socket', `sendmsg fd ${socketFd}: short write, ${sent} of ${length} bytes sent`);
    }
    const e = errno();
    if (e !== EINTR) throw new SyscallError('sendmsg', e, `fd ${socketFd}`);
  }
}

/**
 * Receives one message from `socketFd` with room for one SCM_RIGHTS fd (installed close-on-exec) and up to
 * 4096 bytes of payload. Throws if the message carried no fd (or the peer closed the connection), if it
 * carried anything but a single SCM_RIGHTS fd, or if the control data was truncated (any fd that arrived is
 * closed then).
 */
export function recvFd(socketFd: number): { fd: number; payload: string } {
  const message = Buffer.alloc(DATA_OFFSET + MAX_PAYLOAD);
  prepareMessage(message, MAX_PAYLOAD);
  const recvmsg = fn('long recvmsg(int, void *, int)');
  let received: number;
  for (;;) {
    received = Number(recvmsg(socketFd, message, MSG_CMSG_CLOEXEC));
    if (received >= 0) break;
    const e = errno();
    if (e !== EINTR) throw new SyscallError('recvmsg', e, `fd ${socketFd}`);
  }

  const controlLength = Number(message.readBigUInt64LE(40));
  const flags = message.readInt32LE(48);
  let fd = -1;
  let shape = 'no control message';
  if (controlLength >= CMSG_HEADER_SIZE) {
    const cmsgLength = Number(message.readBigUInt64LE(CMSG_OFFSET));
    const level = message.readInt32LE(CMSG_OFFSET + 8);
    const type = message.readInt32LE(CMSG_OFFSET + 12);
    if (level === SOL_SOCKET && type === SCM_RIGHTS && cmsgLength >= CMSG_LEN_ONE_FD) {
      fd = message.readInt32LE(CMSG_OFFSET + CMSG_HEADER_SIZE);
      shape = cmsgLength === CMSG_LEN_ONE_FD ? 'one fd' : `${(cmsgLength - CMSG_HEADER_SIZE) / 4} fds`;
    } else {
      shape = `a control message of level ${level} type ${type}`;
    }
  }
  if (fd >= 0 && ((flags & MSG_CTRUNC) !== 0 || controlLength > CMSG_SPACE_ONE_FD)) {
    close(fd);
    throw new RuntimeError('socket', `recvmsg fd ${socketFd}: expected exactly one file descriptor, the control data was truncated`);
  }
  if (fd < 0) {
    if (received === 0 && controlLength === 0) {
      throw new RuntimeError('socket', `recvmsg fd ${socketFd}: the peer closed the connection without sending a file descriptor`);
    }
    const truncated = flags & MSG_CTRUNC ? ' (truncated)' : '';
    throw new RuntimeError('socket', `recvmsg fd ${socketFd}: expected one SCM_RIGHTS file descriptor, got ${shape}${truncated}`);
  }
  return { fd, payload: message.toString('utf8', DATA_OFFSET, DATA_OFFSET + received) };
}
