import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BootstrapResult } from './auth/tenancy.js';

export interface BootstrapFile {
  orgId: string;
  clientId: string;
  clientSecret: string;
  sandboxName: string;
  tenantId: string;
}

/**
 * Keeps the bootstrap client's secret in `{dataDir}/bootstrap.json` (mode 600): written when the
 * client is created, read back on later starts. Returns the path, or undefined without a data dir.
 */
export function saveBootstrap(dataDir: string | undefined, result: BootstrapResult): string | undefined {
  if (!dataDir) return undefined;
  const path = join(dataDir, 'bootstrap.json');
  if (result.clientSecret && (result.created || !existsSync(path))) {
    const file: BootstrapFile = {
      orgId: result.orgId,
      clientId: result.clientId,
      clientSecret: result.clientSecret,
      sandboxName: result.sandbox,
      tenantId: result.tenantId,
    };
    writeFileSync(path, `${JSON.stringify(file, null, 2)}\n`, { mode: 0o600 });
    chmodSync(path, 0o600);
  }
  return existsSync(path) ? path : undefined;
}

export function readBootstrap(path: string): BootstrapFile {
  return JSON.parse(readFileSync(path, 'utf8')) as BootstrapFile;
}
