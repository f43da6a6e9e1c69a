import test from 'ava';

import { formatNumber, formatTable } from './table.js';

const columns = [
  { header: 'metric' },
  { header: 'a', align: 'right' as const },
  { header: 'b/a', align: 'right' as const },
];

test('table: pads columns to the widest cell, numbers right-aligned', (t) => {
  const out = formatTable(columns, [
    ['put', '1,000', '0.50×'],
    ['failover ms', '7', '12.00×'],
  ]);
  t.is(
    out,
    [
      'metric           a     b/a',
      '-----------  -----  ------',
      'put          1,000   0.50×',
      'failover ms      7  12.00×',
    ].join('\n'),
  );
});

test('table: markdown style marks right-aligned columns and escapes pipes', (t) => {
  const out = formatTable(columns, [['x|y', '1', '2']], 'markdown');
  t.is(
    out,
    ['| metric |   a | b/a |', '| ------ | --: | --: |', '| x\\|y   |   1 |   2 |'].join('\n'),
  );
});

test('table: a row with the wrong number of cells is an error naming the row', (t) => {
  t.throws(() => formatTable(columns, [['only', 'two']]), {
    message: /row 0 has 2 cells, expected 3/,
  });
});

test('table: formatNumber groups thousands and shows missing values as a dash', (t) => {
  t.is(formatNumber(1234.567, 1), '1,234.6');
  t.is(formatNumber(2), '2');
  t.is(formatNumber(null), '—');
  t.is(formatNumber(Number.POSITIVE_INFINITY), '—');
});
