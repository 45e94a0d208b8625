#!/usr/bin/env node
// The `inflow` bin. A committed file rather than dist/bin.js itself, so that npm links the bin on
// install even in a fresh checkout where nothing is built yet (npm skips bins whose file is missing).
import { existsSync } from 'node:fs';

const entry = new URL('../dist/bin.js', import.meta.url);
if (!existsSync(entry)) {
  console.error('inflow: this checkout is not built yet. Run `npm start` (or `npm run build`) first.');
  process.exit(1);
}
await import(entry.href);
