import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// The connector template (templates/connector) is webhookSetup()'s showcase: issue 6 asks for a
// webhook source in under 80 lines of its own code, and its README states the count.
const TEMPLATE = fileURLToPath(new URL('../../../templates/connector/', import.meta.url));
const read = (file: string) => readFileSync(`${TEMPLATE}${file}`, 'utf8');

/** The README's counting rule: lines that are neither blank nor comments (`//`, `/*`, ` *`). */
const linesOfCode = (source: string) =>
  source.split('\n').filter((line) => !/^\s*(\/\/|\/?\*|$)/.test(line)).length;

describe('the connector template', () => {
  it('is under 80 lines of code, as its README says, and sets up with webhookSetup()', () => {
    const source = read('src/index.ts');
    const count = linesOfCode(source);
    expect(count).toBeLessThan(80);
    expect(read('README.md')).toContain(`${count} lines of code`);
    expect(source).toContain('setup: webhookSetup({');
  });
});
