// Plain-text tables for benchmark output: columns padded to their widest cell, numbers right-aligned
// so digits line up, text left-aligned.

export type Align = 'left' | 'right';

export interface Column {
  readonly header: string;
  readonly align?: Align;
}

export type TableStyle = 'plain' | 'markdown';

export function formatTable(
  columns: readonly Column[],
  rows: readonly (readonly string[])[],
  style: TableStyle = 'plain',
): string {
  for (const [i, row] of rows.entries()) {
    if (row.length !== columns.length) {
      throw new RangeError(`table row ${i} has ${row.length} cells, expected ${columns.length}`);
    }
  }
  // Markdown separators need at least three dashes.
  const minWidth = style === 'markdown' ? 3 : 0;
  const widths = columns.map((c, i) =>
    Math.max(minWidth, c.header.length, ...rows.map((r) => r[i]!.length)),
  );
  const pad = (cell: string, i: number): string =>
    (columns[i]!.align ?? 'left') === 'right' ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!);
  if (style === 'markdown') {
    const line = (cells: readonly string[]): string =>
      `| ${cells.map((cell, i) => pad(cell.replaceAll('|', '\\|'), i)).join(' | ')} |`;
    // The shape Prettier gives Markdown tables, so pasted output stays format-clean.
    const rule = `| ${widths
      .map((w, i) =>
        (columns[i]!.align ?? 'left') === 'right' ? `${'-'.repeat(w - 1)}:` : '-'.repeat(w),
      )
      .join(' | ')} |`;
    return [line(columns.map((c) => c.header)), rule, ...rows.map(line)].join('\n');
  }
  const line = (cells: readonly string[]): string => cells.map(pad).join('  ').trimEnd();
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  return [line(columns.map((c) => c.header)), rule, ...rows.map(line)].join('\n');
}

/** Formats a number with exactly `decimals` decimals and thousands separators; '—' when missing. */
export function formatNumber(value: number | null | undefined, decimals = 0): string {
  if (value == null || !Number.isFinite(value)) return '—';
  return value.toLocaleString('en-US', {
    minimumFractionDigits: decimals,
    maximumFractionDigits: decimals,
  });
}
