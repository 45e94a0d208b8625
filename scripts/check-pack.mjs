#!/usr/bin/env node
// Checks that every public workspace package ships only dist/, README.md, CHANGELOG.md and
// package.json (`npm pack --dry-run --json`), plus templates/ and bin/ for a package whose `files` names them
// (the CLI's connector template and its bin shim), and that dist/ holds the entry points its exports name.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const allowed = (file, pkg) =>
  file === 'package.json' ||
  file === 'README.md' ||
  file === 'CHANGELOG.md' ||
  file.startsWith('dist/') ||
  (file.startsWith('templates/') && pkg.files?.includes('templates')) ||
  (file.startsWith('bin/') && pkg.files?.includes('bin'));
let failed = false;
let checked = 0;
for (const dir of readdirSync('packages')) {
  const pkg = JSON.parse(readFileSync(join('packages', dir, 'package.json'), 'utf8'));
  if (pkg.private) continue;
  const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--workspace', pkg.name], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const files = JSON.parse(out)[0].files.map((f) => f.path);
  const extra = files.filter((f) => !allowed(f, pkg));
  const entry = pkg.exports?.['.']?.import?.replace(/^\.\//, '');
  const types = pkg.exports?.['.']?.types?.replace(/^\.\//, '');
  const template = pkg.files?.includes('templates') ? 'templates/connector/package.json' : undefined;
  const missing = [entry, types, 'README.md', template].filter((f) => f && !files.includes(f));
  if (extra.length || missing.length) {
    failed = true;
    console.error(
      `${pkg.name}: ships ${extra.length ? `unexpected ${extra.join(', ')}` : ''}${missing.length ? ` and lacks ${missing.join(', ')}` : ''}`,
    );
  } else {
    console.log(
      `${pkg.name}: ${files.length} files, only dist/README/CHANGELOG/package.json (and templates/ where declared)`,
    );
  }
  checked++;
}
if (checked === 0) {
  console.error('no public packages found');
  process.exit(1);
}
process.exit(failed ? 1 : 0);
