import fs from 'node:fs';
import { FsCgroupManager } from '../cgroups/fs-manager';
import { detectLayout } from '../cgroups/layout';
import { resolveCgroupPaths } from '../cgroups/paths';
import { planV1 } from '../cgroups/resources-v1';
import { planV2 } from '../cgroups/resources-v2';
import { compileDeviceProgram, planV1DeviceWrites } from '../cgroups/devices';
import { attachDeviceProgram, loadDeviceProgram } from '../linux/bpf';
import type { CgroupLayout, CgroupManager, CgroupState, CgroupWrite } from '../cgroups/types';
import { parseCgroupFile } from '../linux/proc-parsers';
import type { Spec } from '../spec/types';
import type { StoredState } from './state-store';
import type { RuntimeContext } from './context';
import { removeEmptyParents, type ParentRegistryDeps } from './cgroup-parents';

/** The host's cgroup layout, read from /proc/self/mountinfo. */
export function hostCgroupLayout(): CgroupLayout {
  return detectLayout(fs.readFileSync('/proc/self/mountinfo', 'utf8'));
}

/** Whether `controller` exists on this layout (as a v1 hierarchy, or in the unified one on a v2 host). */
function availability(layout: CgroupLayout, unifiedControllers: string[]): (controller: string) => boolean {
  return (controller) => controller in layout.v1 || (layout.mode === 'v2' && unifiedControllers.includes(controller));
}

function unifiedControllers(layout: CgroupLayout): string[] {
  if (!layout.unified) return [];
  try {
    return fs.readFileSync(`${layout.unified.mountPoint}/cgroup.controllers`, 'utf8').trim().split(/\s+/).filter(Boolean);
  } catch {
    return [];
  }
}

/**
 * The writes linux.resources asks for on this layout. Hybrid hosts are treated as v1 for controllers (the
 * unified hierarchy is only joined), like runc does.
 */
export function planResourceWrites(
  layout: CgroupLayout,
  resources: unknown,
  deviceRules?: unknown[],
  warn: (message: string) => void = () => undefined,
): CgroupWrite[] {
  const unified = unifiedControllers(layout);
  const available = availability(layout, unified);
  const hasFile = (controller: string, file: string) => {
    const dir = controller === 'unified' ? layout.unified?.mountPoint : layout.v1[controller]?.mountPoint;
    return dir !== undefined && fs.existsSync(`${dir}/${file}`);
  };
  let plan: { writes: CgroupWrite[]; warnings: string[] } = { writes: [], warnings: [] };
  if (resources !== undefined && resources !== null) {
    if (layout.mode === 'v2') {
      plan = planV2(resources, available, { hasFile });
    } else {
      // A hybrid host may keep a controller only in its cgroup2 hierarchy (hugetlb here): those limits go there.
      const { hugepageLimits, ...v1Resources } = resources as Record<string, unknown>;
      const hugetlbInUnified = layout.mode === 'hybrid' && !available('hugetlb') && unified.includes('hugetlb');
      plan = planV1(hugetlbInUnified ? v1Resources : resources, available, { hasFile });
      if (hugetlbInUnified && hugepageLimits !== undefined) {
        const v2 = planV2({ hugepageLimits }, (c) => unified.includes(c), { hasFile });
        plan = { writes: [...plan.writes, ...v2.writes], warnings: [...plan.warnings, ...v2.warnings] };
      }
    }
  }
  for (const warning of plan.warnings) warn(warning);
  // v1 device rules: always written when given (create passes them always: deny all, the config's rules, the
  // devices of linux.devices, runc's defaults). On v2 the same rules become an eBPF program instead.
  const deviceWrites = deviceRules !== undefined && layout.mode !== 'v2' && available('devices') ? planV1DeviceWrites(deviceRules) : [];
  return [...plan.writes, ...deviceWrites];
}

/**
 * The device rules of a container, as runc builds them: linux.resources.devices in order, then an allow rule
 * for each node of linux.devices (the container must be able to use the devices it was given).
 */
export function containerDeviceRules(spec: Spec): unknown[] {
  const rules = Array.isArray(spec.linux?.resources?.devices) ? [...(spec.linux!.resources!.devices as unknown[])] : [];
  for (const device of spec.linux?.devices ?? []) {
    if (device.type === 'p') continue; // fifos are not device-cgroup controlled
    rules.push({ allow: true, type: device.type === 'u' ? 'c' : device.type, major: Number(device.major), minor: Number(device.minor), access: 'rwm' });
  }
  return rules;
}

/**
 * Makes the container's cgroups (cgroupsPath resolved as runc does), tells `made` what exists now, and writes its
 * limits. The caller joins the container's first process and, on any later failure, destroys what was made.
 */
export function createContainerCgroups(
  spec: Spec,
  id: string,
  warn: (message: string) => void = () => undefined,
  made: (state: CgroupState) => void = () => undefined,
): CgroupManager {
  const layout = hostCgroupLayout();
  const paths = resolveCgroupPaths(layout, {
    cgroupsPath: spec.linux?.cgroupsPath,
    id,
    ownCgroups: parseCgroupFile(fs.readFileSync('/proc/self/cgroup', 'utf8')),
  });
  const manager = new FsCgroupManager(layout, paths);
  try {
    // Inside the try: a mkdir that fails half-way (a name too long for the last level) leaves the levels made above it.
    manager.create();
    made(manager.state);
    const { devices: _devices, ...limits } = (spec.linux?.resources ?? {}) as Record<string, unknown>;
    const rules = containerDeviceRules(spec);
    manager.apply(planResourceWrites(layout, limits, rules, warn));
    if (layout.mode === 'v2' && paths.unified) attachDeviceFilter(paths.unified, rules);
  } catch (error) {
    manager.destroy(() => undefined);
    throw error;
  }
  return manager;
}

/**
 * cgroup v2 has no devices files: the rules become an eBPF program attached to the container's cgroup. It
 * stays attached for the cgroup's lifetime (removed with it), so the program fd is closed right away.
 */
function attachDeviceFilter(cgroupDir: string, rules: unknown[]): void {
  const program = loadDeviceProgram(compileDeviceProgram(rules));
  const dirFd = fs.openSync(cgroupDir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  try {
    attachDeviceProgram(dirFd, program);
  } finally {
    fs.closeSync(dirFd);
    fs.closeSync(program);
  }
}

/** The manager of a container created earlier, from its state (the same driver and directories). */
export function cgroupManagerOf(state: StoredState): CgroupManager | undefined {
  const cgroup = state.cgroup as CgroupState | undefined;
  return cgroup ? FsCgroupManager.fromState(cgroup) : undefined;
}

/** The registry of made parent cgroups under this --root (./cgroup-parents.ts). */
export function parentRegistry(ctx: RuntimeContext): ParentRegistryDeps {
  return { root: ctx.store.root, withLock: (fn) => ctx.store.withSharedLock('cgroup-parents', fn) };
}

/**
 * Kills what is left in a container's cgroups (SIGKILL) and removes them, then the parents tsrun made that nobody
 * uses any more (also those another container made). Nothing to do without cgroups.
 */
export function destroyContainerCgroups(ctx: RuntimeContext, cgroups: CgroupManager | undefined): void {
  if (!cgroups) return;
  cgroups.destroy((pid) => ctx.sys.signalIfAlive(pid, 9));
  for (const problem of removeEmptyParents(parentRegistry(ctx), cgroups.state)) ctx.warn(problem);
}
