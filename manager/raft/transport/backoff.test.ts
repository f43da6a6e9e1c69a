import test from 'ava';
import { Backoff } from './backoff.js';

test('backoff: doubles from the initial delay up to the cap, jittered within the upper half', (t) => {
  const low = new Backoff({ initialMs: 50, maxMs: 2000, random: () => 0 });
  const high = new Backoff({ initialMs: 50, maxMs: 2000, random: () => 0.999999 });
  const steps = [50, 100, 200, 400, 800, 1600, 2000, 2000, 2000];
  for (const step of steps) {
    t.is(low.next(), step / 2);
    const h = high.next();
    t.true(h > step * 0.99 && h < step, `${h} for step ${step}`);
  }
  t.is(low.failures, steps.length);
});

test('backoff: reset starts over from the initial delay', (t) => {
  const b = new Backoff({ initialMs: 10, maxMs: 1000, random: () => 0 });
  b.next();
  b.next();
  b.next();
  b.reset();
  t.is(b.failures, 0);
  t.is(b.next(), 5);
});

test('backoff: never overflows however many failures accumulate', (t) => {
  const b = new Backoff({ initialMs: 1, maxMs: 5000, random: () => 0.5 });
  for (let i = 0; i < 10_000; i++) b.next();
  t.is(b.next(), 3750);
});

test('backoff: refuses nonsensical bounds', (t) => {
  t.throws(() => new Backoff({ initialMs: 0, maxMs: 10, random: Math.random }), {
    message: /initialMs=0/,
  });
  t.throws(() => new Backoff({ initialMs: 100, maxMs: 10, random: Math.random }), {
    message: /maxMs=10/,
  });
});
