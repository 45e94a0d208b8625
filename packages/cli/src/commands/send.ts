import { createReadStream, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { ApiCallError, PlatformTransport } from '@inflow/core';
import type { CommandContext, CommandDef } from '../command.js';
import { CliError, EXIT, exitCodeOf, UsageError } from '../errors.js';
import { bar, duration, Progress } from '../output.js';
import { resolveByName } from './resolve.js';

/** The inlet's limit is 1 MB per request; batches stay under it with room for the envelope. */
export const MAX_BATCH_BYTES = 900 * 1024;
export const DEFAULT_BATCH_SIZE = 500;

interface Pending {
  line: number;
  value: unknown;
}

interface Reason {
  reason: string;
  count: number;
  /** Line numbers (1-based) of the first few records rejected for it. */
  lines: number[];
}

/** `…/collection/{id}` → `…/collection/batch/{id}` (query kept). */
export function batchUrlOf(inletUrl: string): URL {
  let url: URL;
  try {
    url = new URL(inletUrl);
  } catch {
    throw new UsageError(
      `"${inletUrl}" is not an inlet URL`,
      'it looks like http://127.0.0.1:8080/collection/{inletId}; or pass --flow ID',
    );
  }
  const m = /^(.*\/collection)\/(?:batch\/)?([^/]+)\/?$/.exec(url.pathname);
  if (!m)
    throw new UsageError(
      `"${inletUrl}" is not an inlet URL (…/collection/{inletId})`,
      'copy it from `inflow connections get <id>` (auth.params.inletUrl) or pass --flow ID',
    );
  url.pathname = `${m[1]}/batch/${m[2]}`;
  return url;
}

async function inletUrlFor(ctx: CommandContext): Promise<{ url: string; flowId?: string }> {
  const first = ctx.positionals[0];
  const flow = ctx.string('flow');
  const connection = ctx.string('connection');
  if (first && /^https?:\/\//.test(first)) return { url: first, ...(flow ? { flowId: flow } : {}) };
  if (flow) {
    const id = await resolveByName(ctx, 'flows', flow);
    const f = (await ctx.client().flows.get(id)) as { options?: { inletUrl?: string } };
    const url = f.options?.inletUrl;
    if (!url)
      throw new CliError(`flow ${flow} has no inlet URL (options.inletUrl)`, {
        exitCode: EXIT.usage,
        fix: 'only streaming flows have one; check the flow id',
      });
    return { url, flowId: id };
  }
  if (connection) {
    const c = (await ctx.client().connections.get(await resolveByName(ctx, 'connections', connection))) as {
      auth?: { params?: { inletUrl?: string } };
    };
    const url = c.auth?.params?.inletUrl;
    if (!url)
      throw new CliError(`connection ${connection} has no inlet URL (auth.params.inletUrl)`, {
        exitCode: EXIT.usage,
        fix: 'only streaming connections have one',
      });
    return { url };
  }
  throw new UsageError(
    'where to? give an inlet URL, --flow ID or --connection ID',
    'e.g. `inflow send --flow 2edc08ac-… records.jsonl`',
  );
}

export const sendCommand: CommandDef = {
  name: 'send',
  summary: 'Stream JSON-lines records to a streaming inlet, in batches, and report what was accepted',
  usage: 'inflow send <inlet-url | --flow ID | --connection ID> [file.jsonl | -]',
  description: [
    'Each line is one message, sent as it is (an XDM message {header, body}, or a raw record for a flow with',
    'a mapping). Lines are grouped into batches (POST /collection/batch/{inletId}, under 1 MB each);',
    'throttling (429/503) is retried with backoff. The summary counts accepted and rejected records and',
    'groups the rejections by reason, with line numbers. Reads stdin when the file is - or absent.',
    'Delivery is at least once: a batch whose connection broke mid-request is sent again.',
  ].join('\n'),
  api: true,
  maxPositionals: 2,
  options: {
    flow: {
      type: 'string',
      value: 'ID',
      description: "Send to this flow's inlet (and name the flow: x-adobe-flow-id)",
    },
    connection: { type: 'string', value: 'ID', description: "Send to this streaming connection's inlet" },
    auth: { type: 'boolean', description: 'Send the profile token (inlets with authenticationRequired)' },
    'batch-size': {
      type: 'string',
      value: 'N',
      description: `Records per request (default ${DEFAULT_BATCH_SIZE})`,
    },
  },
  examples: [
    'inflow send http://127.0.0.1:8080/collection/667b41cf… events.jsonl',
    'inflow send --flow 2edc08ac-4df5-4fe6-936f-81a19ce92f5c events.jsonl',
    'cat events.jsonl | inflow send --connection 1f5af99c-… --auth -',
    'inflow send --flow 2edc08ac-… events.jsonl --json | jq .rejected',
  ],
  async run(ctx) {
    const { io, out } = ctx;
    const { url: inletUrl, flowId } = await inletUrlFor(ctx);
    const batchUrl = batchUrlOf(inletUrl);
    const fileArg = /^https?:\/\//.test(ctx.positionals[0] ?? '') ? ctx.positionals[1] : ctx.positionals[0];
    if (ctx.positionals.length === 2 && !/^https?:\/\//.test(ctx.positionals[0] ?? '')) {
      throw new UsageError(`unexpected argument "${ctx.positionals[1]}"`);
    }
    const batchSizeText = ctx.string('batch-size');
    const batchSize = batchSizeText === undefined ? DEFAULT_BATCH_SIZE : Number(batchSizeText);
    if (!Number.isInteger(batchSize) || batchSize < 1)
      throw new UsageError(`--batch-size must be a whole number ≥ 1, got "${batchSizeText}"`);

    let input: NodeJS.ReadableStream;
    let totalBytes: number | undefined;
    if (!fileArg || fileArg === '-') {
      if ((io.stdin as { isTTY?: boolean }).isTTY)
        throw new UsageError(
          'no file given and stdin is a terminal',
          'pass a .jsonl file, or pipe records in',
        );
      input = io.stdin;
    } else {
      const path = resolve(io.cwd, fileArg);
      try {
        totalBytes = statSync(path).size;
      } catch (cause) {
        throw new CliError(`cannot read ${path}`, { exitCode: EXIT.usage, cause });
      }
      input = createReadStream(path);
    }

    const auth = ctx.flag('auth');
    const profile = auth ? ctx.profile() : undefined;
    const transport = new PlatformTransport({
      endpoint: batchUrl.origin,
      ...(auth ? { token: ctx.tokens() } : {}),
      ...(profile?.clientId ? { apiKey: profile.clientId } : {}),
      ...(profile?.orgId ? { orgId: profile.orgId } : {}),
      ...(profile ? { sandboxName: profile.sandbox } : {}),
      userAgent: 'inflow-cli',
      // Throttled or unavailable batches were not taken: sending them again loses nothing.
      retry: { retryNonIdempotent: true, maxAttempts: 5 },
    });
    const query = Object.fromEntries(batchUrl.searchParams);
    const headers: Record<string, string> = flowId ? { 'x-adobe-flow-id': flowId } : {};

    const now = io.now ?? Date.now;
    const started = now();
    const progress = new Progress(out, now);
    const reasons = new Map<string, Reason>();
    let records = 0;
    let accepted = 0;
    let rejected = 0;
    let batches = 0;
    let bytesRead = 0;
    const reject = (line: number, reason: string) => {
      rejected++;
      const r = reasons.get(reason) ?? { reason, count: 0, lines: [] };
      r.count++;
      if (r.lines.length < 5) r.lines.push(line);
      reasons.set(reason, r);
    };
    const draw = (force = false) => {
      const secs = (now() - started) / 1000;
      const rate = secs > 0 ? records / secs : 0;
      const base = `${records} records  ${accepted} accepted  ${rejected} rejected  ${Math.round(rate)}/s`;
      if (totalBytes) {
        const f = bytesRead / totalBytes;
        const eta = f > 0 ? (secs / f) * (1 - f) : Number.NaN;
        progress.update(`${bar(f)}  ${base}  ETA ${duration(eta)}`, force);
      } else progress.update(base, force);
    };

    const sendBatch = async (batch: Pending[]): Promise<void> => {
      if (batch.length === 0) return;
      batches++;
      let res: { status: number; body: unknown };
      try {
        res = await transport.send({
          method: 'POST',
          service: 'root',
          path: batchUrl.pathname,
          query,
          headers,
          anonymous: !auth,
          body: { messages: batch.map((p) => p.value) },
        });
      } catch (error) {
        const api = error instanceof Error && ApiCallError.isInstance(error) ? error : undefined;
        if (api?.status === 413 && batch.length > 1) {
          const half = Math.ceil(batch.length / 2);
          await sendBatch(batch.slice(0, half));
          await sendBatch(batch.slice(half));
          return;
        }
        if (api && api.status >= 400 && api.status < 500 && ![401, 403, 404].includes(api.status)) {
          const reason = `HTTP ${api.status}: ${api.problem.detail ?? api.problem.title ?? 'rejected'}`;
          for (const p of batch) reject(p.line, reason);
          return;
        }
        const code = exitCodeOf(error);
        throw new CliError(`${(error as Error).message}`, {
          exitCode: code,
          fix:
            api?.status === 401 && !auth
              ? 'this inlet requires authentication: add --auth (it sends the profile token)'
              : `${accepted} of ${records} records were accepted before this; resend from line ${batch[0]?.line ?? 1}`,
          cause: error,
        });
      }
      const responses = (
        res.body as
          | { responses?: { xactionId?: string; statusCode?: number; message?: string }[] }
          | undefined
      )?.responses;
      if (!Array.isArray(responses)) {
        accepted += batch.length;
        return;
      }
      batch.forEach((p, i) => {
        const r = responses[i];
        if (r && (r.statusCode === undefined || r.statusCode < 300) && (r.xactionId || r.statusCode))
          accepted++;
        else
          reject(
            p.line,
            r ? `${r.statusCode ?? '?'}: ${r.message ?? 'rejected'}` : 'no response for this message',
          );
      });
    };

    let batch: Pending[] = [];
    let batchBytes = 0;
    let lineNo = 0;
    const lines = createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY });
    for await (const raw of lines) {
      io.signal?.throwIfAborted();
      lineNo++;
      bytesRead += Buffer.byteLength(raw) + 1;
      const text = raw.trim();
      if (text === '') continue;
      records++;
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch {
        reject(lineNo, 'not valid JSON (each line must be one JSON value)');
        continue;
      }
      const size = Buffer.byteLength(text) + 1;
      if (size > MAX_BATCH_BYTES) {
        reject(lineNo, `larger than the inlet's 1 MB request limit (${size} bytes)`);
        continue;
      }
      if (batch.length >= batchSize || batchBytes + size > MAX_BATCH_BYTES) {
        await sendBatch(batch);
        batch = [];
        batchBytes = 0;
        draw();
      }
      batch.push({ line: lineNo, value });
      batchBytes += size;
    }
    await sendBatch(batch);
    draw(true);
    progress.done();

    const durationMs = now() - started;
    const summary = {
      inletUrl,
      ...(flowId ? { flowId } : {}),
      records,
      accepted,
      rejected,
      batches,
      durationMs,
      reasons: [...reasons.values()].sort((a, b) => b.count - a.count),
    };
    out.result(summary, () => {
      const rate = durationMs > 0 ? Math.round((records / durationMs) * 1000) : records;
      out.line(
        `${rejected ? out.paint('yellow', '!') : out.paint('green', '✔')} Sent ${records} record${records === 1 ? '' : 's'} in ${batches} batch${batches === 1 ? '' : 'es'} (${(durationMs / 1000).toFixed(1)} s, ${rate}/s): ${out.paint('green', `${accepted} accepted`)}, ${rejected ? out.paint('red', `${rejected} rejected`) : '0 rejected'}`,
      );
      for (const r of summary.reasons.slice(0, 10)) {
        out.line(
          `  ${String(r.count).padStart(6)} × ${r.reason}  ${out.paint('dim', `(line${r.lines.length > 1 ? 's' : ''} ${r.lines.join(', ')}${r.count > r.lines.length ? ', …' : ''})`)}`,
        );
      }
      if (summary.reasons.length > 10)
        out.line(`  … and ${summary.reasons.length - 10} more reasons (--json lists them all)`);
    });
    if (records > 0 && accepted === 0) return EXIT.error;
    return rejected > 0 ? EXIT.partial : EXIT.ok;
  },
};
