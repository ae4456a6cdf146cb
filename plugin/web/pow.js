// resetgate proof-of-work guard (pow <difficulty>): solves the forgot
// form's challenge in a Web Worker while the user types, so sending the
// form is not delayed. The server checks the answer and spends it once.
// Without JavaScript the form explains that it is needed.
(function () {
  "use strict";
  var challenge = document.querySelector("input[name=pow_challenge]");
  var nonce = document.querySelector("input[name=pow_nonce]");
  if (!challenge || !nonce || !window.Worker) {
    return;
  }
  var form = challenge.form;
  var script = document.currentScript || document.querySelector("script[data-pow-worker]");
  var worker = new Worker(script.dataset.powWorker);
  var waiting = false;
  worker.onmessage = function (ev) {
    nonce.value = String(ev.data);
    worker.terminate();
    if (waiting) {
      form.submit();
    }
  };
  worker.postMessage({ challenge: challenge.value, difficulty: Number(challenge.dataset.powDifficulty) });
  form.addEventListener("submit", function (ev) {
    if (nonce.value === "") {
      ev.preventDefault();
      waiting = true;
      form.setAttribute("aria-busy", "true");
    }
  });
})();
