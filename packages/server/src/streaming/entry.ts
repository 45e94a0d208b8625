/**
 * What one streaming log frame holds: one acknowledged request. The payload is
 * `u32 header length | header JSON | body`, where the body is the request's own bytes (XDM
 * messages: no second JSON.stringify on the ack path) or, for connector inlets, the JSON array
 * of the records the connector decoded.
 */

/** How the body is laid out. */
export type EntryBody =
  /** The body is one message (an XDM envelope, or raw JSON for a flow). */
  | 'one'
  /**
   * The body is `{messages: [...]}`: which messages were accepted is in `batch` (frames written
   * before that: `xactionIds[i]`, null for a message refused with a 400).
   */
  | 'batch'
  /** The body is a JSON array of records a connector's inlet decoded. */
  | 'records';

export interface EntryHeader {
  v: 1;
  inletId: string;
  orgId: string;
  sandbox: string;
  receivedTimeMs: number;
  body: EntryBody;
  /**
   * One per message (or record), aligned with them; null for a refused message. Single messages
   * and connector records; batch frames carry `batch` instead (older ones carry this).
   */
  xactionIds?: (string | null)[];
  /** Raw JSON addressed to this flow: its mapping set and target dataset apply. */
  flowId?: string;
  /** XDM envelopes: each message's dataset, aligned with `xactionIds`. */
  datasetIds?: (string | null)[];
  /** A batch request, in a size that does not grow with a string per message. */
  batch?: BatchLayout;
}

/**
 * Which messages of a batch request were accepted and where each goes, compactly: a frame header
 * holding one xactionId string (and one dataset id) per message was many times the size of a body
 * of small messages. The xactionId of message `i` is `{id}:{i}` (what the 207 answered).
 */
export interface BatchLayout {
  /** The batch id the 207 answered. */
  id: string;
  /** Messages in the body. */
  total: number;
  /** Messages accepted (logged): how many the consumer will read. */
  accepted: number;
  /** Bit `i` (LSB first) set when message `i` was accepted, base64; absent when all were. */
  bitmap?: string;
  /** XDM envelopes: the distinct datasets of the accepted messages. */
  datasets?: string[];
  /** XDM envelopes: `[datasetIndex, count, …]` runs over the accepted messages, in order. */
  runs?: number[];
}

/** Builds the layout of a batch from its accepted flags and (XDM) each accepted message's dataset. */
export function batchLayout(
  id: string,
  acceptedFlags: readonly boolean[],
  datasetOfAccepted?: readonly string[],
): BatchLayout {
  const total = acceptedFlags.length;
  let accepted = 0;
  for (const a of acceptedFlags) if (a) accepted++;
  const layout: BatchLayout = { id, total, accepted };
  if (accepted < total) {
    const bits = Buffer.alloc(Math.ceil(total / 8));
    acceptedFlags.forEach((a, i) => {
      if (a) bits[i >> 3] = (bits[i >> 3] as number) | (1 << (i & 7));
    });
    layout.bitmap = bits.toString('base64');
  }
  if (datasetOfAccepted) {
    const datasets: string[] = [];
    const index = new Map<string, number>();
    const runs: number[] = [];
    for (const d of datasetOfAccepted) {
      let at = index.get(d);
      if (at === undefined) {
        at = datasets.length;
        datasets.push(d);
        index.set(d, at);
      }
      if (runs.length > 0 && runs[runs.length - 2] === at)
        runs[runs.length - 1] = (runs.at(-1) as number) + 1;
      else runs.push(at, 1);
    }
    layout.datasets = datasets;
    layout.runs = runs;
  }
  return layout;
}

/** The accepted messages of a batch layout: their index in the body and their dataset. */
function* acceptedOf(layout: BatchLayout): Generator<{ index: number; datasetId: string | undefined }> {
  const bits = layout.bitmap === undefined ? undefined : Buffer.from(layout.bitmap, 'base64');
  const runs = layout.runs ?? [];
  let run = 0;
  let leftInRun = runs[1] ?? 0;
  for (let i = 0; i < layout.total; i++) {
    if (bits && ((bits[i >> 3] ?? 0) & (1 << (i & 7))) === 0) continue;
    let datasetId: string | undefined;
    if (layout.datasets) {
      while (leftInRun === 0 && run + 2 < runs.length) {
        run += 2;
        leftInRun = runs[run + 1] ?? 0;
      }
      datasetId = layout.datasets[runs[run] ?? -1];
      leftInRun--;
    }
    yield { index: i, datasetId };
  }
}

/** One message read back from the log, ready for its pipeline. */
export interface LoggedMessage {
  xactionId: string;
  inletId: string;
  orgId: string;
  sandbox: string;
  receivedTimeMs: number;
  flowId: string | undefined;
  datasetId: string | undefined;
  /** XDM envelopes: `body.xdmEntity`; raw flow data: the message itself. */
  record: unknown;
}

/**
 * A frame payload as two pieces, `u32 header length | header JSON` and the body itself: the log
 * writes them one after the other, so the request body is never copied on the ack path.
 */
export function entryPieces(header: EntryHeader, body: Buffer): [Buffer, Buffer] {
  const json = JSON.stringify(header);
  const length = Buffer.byteLength(json);
  const head = Buffer.allocUnsafe(4 + length);
  head.writeUInt32BE(length, 0);
  head.write(json, 4, 'utf8');
  return [head, body];
}

/** The payload of `entryPieces` joined into one buffer. */
export function encodeEntry(header: EntryHeader, body: Buffer): Buffer {
  return Buffer.concat(entryPieces(header, body));
}

export function decodeHeader(payload: Buffer): EntryHeader {
  const length = payload.readUInt32BE(0);
  return JSON.parse(payload.subarray(4, 4 + length).toString('utf8')) as EntryHeader;
}

/** How many messages a frame carries, without parsing its body. */
export function messageCount(header: EntryHeader): number {
  if (header.batch) return header.batch.accepted;
  let n = 0;
  for (const x of header.xactionIds ?? []) if (x !== null) n++;
  return n;
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** The acknowledged messages of a frame. Only what the route accepted was logged, so this does not validate again. */
export function decodeEntry(payload: Buffer, header: EntryHeader = decodeHeader(payload)): LoggedMessage[] {
  const length = payload.readUInt32BE(0);
  const body = JSON.parse(payload.subarray(4 + length).toString('utf8')) as unknown;
  const items: unknown[] =
    header.body === 'one'
      ? [body]
      : header.body === 'batch'
        ? ((body as { messages: unknown[] }).messages ?? [])
        : (body as unknown[]);
  const out: LoggedMessage[] = [];
  const push = (xactionId: string, item: unknown, datasetId: string | undefined) => {
    const record =
      header.flowId === undefined && isObject(item) && isObject(item.body) ? item.body.xdmEntity : item;
    out.push({
      xactionId,
      inletId: header.inletId,
      orgId: header.orgId,
      sandbox: header.sandbox,
      receivedTimeMs: header.receivedTimeMs,
      flowId: header.flowId,
      datasetId,
      record,
    });
  };
  if (header.batch) {
    for (const { index, datasetId } of acceptedOf(header.batch)) {
      push(`${header.batch.id}:${index}`, items[index], datasetId);
    }
    return out;
  }
  (header.xactionIds ?? []).forEach((xactionId, i) => {
    if (xactionId === null) return;
    push(xactionId, items[i], header.datasetIds?.[i] ?? undefined);
  });
  return out;
}
