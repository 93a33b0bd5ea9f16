declare const TSRUN_VERSION: string;
declare const TSRUN_COMMIT: string;

export const SPEC_VERSION = '1.2.1';

export function versionNumber(): string {
  return typeof TSRUN_VERSION === 'string' ? TSRUN_VERSION : 'dev';
}

/** `tsrun --version`, shaped like runc's so go-runc and dockerd can parse it. */
export function versionText(): string {
  const version = typeof TSRUN_VERSION === 'string' ? TSRUN_VERSION : 'dev';
  const commit = typeof TSRUN_COMMIT === 'string' ? TSRUN_COMMIT : 'unknown';
  return `tsrun version ${version}\ncommit: ${commit}\nspec: ${SPEC_VERSION}\nnode: ${process.versions.node}\n`;
}
