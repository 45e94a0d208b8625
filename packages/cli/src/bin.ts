import { processIo } from './io.js';
import { main } from './main.js';

const controller = new AbortController();
let interrupted = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    // The first Ctrl-C stops cleanly (serve closes, send reports); a second does not wait.
    if (interrupted) process.exit(130);
    interrupted = true;
    controller.abort();
  });
}
const code = await main(process.argv.slice(2), processIo(controller.signal));
// Keep-alive sockets and timers may linger; once main has returned there is nothing left to do.
process.exit(code);
