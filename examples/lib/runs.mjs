// Starts an on-demand run of a batch flow (reference §4.5) and follows it to the end.

const FINISHED = new Set(['success', 'failed', 'partialsuccess', 'cancelled', 'completed']);

export async function runOnce(client, flowId, { timeoutSeconds = 120 } = {}) {
  const now = Math.floor(Date.now() / 1000);
  let created;
  try {
    created = await client.runs.create({
      flowId,
      params: { startTime: now, windowStartTime: 0, windowEndTime: now },
    });
  } catch (error) {
    if (error?.status === 404) {
      console.log('  (this server does not start runs on demand: the flow runs on its schedule)');
      return undefined;
    }
    throw error;
  }
  const deadline = Date.now() + timeoutSeconds * 1000;
  for (;;) {
    const run = await client.runs.get(created.id);
    const status = String(run.metrics?.statusSummary?.status ?? run.state ?? 'pending').toLowerCase();
    if (FINISHED.has(status) || Date.now() > deadline) return { ...run, status };
    await new Promise((r) => setTimeout(r, 1000));
  }
}
