import test from 'ava';
import fc from 'fast-check';
import { diffLines, unifiedDiff } from './unified-diff.js';

test('unified-diff: equal texts give no output', (t) => {
  t.is(unifiedDiff('a', 'b', 'x\ny\n', 'x\ny\n'), '');
});

test('unified-diff: a changed line with context, as diff -u prints it', (t) => {
  const a = 'a\nb\nc\nd\ne\nf\ng\nh\n';
  const b = 'a\nb\nc\nd\nE\nf\ng\nh\n';
  t.is(
    unifiedDiff('old', 'new', a, b),
    '--- old\n+++ new\n@@ -2,7 +2,7 @@\n b\n c\n d\n-e\n+E\n f\n g\n h\n',
  );
  t.is(unifiedDiff('/dev/null', 'new', '', 'x\n'), '--- /dev/null\n+++ new\n@@ -0,0 +1 @@\n+x\n');
});

test('unified-diff: the edit script turns one text into the other (property)', (t) => {
  const lines = fc.array(fc.constantFrom('a', 'b', 'c', 'd'), { maxLength: 15 });
  fc.assert(
    fc.property(lines, lines, (a, b) => {
      const ops = diffLines(a, b);
      t.deepEqual(
        ops.filter((o) => o.t !== '+').map((o) => o.line),
        a,
      );
      t.deepEqual(
        ops.filter((o) => o.t !== '-').map((o) => o.line),
        b,
      );
      // Hunk headers count what their bodies hold.
      const out = unifiedDiff('x', 'y', a.join('\n'), b.join('\n'), 1);
      for (const h of out.split('\n').filter((l) => l.startsWith('@@'))) {
        t.regex(h, /^@@ -\d+(,\d+)? \+\d+(,\d+)? @@$/);
      }
    }),
  );
});
