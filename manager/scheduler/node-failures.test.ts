import test from 'ava';
import { task } from '../../common/testing/model-fixtures.js';
import { NodeFailures } from './node-failures.js';

const failed = (id: string, nodeId = 'n1', service = 'web') =>
  task(id, { service, nodeId, state: 'failed' });

test('node-failures: a node is faulty for a service at 5 failures within 5 minutes, not before', (t) => {
  const f = new NodeFailures();
  for (let i = 0; i < 4; i++) f.observe(failed(`t${i}`), i * 1000);
  t.deepEqual([...f.faulty(5000)], []);
  f.observe(failed('t4'), 5000);
  t.deepEqual(
    [...f.faulty(5000)].map(([s, nodes]) => [s, [...nodes]]),
    [['web', ['n1']]],
  );
  // The first failure leaves the window 5 minutes after it: back to 4.
  t.deepEqual([...f.faulty(300_000)], []);
});

test('node-failures: counts each task once, per service and node, and only failed or rejected ones', (t) => {
  const f = new NodeFailures({ threshold: 2, windowMs: 1000 });
  f.observe(failed('a'), 0);
  f.observe(failed('a'), 1);
  f.observe(failed('b', 'n2'), 2);
  f.observe(failed('c', 'n1', 'other'), 3);
  f.observe(task('d', { service: 'web', nodeId: 'n1', state: 'complete' }), 4);
  f.observe(task('e', { service: 'web', state: 'failed' }), 5);
  t.is(f.faulty(10).size, 0);
  f.observe(task('g', { service: 'web', nodeId: 'n1', state: 'rejected' }), 6);
  t.deepEqual([...(f.faulty(10).get('web' as never) ?? [])], ['n1']);
});
