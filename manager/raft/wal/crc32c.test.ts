import test from 'ava';
import fc from 'fast-check';
import { crc32c, crc32cExtend } from './crc32c.js';

// Bit-at-a-time reference: slow and obviously correct, so the sliced tables are checked against
// the definition rather than against themselves.
const reference = (data: Uint8Array): number => {
  let c = 0xffffffff;
  for (const byte of data) {
    c ^= byte;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  }
  return ~c >>> 0;
};

const bytes = (...b: number[]): Uint8Array => Uint8Array.from(b);

test('crc32c: check value of "123456789" is 0xE3069283', (t) => {
  t.is(crc32c(new TextEncoder().encode('123456789')), 0xe3069283);
});

test('crc32c: empty input is 0', (t) => {
  t.is(crc32c(new Uint8Array(0)), 0);
});

test('crc32c: RFC 3720 appendix B.4 vectors', (t) => {
  t.is(crc32c(new Uint8Array(32)), 0x8a9136aa, '32 bytes of zeros');
  t.is(crc32c(new Uint8Array(32).fill(0xff)), 0x62a8ab43, '32 bytes of ones');
  t.is(crc32c(Uint8Array.from({ length: 32 }, (_, i) => i)), 0x46dd794e, 'incrementing');
  t.is(crc32c(Uint8Array.from({ length: 32 }, (_, i) => 31 - i)), 0x113fdb5c, 'decrementing');
  const iscsiRead = bytes(
    ...[0x01, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00],
    ...[0x00, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00],
    ...[0x00, 0x18, 0x28, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00],
    ...[0x00, 0x00, 0x00],
  );
  t.is(iscsiRead.length, 48);
  t.is(crc32c(iscsiRead), 0xd9963a56, 'iSCSI SCSI read (10) command PDU');
});

test('crc32c: matches the bitwise definition for arbitrary inputs and ranges', (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(), fc.nat(), (data, x, y) => {
      const a = data.length === 0 ? 0 : x % (data.length + 1);
      const b = data.length === 0 ? 0 : y % (data.length + 1);
      const [start, end] = a <= b ? [a, b] : [b, a];
      return crc32c(data, start, end) === reference(data.subarray(start, end));
    }),
    { numRuns: 2000 },
  );
  t.pass();
});

test('crc32c: extend over a split equals the whole', (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), fc.uint8Array({ maxLength: 200 }), (a, b) => {
      const whole = new Uint8Array(a.length + b.length);
      whole.set(a);
      whole.set(b, a.length);
      return crc32cExtend(crc32c(a), b) === crc32c(whole);
    }),
  );
  t.pass();
});

test('crc32c: a range outside the buffer is refused', (t) => {
  t.throws(() => crc32c(new Uint8Array(4), 2, 5), { instanceOf: RangeError });
  t.throws(() => crc32c(new Uint8Array(4), 3, 2), { instanceOf: RangeError });
});
