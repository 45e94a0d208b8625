import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { customerioConnector } from '@inflow/connector-customerio';
import { postgresqlConnector } from '@inflow/connector-postgresql';
import { s3Connector } from '@inflow/connector-s3';
import { streamingConnector } from '@inflow/connector-streaming';
import { buildServer, type InflowServer, saveBootstrap } from '@inflow/server';
import { type CapturedIo, captureIo, main } from '../src/index.js';

export const CONNECTORS = [s3Connector, postgresqlConnector, streamingConnector, customerioConnector];

/** A real server on 127.0.0.1 (free port) with a temp data dir, and a temp config dir for the CLI. */
export interface CliHarness {
  server: InflowServer;
  url: string;
  dir: string;
  dataDir: string;
  bootstrapFile: string;
  env: Record<string, string | undefined>;
  /** Runs `inflow …` in-process; resolves with the exit code and what it printed. */
  run(
    argv: string[],
    options?: { env?: Record<string, string | undefined>; stdin?: string; tty?: boolean },
  ): Promise<CliRun>;
  /** `run` with `--json`, parsing stdout. */
  json<T = unknown>(
    argv: string[],
    options?: { env?: Record<string, string | undefined>; stdin?: string },
  ): Promise<CliRun & { body: T }>;
  close(): Promise<void>;
}

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
  io: CapturedIo;
}

export async function startHarness(options: { tenantId?: string } = {}): Promise<CliHarness> {
  const dir = mkdtempSync(join(tmpdir(), 'inflow-cli-'));
  const dataDir = join(dir, 'data');
  const server = await buildServer({
    host: '127.0.0.1',
    port: 0,
    dataDir,
    publicUrl: undefined,
    secretKey: undefined,
    bootstrap: { tenantId: options.tenantId ?? 'acme' },
    tokenTtlSeconds: 3600,
    logLevel: 'silent',
    connectors: CONNECTORS,
  });
  const url = await server.listen();
  const bootstrapFile = saveBootstrap(dataDir, server.bootstrap) as string;
  const env = { INFLOW_CONFIG: join(dir, 'config', 'config.json'), HOME: dir };
  const run: CliHarness['run'] = async (argv, o = {}) => {
    const io = captureIo({
      env: { ...env, ...o.env },
      cwd: dir,
      ...(o.stdin !== undefined ? { stdin: o.stdin } : {}),
      ...(o.tty ? { tty: true } : {}),
    });
    const code = await main(argv, io);
    return { code, stdout: io.out(), stderr: io.err(), io };
  };
  return {
    server,
    url,
    dir,
    dataDir,
    bootstrapFile,
    env,
    run,
    async json<T>(argv: string[], o: { env?: Record<string, string | undefined>; stdin?: string } = {}) {
      const r = await run([...argv, '--json'], o);
      let body: T;
      try {
        body = (r.stdout.trim() === '' ? undefined : JSON.parse(r.stdout)) as T;
      } catch {
        throw new Error(
          `inflow ${argv.join(' ')} printed no JSON (exit ${r.code}):\n${r.stdout}\n${r.stderr}`,
        );
      }
      return { ...r, body };
    },
    async close() {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
