// resetgate proof-of-work worker: finds the first nonce such that
// SHA-256(challenge + ":" + nonce) starts with `difficulty` zero bits.
"use strict";
function zeroBits(buf) {
  var bytes = new Uint8Array(buf);
  var n = 0;
  for (var i = 0; i < bytes.length; i++) {
    if (bytes[i] === 0) {
      n += 8;
      continue;
    }
    return n + Math.clz32(bytes[i]) - 24;
  }
  return n;
}
self.onmessage = async function (ev) {
  var enc = new TextEncoder();
  var prefix = ev.data.challenge + ":";
  for (var i = 0; ; i++) {
    var h = await crypto.subtle.digest("SHA-256", enc.encode(prefix + i));
    if (zeroBits(h) >= ev.data.difficulty) {
      self.postMessage(i);
      return;
    }
  }
};
