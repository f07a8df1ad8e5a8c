// Packs the package as a user gets it (scripts/pack.sh: the main tarball and
// the linux-x64-gnu platform tarball) and installs both, offline, into a new
// temporary project. Needs `npm run build` first (npm test runs it).

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ROOT, run } from './run';

/**
 * The environment without npm_* variables: npm run passes some
 * (npm_config_local_prefix among them) that would point a child npm back at
 * this repository.
 */
export const CLEAN_ENV: NodeJS.ProcessEnv = Object.fromEntries(
  Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k)),
);

export interface Packed {
  /** the temporary directory: package.json, node_modules/, the tarballs */
  dir: string;
  /** the main tarball, then the platform tarball */
  tarballs: [string, string];
}

export async function packAndInstall(prefix: string, env: NodeJS.ProcessEnv = CLEAN_ENV): Promise<Packed> {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  const pack = await run('bash', [path.join(ROOT, 'scripts', 'pack.sh'), dir], { baseEnv: CLEAN_ENV, timeoutMs: 120_000 }).exit;
  if (pack.code !== 0) throw new Error(`scripts/pack.sh failed: ${pack.stderr}`);
  const tarballs = pack.stdout.trim().split('\n') as [string, string];
  writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'consumer', private: true }));
  const install = await run(
    'npm',
    ['install', '--offline', '--ignore-scripts', '--no-audit', '--no-fund', '--prefix', dir, ...tarballs],
    { cwd: dir, baseEnv: env, timeoutMs: 120_000 },
  ).exit;
  if (install.code !== 0) throw new Error(`npm install of the tarballs failed: ${install.stderr}`);
  return { dir, tarballs };
}
