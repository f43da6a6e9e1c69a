import test from 'ava';
import fc from 'fast-check';
import { ConstraintParseError, matches, parseConstraint, parseConstraints } from './constraints.js';
import { node } from './testing/model-fixtures.js';

const parse = (s: string) => {
  const r = parseConstraint(s);
  if (!r.ok) throw r.error;
  return r.value;
};

test('constraints: parse every key and both operators', (t) => {
  t.deepEqual(parse('node.id==n1').key, { type: 'id' });
  t.deepEqual(parse(' node.hostname == h ').key, { type: 'hostname' });
  t.deepEqual(parse('node.role != manager').key, { type: 'role' });
  t.deepEqual(parse('node.platform.os==linux').key, { type: 'os' });
  t.deepEqual(parse('node.platform.arch==arm64').key, { type: 'arch' });
  t.deepEqual(parse('node.labels.zone==a').key, { type: 'node-label', label: 'zone' });
  t.deepEqual(parse('engine.labels.ssd==true').key, { type: 'engine-label', label: 'ssd' });
  t.is(parse('node.role != manager').operator, '!=');
  t.is(parse('node.role==manager').operator, '==');
  t.is(parse('node.labels.zone==a').text, 'node.labels.zone == a');
  t.is(parse('node.labels.com.example/tier==web').value, 'web');
});

const bad: [string, RegExp][] = [
  ['node.labels.zone = a', /operator/],
  ['== a', /missing key/],
  ['node.role ==', /missing value/],
  ['node.role == a b', /invalid value/],
  ['node.role == =a', /invalid value/],
  ['node.colour == red', /unknown key/],
  ['node.labels. == x', /invalid label name/],
  ['node.labels == x', /unknown key/],
  ['', /operator/],
];
for (const [src, why] of bad) {
  test(`constraints: rejects ${JSON.stringify(src)} with a typed error`, (t) => {
    const r = parseConstraint(src);
    t.false(r.ok);
    if (r.ok) return;
    t.true(r.error instanceof ConstraintParseError);
    t.is(r.error.code, 'invalid-constraint');
    t.is(r.error.constraint, src);
    t.regex(r.error.reason, why);
  });
}

test('constraints: parseConstraints is all-or-nothing and names the first bad one', (t) => {
  const r = parseConstraints(['node.role==worker', 'nope', 'also bad']);
  t.false(r.ok);
  if (!r.ok) t.is(r.error.constraint, 'nope');
  const ok = parseConstraints(['node.role==worker', 'node.labels.a!=b']);
  t.true(ok.ok);
  if (ok.ok) t.is(ok.value.length, 2);
});

test('constraints: evaluation table', (t) => {
  const n = node('n1', {
    role: 'manager',
    hostname: 'Alpha',
    labels: { zone: 'a' },
    engineLabels: { zone: 'b', ssd: 'true' },
    arch: 'arm64',
  });
  const table: [string, boolean][] = [
    ['node.id == n1', true],
    ['node.id == N1', false],
    ['node.id != n2', true],
    ['node.hostname == alpha', true],
    ['node.role == MANAGER', true],
    ['node.role != manager', false],
    ['node.platform.os == Linux', true],
    ['node.platform.arch == amd64', false],
    ['node.labels.zone == a', true],
    ['node.labels.zone == A', false],
    ['node.labels.zone == b', false],
    // Operator labels only: the agent's own labels never satisfy node.labels.
    ['node.labels.ssd == true', false],
    ['node.labels.ssd != true', true],
    ['engine.labels.zone == b', true],
    ['engine.labels.ssd == true', true],
    ['engine.labels.gpu == yes', false],
    ['engine.labels.gpu != yes', true],
  ];
  for (const [src, want] of table) t.is(matches(parse(src), n), want, src);
});

test('constraints: == and != are complements for any value', (t) => {
  fc.assert(
    fc.property(
      fc.constantFrom('zone', 'rack'),
      fc.option(fc.constantFrom('a', 'b', 'A')),
      fc.constantFrom('a', 'b', 'A'),
      (label, actual, value) => {
        const n = node('n', { labels: actual === null ? {} : { [label]: actual } });
        const eq = matches(parse(`node.labels.${label} == ${value}`), n);
        const ne = matches(parse(`node.labels.${label} != ${value}`), n);
        return eq !== ne && eq === (actual === value);
      },
    ),
  );
  t.pass();
});

test('parseConstraint: a role is manager or worker', (t) => {
  t.true(parseConstraint('node.role == Manager').ok);
  const bad = parseConstraint('node.role == boss');
  t.false(bad.ok);
  if (!bad.ok) t.regex(bad.error.message, /manager or worker, not "boss"/);
});
