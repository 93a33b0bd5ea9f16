import fs from 'node:fs';
import { formatHookState, runHooks } from '../hooks/run-hook';
import type { Sys } from '../linux/sys';
import type { HookKind } from '../spec/plan';
import type { Hook } from '../spec/types';
import type { StoredState } from './state-store';

/**
 * The runtime-namespace hooks (prestart, createRuntime, poststart, poststop), run by tsrun itself. The hooks of
 * the container namespace (createContainer, startContainer) are run by the container's init.
 */

export type ContainerStatus = 'creating' | 'created' | 'running' | 'stopped';

/** What a hook learns about the container: the runtime-spec state, for one moment of the lifecycle. */
export interface HookStateSource {
  ociVersion: string;
  id: string;
  bundle: string;
  annotations?: Record<string, string> | undefined;
}

export interface HookRunner {
  sys: Sys;
  warn(message: string): void;
}

/** The runtime-spec state a hook reads on stdin; `pid` as the runtime (this process) sees it. */
export function hookState(source: HookStateSource, status: ContainerStatus, pid?: number): string {
  return formatHookState({
    ociVersion: source.ociVersion,
    id: source.id,
    status,
    ...(pid === undefined ? {} : { pid }),
    bundle: source.bundle,
    ...(source.annotations ? { annotations: source.annotations } : {}),
  });
}

/**
 * Runs the hooks of one kind in the runtime namespace; throws at the first failure. They run in the bundle
 * directory (as with runc, which works from there), or where tsrun was started if the bundle is gone.
 */
export function runRuntimeHooks(runner: HookRunner, kind: HookKind, hooks: readonly Hook[], state: string, bundle: string): void {
  if (hooks.length === 0) return;
  runHooks(runner.sys, kind, hooks, state, isDirectory(bundle) ? { cwd: bundle } : {});
}

/**
 * poststart and poststop: runtime-spec v1.2 makes their failure a warning; the lifecycle goes on (runc ≥ 1.2
 * kills the container on a poststart failure instead; tsrun follows the spec).
 */
export function runWarningHooks(runner: HookRunner, kind: 'poststart' | 'poststop', hooks: readonly Hook[], state: string, bundle: string): void {
  try {
    runRuntimeHooks(runner, kind, hooks, state, bundle);
  } catch (error) {
    runner.warn(`${(error as Error).message} (a failing ${kind} hook is a warning; continuing)`);
  }
}

/** The hooks tsrun still has to run after `create` returned: recorded in state.json, as config.json may change. */
export interface StoredHooks {
  poststart: Hook[];
  poststop: Hook[];
}

export function storedHooksOf(state: StoredState): StoredHooks {
  const stored = state.hooks as Partial<StoredHooks> | undefined;
  return { poststart: stored?.poststart ?? [], poststop: stored?.poststop ?? [] };
}

/** poststop of a container whose state directory is already gone; a warning on failure. */
export function runPoststop(runner: HookRunner, state: StoredState): void {
  const { poststop } = storedHooksOf(state);
  if (poststop.length === 0) return;
  runWarningHooks(runner, 'poststop', poststop, hookState(state, 'stopped'), state.bundle);
}

/** poststart once the process runs; a warning on failure. */
export function runPoststart(runner: HookRunner, state: StoredState): void {
  const { poststart } = storedHooksOf(state);
  if (poststart.length === 0) return;
  runWarningHooks(runner, 'poststart', poststart, hookState(state, 'running', state.initPid), state.bundle);
}

function isDirectory(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}
