import test from 'ava';
import {
  ScriptError,
  formatMismatch,
  lineDiff,
  parseCommandLine,
  parseScript,
  runScript,
  type Command,
} from './datadriven.js';

const echo = (cmd: Command): string =>
  cmd.args
    .map((a) => `${a.key ?? '_'}=${a.isList ? `(${a.values.join('|')})` : a.values[0]!}`)
    .join(' ');

test('datadriven: parses key=value, lists, bare words and quoted values', (t) => {
  const c = parseCommandLine('add-nodes 3 voters=(1,2,3) learners=() (7,8) x="a b" "c d"', 'f', 1);
  t.is(c.name, 'add-nodes');
  t.deepEqual(c.positional(), ['3', '7', '8', 'c d']);
  t.deepEqual(c.named('voters'), ['1', '2', '3']);
  t.deepEqual(c.named('learners'), []);
  t.is(c.namedString('x'), 'a b');
  t.is(c.named('missing'), undefined);
});

test('datadriven: bad command lines name the file and line', (t) => {
  const e1 = t.throws(() => parseCommandLine('propose 1 "foo', 'a.txt', 7), {
    instanceOf: ScriptError,
  });
  t.regex(e1.message, /^a\.txt:7: unterminated quote/);
  t.throws(() => parseCommandLine('x voters=(1,2', 'a.txt', 1), { message: /unbalanced/ });
  t.throws(() => parseCommandLine('x voters=(1,,2)', 'a.txt', 1), { message: /empty element/ });
  t.throws(() => parseCommandLine('x k=', 'a.txt', 1), { message: /has no value/ });
  t.throws(() => parseCommandLine('Bad', 'a.txt', 1), { message: /bad command name/ });
});

test('datadriven: typed argument accessors refuse what they do not understand', (t) => {
  const c = parseCommandLine('cmd n=x b=maybe typo=1', 'f.txt', 3);
  t.throws(
    () => {
      c.namedInt('n', 0);
    },
    { message: /f\.txt:3: cmd: n must be an integer, got "x"/ },
  );
  t.throws(
    () => {
      c.namedBool('b', false);
    },
    { message: /b must be true or false/ },
  );
  t.throws(
    () => {
      c.allowOnly(['n', 'b'], 0);
    },
    { message: /unknown argument typo \(known: n, b\)/ },
  );
  const d = parseCommandLine('cmd 1 2 3', 'f.txt', 4);
  t.throws(
    () => {
      d.allowOnly([], 2);
    },
    { message: /at most 2 positional/ },
  );
});

test('datadriven: blocks, comments, multi-command blocks and empty outputs', (t) => {
  const text = [
    '# a comment',
    'one a=1',
    '# inside a block',
    'two (1,2)',
    '----',
    'a=1',
    '_=(1|2)',
    '',
    'three',
    '----',
    '',
    '# trailing comment',
    '',
  ].join('\n');
  const s = parseScript('f.txt', text);
  t.is(s.blocks.length, 2);
  t.is(s.blocks[0]!.line, 2);
  t.deepEqual(
    s.blocks[0]!.commands.map((c) => c.name),
    ['one', 'two'],
  );
  t.is(s.blocks[0]!.expected, 'a=1\n_=(1|2)');
  t.is(s.blocks[1]!.expected, '');
  const out = runScript(s, (c) => (c.name === 'three' ? '' : echo(c)));
  t.deepEqual(out.mismatches, []);
  t.is(out.regenerated, text);
});

test('datadriven: a block without a separator is an error', (t) => {
  t.throws(() => parseScript('f.txt', 'cmd\n\nother\n----\n'), {
    message: /f\.txt:1: block has no ---- separator before line 2/,
  });
  t.throws(() => parseScript('f.txt', 'cmd\n'), { message: /before the end of the file/ });
  t.throws(() => parseScript('f.txt', 'cmd\n----\n----\nx\n'), { message: /never closed/ });
});

test('datadriven: outputs with blank lines use a doubled separator, both ways', (t) => {
  const text = [
    'cmd',
    '----',
    '----',
    'a',
    '',
    'b',
    '----',
    '----',
    '',
    'cmd',
    '----',
    'x',
    '',
  ].join('\n');
  const s = parseScript('f.txt', text);
  t.is(s.blocks[0]!.expected, 'a\n\nb');
  t.is(s.blocks[1]!.expected, 'x');
  const outputs = ['a\n\nb', 'x'];
  let i = 0;
  const same = runScript(s, () => outputs[i++]!);
  t.deepEqual(same.mismatches, []);
  t.is(same.regenerated, text);
  // Regenerating switches the form according to the new output.
  const swapped = ['plain', 'now\n\nblank'];
  let j = 0;
  const re = runScript(s, () => swapped[j++]!);
  t.is(re.mismatches.length, 2);
  t.is(
    re.regenerated,
    [
      'cmd',
      '----',
      'plain',
      '',
      'cmd',
      '----',
      '----',
      'now',
      '',
      'blank',
      '----',
      '----',
      '',
    ].join('\n'),
  );
});

test('datadriven: a mismatch reports file, line, commands and a diff', (t) => {
  const s = parseScript('dir/f.txt', '# c\n\ncmd 1\n----\nsame\nold\ntail\n');
  const out = runScript(s, () => 'same\nnew\ntail  \n\n');
  t.is(out.mismatches.length, 1);
  const m = out.mismatches[0]!;
  t.is(m.line, 3);
  t.is(m.actual, 'same\nnew\ntail');
  t.is(
    formatMismatch(m),
    [
      'dir/f.txt:3: output of "cmd 1" differs',
      '--- expected',
      '+++ actual',
      ' same',
      '-old',
      '+new',
      ' tail',
    ].join('\n'),
  );
  t.is(out.regenerated, '# c\n\ncmd 1\n----\nsame\nnew\ntail\n');
});

test('datadriven: the diff keeps only context around changes', (t) => {
  const a = Array.from({ length: 20 }, (_, i) => `l${i}`);
  const b = [...a];
  b[10] = 'changed';
  const d = lineDiff(a.join('\n'), b.join('\n'), 1).split('\n');
  t.deepEqual(d, ['@@ …', ' l9', '-l10', '+changed', ' l11', '@@ …']);
  t.is(lineDiff('', 'x'), '+x');
  t.is(lineDiff('x', ''), '-x');
});

test('datadriven: handler errors carry the command location; script errors pass through', (t) => {
  const s = parseScript('f.txt', 'ok\n----\nok\n\nboom\n----\n');
  t.throws(
    () =>
      runScript(s, (c) => {
        if (c.name === 'boom') throw new TypeError('bad state');
        return 'ok';
      }),
    { instanceOf: ScriptError, message: 'f.txt:5: boom failed: bad state' },
  );
  const thrown = new ScriptError('f.txt', 5, 'mine');
  const e = t.throws(() =>
    runScript(s, () => {
      throw thrown;
    }),
  );
  t.is(e, thrown);
});
