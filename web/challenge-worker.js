/*
 * regflow registration page: the proof-of-work search (CHALLENGE=pow), run in a worker by
 * web/app.js. Finds n in [start, end] with SHA-256(salt + n) == target, in plain JavaScript:
 * the salt's whole 64-byte blocks are hashed once (the server makes salts of whole blocks),
 * then each number costs one block, with no allocation and no promise per number.
 * Message in: {salt, target (hex), start, end}; message out: the number, or null.
 */
(function () {
  "use strict";

  // SHA-256 (FIPS 180-4), one 64-byte block at a time; two blocks per number when the salt
  // ends mid-block.
  var K256 = new Int32Array([
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
    0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
    0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
    0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
    0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
    0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
    0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
    0xc67178f2,
  ]);
  var SHA_IV = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
    0x5be0cd19,
  ];
  var shaW = new Int32Array(64);

  // One block: `state` (8 words) becomes the state after the 16 words of `block` at `at`.
  function compress(state, block, at) {
    var w = shaW, i, x, y, t1, t2;
    for (i = 0; i < 16; i++) w[i] = block[at + i];
    for (i = 16; i < 64; i++) {
      x = w[i - 15];
      y = w[i - 2];
      w[i] =
        ((((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10)) +
          w[i - 7] +
          (((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3)) +
          w[i - 16]) |
        0;
    }
    var a = state[0], b = state[1], c = state[2], d = state[3];
    var e = state[4], f = state[5], g = state[6], h = state[7];
    for (i = 0; i < 64; i++) {
      t1 =
        ((((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7))) +
          ((e & f) ^ (~e & g)) +
          ((h + ((K256[i] + w[i]) | 0)) | 0)) |
        0;
      t2 =
        ((((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10))) +
          ((a & b) ^ (a & c) ^ (b & c))) |
        0;
      h = g;
      g = f;
      f = e;
      e = (d + t1) | 0;
      d = c;
      c = b;
      b = a;
      a = (t1 + t2) | 0;
    }
    state[0] = (state[0] + a) | 0;
    state[1] = (state[1] + b) | 0;
    state[2] = (state[2] + c) | 0;
    state[3] = (state[3] + d) | 0;
    state[4] = (state[4] + e) | 0;
    state[5] = (state[5] + f) | 0;
    state[6] = (state[6] + g) | 0;
    state[7] = (state[7] + h) | 0;
  }

  // A searcher for SHA-256(salt + n) == target (hex), n from `start` up to `end`:
  // `run(count)` tries the next `count` numbers and returns the one found, -1 when none of
  // them, null past `end`.
  function searcher(salt, target, start, end) {
    var i, bytes = [];
    for (i = 0; i < salt.length; i++) bytes.push(salt.charCodeAt(i) & 0xff);
    var whole = bytes.length - (bytes.length % 64);
    var mid = new Int32Array(SHA_IV);
    var words = new Int32Array(16);
    for (var at = 0; at < whole; at += 64) {
      for (i = 0; i < 16; i++) {
        words[i] =
          (bytes[at + 4 * i] << 24) |
          (bytes[at + 4 * i + 1] << 16) |
          (bytes[at + 4 * i + 2] << 8) |
          bytes[at + 4 * i + 3];
      }
      compress(mid, words, 0);
    }
    var tail = bytes.slice(whole);
    var want = new Int32Array(8);
    for (i = 0; i < 8; i++) want[i] = parseInt(target.substr(8 * i, 8), 16) | 0;
    var state = new Int32Array(8);
    var digits = []; // n in decimal ASCII, counted up in place
    for (i = 0; i < String(start).length; i++) digits.push(String(start).charCodeAt(i));
    var buf, block, blocks, first, last, n = start;

    function layout() {
      // the last block(s) for this many digits: tail, digits, 0x80, zeros, the bit length
      var used = tail.length + digits.length;
      blocks = used + 9 <= 64 ? 1 : 2;
      buf = new Uint8Array(64 * blocks);
      buf.set(tail);
      buf[used] = 0x80;
      var bits = (whole + used) * 8;
      buf[buf.length - 4] = (bits >>> 24) & 0xff;
      buf[buf.length - 3] = (bits >>> 16) & 0xff;
      buf[buf.length - 2] = (bits >>> 8) & 0xff;
      buf[buf.length - 1] = bits & 0xff;
      block = new Int32Array(16 * blocks);
      for (var k = 0; k < 16 * blocks; k++) {
        block[k] = (buf[4 * k] << 24) | (buf[4 * k + 1] << 16) | (buf[4 * k + 2] << 8) | buf[4 * k + 3];
      }
      first = tail.length >> 2;
      last = (used - 1) >> 2;
    }
    layout();

    function next() {
      // n + 1 in decimal, in place; one more digit at 9...9
      var k = digits.length - 1;
      while (k >= 0 && digits[k] === 0x39) digits[k--] = 0x30;
      if (k < 0) {
        digits.unshift(0x31);
        layout();
      } else {
        digits[k]++;
      }
    }

    return function run(count) {
      for (var tried = 0; tried < count; tried++) {
        if (n > end) return null;
        var base = tail.length;
        for (var j = 0; j < digits.length; j++) buf[base + j] = digits[j];
        for (var k = first; k <= last; k++) {
          block[k] = (buf[4 * k] << 24) | (buf[4 * k + 1] << 16) | (buf[4 * k + 2] << 8) | buf[4 * k + 3];
        }
        state.set(mid);
        compress(state, block, 0);
        if (blocks === 2) compress(state, block, 16);
        if (state[0] === want[0] && state[1] === want[1] && state[7] === want[7]) {
          var m = 1;
          while (m < 8 && state[m] === want[m]) m++;
          if (m === 8) return n;
        }
        n++;
        next();
      }
      return -1;
    };
  }

  self.onmessage = function (event) {
    var task = event.data;
    var run = searcher(task.salt, task.target, task.start, task.end);
    var found = -1;
    while (found === -1) found = run(1000000);
    self.postMessage(found);
  };
})();
