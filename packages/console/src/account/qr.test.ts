/**
 * The QR encoder: the Reed–Solomon codewords of the standard's worked example ("HELLO WORLD", 1-M);
 * symbols whose data, read back the way a scanner does (format bits, mask, zigzag), is the text that
 * was encoded, for every mask; and the capacity of each version. (Its symbols of versions 2 to 10,
 * with one and several blocks, were also compared module by module with another encoder's.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { qrEncode, rsRemainder, type QrSymbol } from './qr.js';

test('the error-correction codewords of the worked example', () => {
  const data = [32, 91, 11, 120, 209, 114, 220, 77, 67, 64, 236, 17, 236, 17, 236, 17];
  assert.deepEqual(rsRemainder(data, 10), [196, 35, 39, 119, 235, 215, 231, 226, 93, 23]);
});

/** The format bits next to the top-left finder, unmasked and checked: level and mask. */
function formatOf(s: QrSymbol): { level: number; mask: number } {
  const m = s.modules;
  const bitsAt = [
    ...[0, 1, 2, 3, 4, 5, 7, 8].map((y) => m[y]![8]!),
    m[8]![7]!,
    ...[5, 4, 3, 2, 1, 0].map((x) => m[8]![x]!),
  ];
  const bits = bitsAt.reduce((acc, dark, i) => acc | ((dark ? 1 : 0) << i), 0) ^ 0x5412;
  let rem = bits >>> 10;
  for (let i = 0; i < 10; i++) rem = (rem << 1) ^ ((rem >>> 9) * 0x537);
  assert.equal(bits & 0x3ff, rem, 'the format bits carry their BCH code');
  return { level: bits >>> 13, mask: (bits >>> 10) & 7 };
}

/** Reads the byte-mode text back out of a symbol of one block (versions 1 to 3 at level M). */
function readBack(s: QrSymbol, functionModule: (x: number, y: number) => boolean): string {
  const { size, modules, mask } = s;
  const masks = [
    (x: number, y: number) => (x + y) % 2 === 0,
    (_x: number, y: number) => y % 2 === 0,
    (x: number) => x % 3 === 0,
    (x: number, y: number) => (x + y) % 3 === 0,
    (x: number, y: number) => (Math.floor(x / 3) + Math.floor(y / 2)) % 2 === 0,
    (x: number, y: number) => ((x * y) % 2) + ((x * y) % 3) === 0,
    (x: number, y: number) => (((x * y) % 2) + ((x * y) % 3)) % 2 === 0,
    (x: number, y: number) => (((x + y) % 2) + ((x * y) % 3)) % 2 === 0,
  ];
  const bits: number[] = [];
  for (let right = size - 1; right >= 1; right -= 2) {
    if (right === 6) right = 5;
    for (let vert = 0; vert < size; vert++)
      for (let j = 0; j < 2; j++) {
        const x = right - j;
        const y = ((right + 1) & 2) === 0 ? size - 1 - vert : vert;
        if (functionModule(x, y)) continue;
        bits.push(modules[y]![x]! !== masks[mask]!(x, y) ? 1 : 0);
      }
  }
  const take = (n: number) => bits.splice(0, n).reduce((a, b) => (a << 1) | b, 0);
  assert.equal(take(4), 0b0100, 'byte mode');
  const length = take(8);
  return new TextDecoder().decode(new Uint8Array(Array.from({ length }, () => take(8))));
}

test('a symbol reads back as its text, for every mask', () => {
  const text = 'otpauth://totp/Mooring:ada';
  for (let mask = 0; mask < 8; mask++) {
    const s = qrEncode(text, mask)!;
    assert.equal(s.version, 2);
    assert.equal(s.size, 25);
    assert.deepEqual(formatOf(s), { level: 0, mask });
    // Version 2: finders with separators and format areas, timing, one alignment pattern at (18, 18).
    const isFunction = (x: number, y: number) =>
      (x < 9 && y < 9) ||
      (x >= s.size - 8 && y < 9) ||
      (x < 9 && y >= s.size - 8) ||
      x === 6 ||
      y === 6 ||
      (Math.abs(x - 18) <= 2 && Math.abs(y - 18) <= 2);
    assert.equal(readBack(s, isFunction), text);
  }
});

test("each version holds the standard's byte capacity at level M, and no more", () => {
  // ISO/IEC 18004 table 7, byte mode, level M, versions 1 to 10.
  const capacity = [14, 26, 42, 62, 84, 106, 122, 152, 180, 213];
  capacity.forEach((bytes, i) => {
    assert.equal(qrEncode('x'.repeat(bytes))?.version, i + 1, `${bytes} bytes`);
    if (i < 9) assert.equal(qrEncode('x'.repeat(bytes + 1))?.version, i + 2, `${bytes + 1} bytes`);
  });
  assert.equal(qrEncode('x'.repeat(214)), undefined, 'longer than version 10 holds');

  // An enrolment URI of a long user name: version 8, two blocks of each length, version bits drawn.
  const uri =
    'otpauth://totp/Mooring:someone%40example.com?issuer=Mooring&secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&algorithm=SHA1&digits=6&period=30';
  const s = qrEncode(uri)!;
  assert.equal(s.version, 8);
  assert.equal(s.size, 49);
  assert.equal(formatOf(s).level, 0);
});
