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
  /** The body is `{messages: [...]}`; `xactionIds[i]` is null for a message refused with a 400. */
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
  /** One per message (or record), aligned with them; null for a refused message. */
  xactionIds: (string | null)[];
  /** Raw JSON addressed to this flow: its mapping set and target dataset apply. */
  flowId?: string;
  /** XDM envelopes: each message's dataset, aligned with `xactionIds`. */
  datasetIds?: (string | null)[];
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
  let n = 0;
  for (const x of header.xactionIds) if (x !== null) n++;
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
  header.xactionIds.forEach((xactionId, i) => {
    if (xactionId === null) return;
    const item = items[i];
    const datasetId = header.datasetIds?.[i] ?? undefined;
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
  });
  return out;
}
