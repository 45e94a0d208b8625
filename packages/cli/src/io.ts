import { Readable } from 'node:stream';

/** Where a stream of text goes: process.stdout in the bin, a string buffer in tests. */
export interface OutStream {
  write(text: string): unknown;
  /** True when a person is watching (a terminal): colour and progress only then. */
  isTTY?: boolean;
  columns?: number;
}

/**
 * Everything a command touches outside itself. `main(argv, io)` takes one, so tests run the CLI
 * in-process with captured output and their own environment.
 */
export interface CliIo {
  stdout: OutStream;
  stderr: OutStream;
  stdin: NodeJS.ReadableStream;
  env: Record<string, string | undefined>;
  cwd: string;
  /** Aborted on Ctrl-C (the bin wires SIGINT); long-running commands stop cleanly. */
  signal?: AbortSignal;
  /** The clock, in ms; `runs watch` and progress use it. */
  now?: () => number;
}

export function processIo(signal?: AbortSignal): CliIo {
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    stdin: process.stdin,
    env: process.env,
    cwd: process.cwd(),
    ...(signal ? { signal } : {}),
  };
}

/** An io whose output is kept in strings: what tests pass to `main`. */
export interface CapturedIo extends CliIo {
  out(): string;
  err(): string;
}

export function captureIo(
  options: { env?: Record<string, string | undefined>; cwd?: string; stdin?: string; tty?: boolean } = {},
): CapturedIo {
  let out = '';
  let err = '';
  return {
    stdout: {
      write: (t: string) => {
        out += t;
        return true;
      },
      isTTY: options.tty ?? false,
      columns: 100,
    },
    stderr: {
      write: (t: string) => {
        err += t;
        return true;
      },
      isTTY: options.tty ?? false,
    },
    stdin: Readable.from(options.stdin === undefined ? [] : [options.stdin]),
    env: options.env ?? {},
    cwd: options.cwd ?? process.cwd(),
    out: () => out,
    err: () => err,
  };
}
