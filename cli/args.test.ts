import test from 'ava';
import fc from 'fast-check';
import { formatFlags, parseArgs, parseDurationFlag, type FlagDefs } from './args.js';
import { UsageError } from './errors.js';

const defs: FlagDefs = {
  file: { type: 'string', short: 'f', multiple: true, help: 'file' },
  output: { type: 'string', short: 'o', help: 'format' },
  'dry-run': { type: 'boolean', help: 'dry' },
};

test('args: long, short, inline and separate values, booleans and positionals', (t) => {
  const a = parseArgs(['x', '-f', 'a.yaml', '--file=b.yaml', '-ojson', '--dry-run', 'y'], defs);
  t.deepEqual(a.positionals, ['x', 'y']);
  t.deepEqual(a.flags, { file: ['a.yaml', 'b.yaml'], output: 'json', 'dry-run': true });
});

test('args: a lone dash is a value and -- ends flags', (t) => {
  const a = parseArgs(['-f', '-', '--', '--output', 'x'], defs);
  t.deepEqual(a.flags, { file: ['-'] });
  t.deepEqual(a.positionals, ['--output', 'x']);
});

test('args: an unknown flag is named, with the verb', (t) => {
  const e = t.throws(() => parseArgs(['--fiel', 'x'], defs, 'apply'), { instanceOf: UsageError });
  t.is(e.message, 'unknown flag --fiel for tug apply');
  t.is(e.verb, 'apply');
  t.regex(t.throws(() => parseArgs(['-z'], defs)).message, /unknown flag -z for tug$/);
});

test('args: a missing value, a repeated single flag and a boolean with a value are named', (t) => {
  t.is(t.throws(() => parseArgs(['-o'], defs)).message, 'flag -o needs a value');
  t.is(
    t.throws(() => parseArgs(['--output', '--dry-run'], defs)).message,
    'flag --output needs a value',
  );
  t.is(
    t.throws(() => parseArgs(['-o', 'json', '--output=yaml'], defs)).message,
    'flag --output given more than once',
  );
  t.is(
    t.throws(() => parseArgs(['--dry-run=yes'], defs)).message,
    'flag --dry-run takes no value (got "yes")',
  );
});

test('args: words that do not start with a dash always come back as positionals, in order', (t) => {
  const word = fc.stringMatching(/^[a-z0-9=._-]{1,8}$/).filter((w) => !w.startsWith('-'));
  fc.assert(
    fc.property(fc.array(word), (words) => {
      t.deepEqual(parseArgs(words, defs).positionals, words);
    }),
  );
});

test('args: durations', (t) => {
  t.is(parseDurationFlag('500ms', '--timeout'), 500);
  t.is(parseDurationFlag('2', '--timeout'), 2000);
  t.is(parseDurationFlag('1m', '--timeout'), 60_000);
  t.regex(t.throws(() => parseDurationFlag('soon', '--timeout')).message, /--timeout: "soon"/);
});

test('args: help lists every flag, aligned', (t) => {
  const lines = formatFlags(defs).split('\n');
  t.is(lines.length, 3);
  t.true(lines[0]!.startsWith('  -f, --file VALUE'));
  const col = lines.map((l) => l.search(/ (file|format|dry)$/));
  t.true(col.every((c) => c === col[0]));
});
