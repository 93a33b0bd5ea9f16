import { RuntimeError } from '../../../errors';
import { parseDigest, quote } from '../digest';

/**
 * Image references as docker and the distribution spec write them: `[registry[:port]/]repository[:tag][@digest]`.
 * Pure parsing and formatting, no I/O.
 *
 * - The first path component names a registry when it contains a `.` or a `:`, is `localhost`, or has an
 *   uppercase letter (docker's rule: repository names are lowercase, host names need not be); otherwise the
 *   registry is docker.io, whose API is served at registry-1.docker.io and whose one-component repositories live
 *   under `library/`.
 * - Repository path components follow the distribution spec's grammar `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`,
 *   tags `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`; the name (registry and repository) is at most 255 characters.
 * - Without tag and digest the tag is `latest`; with a digest and no tag there is no tag.
 */

export interface ImageReference {
  /** The registry as the user names it (`docker.io`, `localhost:5000`, `[::1]:5000`). */
  registry: string;
  /** host[:port] the registry's HTTP API is reached at (`registry-1.docker.io` for docker.io). */
  apiHost: string;
  /** The repository inside the registry (`library/alpine`). */
  repository: string;
  tag?: string;
  /** `algorithm:hex`, sha256 or sha512. */
  digest?: string;
}

export const DEFAULT_REGISTRY = 'docker.io';
const DOCKER_HUB_API_HOST = 'registry-1.docker.io';
const NAME_MAX_LENGTH = 255;

const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const DOMAIN_NAME = /^(?:[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9])(?:\.(?:[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9]))*(?::[0-9]+)?$/;
const IPV6_DOMAIN = /^\[[A-Fa-f0-9:]+\](?::[0-9]+)?$/;

function fail(text: string, problem: string): never {
  throw new RuntimeError('image', `image reference ${quote(text)}: ${problem}`);
}

/** Whether the first component of a name is a registry rather than part of the repository (docker's rule). */
function isRegistryComponent(component: string): boolean {
  return component.includes('.') || component.includes(':') || component === 'localhost' || component !== component.toLowerCase();
}

/** Parses and checks a reference; errors are one line naming the reference, the part and what was expected. */
export function parseReference(text: string): ImageReference {
  if (typeof text !== 'string' || text === '') fail(String(text), 'empty (expected [registry[:port]/]repository[:tag][@digest])');
  let rest = text;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    try {
      parseDigest(digest, 'digest');
    } catch (error) {
      fail(text, (error as Error).message.replace(/^digest: digest /, 'digest '));
    }
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) fail(text, `tag ${quote(tag)} must match [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`);
  }
  if (rest === '') fail(text, 'no repository name (expected [registry[:port]/]repository[:tag][@digest])');

  let registry = DEFAULT_REGISTRY;
  let path = rest;
  const slash = rest.indexOf('/');
  if (slash >= 0 && isRegistryComponent(rest.slice(0, slash))) {
    registry = rest.slice(0, slash);
    path = rest.slice(slash + 1);
    if (!DOMAIN_NAME.test(registry) && !IPV6_DOMAIN.test(registry)) {
      fail(text, `registry ${quote(registry)} is not a host name or [IPv6 address] with an optional :port`);
    }
  }
  if (registry === 'index.docker.io') registry = DEFAULT_REGISTRY;
  if (path === '') fail(text, 'no repository name after the registry');
  for (const component of path.split('/')) {
    if (PATH_COMPONENT.test(component)) continue;
    if (component === '') fail(text, `repository ${quote(path)} has an empty path component`);
    if (PATH_COMPONENT.test(component.toLowerCase())) fail(text, `repository name ${quote(path)} must be lowercase`);
    fail(text, `repository path component ${quote(component)} must match [a-z0-9]+((.|_|__|-+)[a-z0-9]+)*`);
  }
  if (registry === DEFAULT_REGISTRY && !path.includes('/')) path = `library/${path}`;
  const nameLength = registry.length + 1 + path.length;
  if (nameLength > NAME_MAX_LENGTH) fail(text, `the name is ${nameLength} characters long (at most ${NAME_MAX_LENGTH})`);

  const reference: ImageReference = {
    registry,
    apiHost: registry === DEFAULT_REGISTRY ? DOCKER_HUB_API_HOST : registry,
    repository: path,
  };
  if (tag === undefined && digest === undefined) tag = 'latest';
  if (tag !== undefined) reference.tag = tag;
  if (digest !== undefined) reference.digest = digest;
  return reference;
}

/** The fully qualified form: `docker.io/library/alpine:latest`, `127.0.0.1:5000/x/y@sha256:…`. */
export function formatReference(reference: ImageReference): string {
  const tag = reference.tag === undefined ? '' : `:${reference.tag}`;
  const digest = reference.digest === undefined ? '' : `@${reference.digest}`;
  return `${reference.registry}/${reference.repository}${tag}${digest}`;
}

/** What the manifest endpoint is asked for: the digest when there is one (it pins the content), else the tag. */
export function manifestReference(reference: ImageReference): string {
  return reference.digest ?? reference.tag ?? 'latest';
}
