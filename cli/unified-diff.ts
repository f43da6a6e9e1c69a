// A line-based unified diff (the `diff -u` format) for `tug diff`: pure, strings in, string out.
// Longest-common-subsequence on lines: quadratic, which is fine for manifests of a few hundred
// lines; not meant for large files.

type Op = { readonly t: ' ' | '-' | '+'; readonly line: string };

const splitLines = (s: string): string[] => {
  if (s === '') return [];
  const lines = s.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
};

/** The edit script from a to b: kept, removed and added lines in order. */
export const diffLines = (a: readonly string[], b: readonly string[]): Op[] => {
  const n = a.length;
  const m = b.length;
  // lcs[i][j]: length of the LCS of a[i..] and b[j..].
  const lcs: number[][] = Array.from({ length: n + 1 }, () => new Array<number>(m + 1).fill(0));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i]![j] =
        a[i] === b[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
    }
  }
  const ops: Op[] = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[i] === b[j]) {
      ops.push({ t: ' ', line: a[i]! });
      i++;
      j++;
    } else if (i < n && (j === m || lcs[i + 1]![j]! >= lcs[i]![j + 1]!)) {
      // Removals before additions, as diff -u prints a changed line.
      ops.push({ t: '-', line: a[i]! });
      i++;
    } else {
      ops.push({ t: '+', line: b[j]! });
      j++;
    }
  }
  return ops;
};

const range = (start: number, count: number): string =>
  count === 1 ? `${start}` : `${count === 0 ? start - 1 : start},${count}`;

/**
 * `--- from` / `+++ to` and hunks with `context` lines around each change; '' when the texts are
 * equal.
 */
export const unifiedDiff = (
  from: string,
  to: string,
  fromText: string,
  toText: string,
  context = 3,
): string => {
  const ops = diffLines(splitLines(fromText), splitLines(toText));
  const changed = ops.map((o, k) => (o.t === ' ' ? -1 : k)).filter((k) => k >= 0);
  if (changed.length === 0) return '';
  // Group changes whose context windows touch into one hunk.
  const hunks: [number, number][] = [];
  for (const k of changed) {
    const lo = Math.max(0, k - context);
    const hi = Math.min(ops.length - 1, k + context);
    const last = hunks[hunks.length - 1];
    if (last !== undefined && lo <= last[1] + 1) last[1] = hi;
    else hunks.push([lo, hi]);
  }
  const out = [`--- ${from}`, `+++ ${to}`];
  for (const [lo, hi] of hunks) {
    // Line numbers where the hunk starts in each text: count the lines before it.
    let aStart = 1;
    let bStart = 1;
    for (let k = 0; k < lo; k++) {
      if (ops[k]!.t !== '+') aStart++;
      if (ops[k]!.t !== '-') bStart++;
    }
    const body = ops.slice(lo, hi + 1);
    const aCount = body.filter((o) => o.t !== '+').length;
    const bCount = body.filter((o) => o.t !== '-').length;
    out.push(`@@ -${range(aStart, aCount)} +${range(bStart, bCount)} @@`);
    for (const o of body) out.push(`${o.t}${o.line}`);
  }
  return out.join('\n') + '\n';
};
