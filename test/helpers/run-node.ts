import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export interface NodeRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs `script` with this test's Node (not blocking the event loop, so several run at once) and collects its output. */
export function runNode(script: string, args: string[]): Promise<NodeRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/**
 * Bundles TypeScript from this repository into one ES module at `outfile` for a child Node process: from the file
 * `entry`, or from `source` (code resolved from the repository root). koffi stays external and resolves through a
 * node_modules link made beside `outfile`, and a `require` is provided for dependencies that require() builtins.
 */
export async function bundleNodeScript(outfile: string, from: { entry: string } | { source: string }): Promise<void> {
  const { build } = await import('esbuild');
  const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
  await build({
    ...('entry' in from
      ? { entryPoints: [from.entry] }
      : { stdin: { contents: from.source, resolveDir: repo, loader: 'ts' as const, sourcefile: path.basename(outfile).replace(/\.mjs$/, '.ts') } }),
    outfile,
    banner: { js: "import { createRequire as bannerRequire } from 'node:module'; const require = bannerRequire(import.meta.url);" },
    bundle: true,
    platform: 'node',
    format: 'esm',
    external: ['koffi'],
    nodePaths: [path.join(repo, 'node_modules')],
    logLevel: 'error',
  });
  const link = path.join(path.dirname(outfile), 'node_modules');
  if (!fs.existsSync(link)) fs.symlinkSync(path.join(repo, 'node_modules'), link);
}
