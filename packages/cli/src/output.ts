import type { CliIo } from './io.js';

const CODES = {
  bold: [1, 22],
  dim: [2, 22],
  red: [31, 39],
  green: [32, 39],
  yellow: [33, 39],
  cyan: [36, 39],
};
export type Style = keyof typeof CODES;

/** Printing for people or for scripts: one place decides colour, tables and JSON. */
export class Output {
  /** A person is watching: stdout is a terminal and NO_COLOR is unset. */
  readonly tty: boolean;
  readonly color: boolean;

  constructor(
    readonly io: CliIo,
    readonly json: boolean,
  ) {
    this.tty = io.stdout.isTTY === true && !json;
    this.color = this.tty && !io.env.NO_COLOR;
  }

  paint(style: Style, text: string): string {
    if (!this.color) return text;
    const [on, off] = CODES[style];
    return `\u001b[${on}m${text}\u001b[${off}m`;
  }

  line(text = ''): void {
    this.io.stdout.write(`${text}\n`);
  }

  /** Notes for people (progress, hints): stderr, so stdout stays clean for pipes. */
  note(text: string): void {
    if (!this.json) this.io.stderr.write(`${text}\n`);
  }

  printJson(value: unknown): void {
    this.io.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
  }

  /** `--json`: the value; otherwise `human()`. */
  result(value: unknown, human: () => void): void {
    if (this.json) this.printJson(value);
    else human();
  }

  /** A table with a header row; cells are cut to fit the terminal width when one is known. */
  table(rows: readonly Record<string, unknown>[], columns: readonly { key: string; label: string }[]): void {
    if (rows.length === 0) {
      this.line(this.paint('dim', '(none)'));
      return;
    }
    const cells = rows.map((r) => columns.map((c) => cell(r[c.key])));
    const widths = columns.map((c, i) =>
      Math.max(c.label.length, ...cells.map((row) => row[i]?.length ?? 0)),
    );
    const max = this.tty ? (this.io.stdout.columns ?? 0) : 0;
    if (max > 0) {
      // Shrink the widest columns until the row fits.
      const total = () => widths.reduce((a, b) => a + b, 0) + 2 * (widths.length - 1);
      while (total() > max) {
        const widest = widths.indexOf(Math.max(...widths));
        if ((widths[widest] ?? 0) <= 8) break;
        widths[widest] = (widths[widest] ?? 0) - 1;
      }
    }
    const fmt = (values: string[]) =>
      values
        .map((v, i) => fitCell(v, widths[i] ?? 0))
        .join('  ')
        .trimEnd();
    this.line(this.paint('bold', fmt(columns.map((c) => c.label))));
    for (const row of cells) this.line(fmt(row));
  }
}

function cell(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (typeof value === 'string') return value.replace(/\s+/g, ' ');
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return JSON.stringify(value);
}

function fitCell(text: string, width: number): string {
  if (text.length > width) return `${text.slice(0, Math.max(0, width - 1))}…`;
  return text.padEnd(width);
}

/** Epoch ms as a short local-free ISO time. */
export function isoTime(ms: unknown): string {
  return typeof ms === 'number' && Number.isFinite(ms) && ms > 0
    ? new Date(ms).toISOString().replace('.000Z', 'Z')
    : '';
}

/** A live one-line status on stderr (TTY only): redrawn in place, cleared at the end. */
export class Progress {
  private lastDraw = 0;
  private drawn = false;

  constructor(
    private readonly out: Output,
    private readonly now: () => number = Date.now,
  ) {}

  get enabled(): boolean {
    return this.out.tty && this.out.io.stderr.isTTY !== false;
  }

  update(text: string, force = false): void {
    if (!this.enabled) return;
    const t = this.now();
    if (!force && t - this.lastDraw < 100) return;
    this.lastDraw = t;
    this.out.io.stderr.write(`\r\u001b[2K${text}`);
    this.drawn = true;
  }

  done(): void {
    if (this.drawn) this.out.io.stderr.write('\r\u001b[2K');
    this.drawn = false;
  }
}

/** `[#####-----] 50%` */
export function bar(fraction: number, width = 24): string {
  const f = Math.min(1, Math.max(0, fraction));
  const full = Math.round(f * width);
  return `[${'#'.repeat(full)}${'-'.repeat(width - full)}] ${Math.floor(f * 100)
    .toString()
    .padStart(3)}%`;
}

export function duration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  if (seconds < 60) return `${Math.round(seconds)}s`;
  const m = Math.floor(seconds / 60);
  if (m < 60) return `${m}m${String(Math.round(seconds % 60)).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}
