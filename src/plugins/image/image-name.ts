/**
 * The fully qualified form of a docker image name, as docker and containerd compare them: `alpine` →
 * `docker.io/library/alpine:latest`, `example.com:5000/x/y` → `example.com:5000/x/y:latest`.
 */
export function normalizeImageName(name: string): string {
  let rest = name;
  let digest = '';
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at);
    rest = rest.slice(0, at);
  }
  let tag = '';
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon);
    rest = rest.slice(0, colon);
  }
  const parts = rest.split('/');
  let domain = 'docker.io';
  const first = parts[0] ?? '';
  if (parts.length > 1 && (first.includes('.') || first.includes(':') || first === 'localhost')) {
    domain = first;
    parts.shift();
  }
  if (domain === 'index.docker.io') domain = 'docker.io';
  if (domain === 'docker.io' && parts.length === 1) parts.unshift('library');
  if (tag === '' && digest === '') tag = ':latest';
  return `${domain}/${parts.join('/')}${tag}${digest}`;
}
