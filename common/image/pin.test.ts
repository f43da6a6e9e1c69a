import test from 'ava';
import fc from 'fast-check';
import type { ServiceSpec } from '../model.js';
import { serviceSpec } from '../testing/model-fixtures.js';
import { isPinned, storedAsWritten, unpinned, withImage } from './pin.js';

const spec = (image: string): ServiceSpec =>
  serviceSpec({ container: { ...serviceSpec().container, image, stopGracePeriodMs: 0 } });

const hex = fc.stringMatching(/^[a-f0-9]{64}$/);
const name = fc.stringMatching(/^[a-z0-9.:/-]{1,40}$/);

test('pin: the manager pin comes off again, leaving what the user wrote', (t) => {
  fc.assert(
    fc.property(name, hex, (image, h) => {
      const pinned = `${image}@sha256:${h}`;
      t.true(isPinned(pinned));
      t.is(unpinned(pinned), image);
      t.deepEqual(storedAsWritten(spec(pinned), image), spec(image));
    }),
  );
});

test('pin: a user-written pin is compared as it is', (t) => {
  const mine = `r.io/a:1@sha256:${'1'.repeat(64)}`;
  const stored = spec(`r.io/a:1@sha256:${'2'.repeat(64)}`);
  t.deepEqual(storedAsWritten(stored, mine), stored);
  t.false(isPinned('r.io/a:1'));
  t.false(isPinned('r.io/a@sha256:short'));
  t.is(withImage(stored, 'x').container.image, 'x');
});
