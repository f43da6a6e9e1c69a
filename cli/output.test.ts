import test from 'ava';
import fc from 'fast-check';
import { parse } from 'yaml';
import { age, bytes, fields, machine, parseOutputFormat, table, truncate } from './output.js';

test('output: table columns start at the same offset on every line', (t) => {
  const out = table(
    ['NAME', 'STATE', 'MESSAGE'],
    [
      ['web.1', 'pending', 'no suitable node'],
      ['a-much-longer-name.12', 'running', ''],
    ],
  );
  t.is(
    out,
    [
      'NAME                   STATE    MESSAGE',
      'web.1                  pending  no suitable node',
      'a-much-longer-name.12  running',
      '',
    ].join('\n'),
  );
});

test('output: any table has aligned columns and no trailing spaces', (t) => {
  const cell = fc.stringMatching(/^[a-z0-9]{1,10}$/);
  fc.assert(
    fc.property(fc.array(fc.tuple(cell, cell, cell), { maxLength: 8 }), (rows) => {
      const lines = table(['A', 'B', 'C'], rows).trimEnd().split('\n');
      t.is(lines.length, rows.length + 1);
      const starts = (l: string): number[] =>
        [...l.matchAll(/(?:^| {2,})(\S)/g)].map((m) => m.index + m[0].length - 1);
      const first = starts(lines[0]!);
      for (const l of lines) {
        t.deepEqual(starts(l), first);
        t.is(l, l.trimEnd());
      }
    }),
  );
});

test('output: json and yaml round-trip the objects', (t) => {
  const data = [{ meta: { name: 'web', labels: { a: 'b' } }, spec: { replicas: 3 } }];
  t.deepEqual(JSON.parse(machine('json', data)), data);
  t.deepEqual(parse(machine('yaml', data)), data);
});

test('output: format names are checked', (t) => {
  t.is(parseOutputFormat(undefined, 'get'), 'table');
  t.is(parseOutputFormat('wide', 'get'), 'wide');
  t.regex(
    t.throws(() => parseOutputFormat('xml', 'get')).message,
    /flag -o: "xml" is not one of table, wide, json, yaml/,
  );
});

test('output: ages, bytes, truncation and describe fields', (t) => {
  t.is(age(45_000), '45s');
  t.is(age(-5), '0s');
  t.is(age(30 * 60_000), '30m');
  t.is(age(5 * 3_600_000), '5h');
  t.is(age(3 * 86_400_000), '3d');
  t.is(bytes(64 * 1024 * 1024), '64Mi');
  t.is(bytes(1536), '1.5Ki');
  t.is(truncate('abcdef', 4), 'abc…');
  t.is(truncate('abc', 4), 'abc');
  t.is(
    fields([
      ['Name', 'web'],
      ['Desired state', 'running'],
    ]),
    'Name:           web\nDesired state:  running\n',
  );
});
