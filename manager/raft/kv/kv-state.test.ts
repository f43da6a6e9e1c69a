import test from 'ava';
import { KvStateMachine, decodeKvCommand, encodeKvCommand } from './kv-state.js';

const put = (index: number, key: string, value: string) => ({
  term: 1,
  index,
  type: 'normal' as const,
  data: encodeKvCommand({ op: 'put', key, value: new TextEncoder().encode(value) }),
});

test('kv-state: commands round-trip through their encoding', (t) => {
  const c = decodeKvCommand(
    encodeKvCommand({ op: 'put', key: 'ké', value: new Uint8Array([0, 255]) }),
  );
  t.deepEqual(c, { op: 'put', key: 'ké', value: new Uint8Array([0, 255]) });
  t.deepEqual(decodeKvCommand(encodeKvCommand({ op: 'delete', key: 'x' })), {
    op: 'delete',
    key: 'x',
  });
  t.throws(() => decodeKvCommand(new Uint8Array([9, 0, 0, 0, 0])), { message: /unknown kv op 9/ });
  t.throws(() => decodeKvCommand(new Uint8Array([1, 0, 0, 0, 9])), { message: /past its end/ });
});

test('kv-state: snapshot and restore give the same map', (t) => {
  const a = new KvStateMachine();
  a.apply(put(1, 'a', '1'));
  a.apply(put(2, 'b', ''));
  a.apply(put(3, 'a', '3'));
  const b = new KvStateMachine();
  b.restore(a.snapshot());
  t.is(b.size, 2);
  t.is(new TextDecoder().decode(b.get('a')), '3');
  t.deepEqual(b.get('b'), new Uint8Array(0));
  b.restore(new Uint8Array(0));
  t.is(b.size, 0);
});
