// resetgate hosted pages: passkeys (WebAuthn), which need JavaScript.
// Served from {prefix}/assets/ under the pages' CSP (script-src 'self',
// connect-src 'self'): no inline script. An element with data-passkey
// configures one ceremony:
//
//   data-passkey="login"     the forgot page: a passkey alone starts a
//                            reset; the token goes to data-next + token
//   data-passkey="stepup"    the new-password page under require_passkey:
//                            proves the passkey for data-token, then
//                            loads data-next (the password form)
//   data-passkey="register"  the passkeys page's add form (signed in)
//
// data-options and data-verify are the JSON endpoints. Without this script
// or without WebAuthn, the page keeps showing its data-passkey-unsupported
// note and hides nothing else.
(function () {
  "use strict";

  var supported = !!(window.PublicKeyCredential && navigator.credentials &&
    navigator.credentials.create && navigator.credentials.get && window.fetch &&
    window.TextEncoder && window.Uint8Array);

  // base64url <-> ArrayBuffer
  var fromB64u = function (s) {
    s = String(s).replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) {
      s += "=";
    }
    var bin = atob(s);
    var out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) {
      out[i] = bin.charCodeAt(i);
    }
    return out.buffer;
  };
  var toB64u = function (buf) {
    if (!buf) {
      return null;
    }
    var bytes = new Uint8Array(buf);
    var bin = "";
    for (var i = 0; i < bytes.length; i++) {
      bin += String.fromCharCode(bytes[i]);
    }
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  };

  var post = function (url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(body)
    }).then(function (r) {
      return r.json().catch(function () {
        return {};
      }).then(function (data) {
        if (!r.ok) {
          var err = new Error("HTTP " + r.status);
          err.status = r.status;
          err.code = data && data.errors && data.errors[0] && data.errors[0].code;
          throw err;
        }
        return data;
      });
    });
  };

  // The server's options, with the binary fields decoded.
  var creationOptions = function (pk) {
    pk.challenge = fromB64u(pk.challenge);
    pk.user.id = fromB64u(pk.user.id);
    (pk.excludeCredentials || []).forEach(function (c) {
      c.id = fromB64u(c.id);
    });
    return pk;
  };
  var requestOptions = function (pk) {
    pk.challenge = fromB64u(pk.challenge);
    (pk.allowCredentials || []).forEach(function (c) {
      c.id = fromB64u(c.id);
    });
    return pk;
  };

  // The credential in the WebAuthn JSON form (base64url fields) that the
  // server parses.
  var extensions = function (cred) {
    try {
      return cred.getClientExtensionResults ? cred.getClientExtensionResults() : {};
    } catch (e) {
      return {};
    }
  };
  var attestationJSON = function (cred) {
    var r = cred.response;
    var transports = [];
    try {
      transports = r.getTransports ? r.getTransports() : [];
    } catch (e) {}
    return {
      id: cred.id,
      rawId: toB64u(cred.rawId),
      type: cred.type,
      authenticatorAttachment: cred.authenticatorAttachment || undefined,
      clientExtensionResults: extensions(cred),
      response: {
        clientDataJSON: toB64u(r.clientDataJSON),
        attestationObject: toB64u(r.attestationObject),
        transports: transports
      }
    };
  };
  var assertionJSON = function (cred) {
    var r = cred.response;
    var out = {
      id: cred.id,
      rawId: toB64u(cred.rawId),
      type: cred.type,
      authenticatorAttachment: cred.authenticatorAttachment || undefined,
      clientExtensionResults: extensions(cred),
      response: {
        clientDataJSON: toB64u(r.clientDataJSON),
        authenticatorData: toB64u(r.authenticatorData),
        signature: toB64u(r.signature)
      }
    };
    if (r.userHandle) {
      out.response.userHandle = toB64u(r.userHandle);
    }
    return out;
  };

  Array.prototype.forEach.call(document.querySelectorAll("[data-passkey]"), function (box) {
    var d = box.dataset;
    var errorBox = box.querySelector("[data-passkey-error]");
    var note = box.querySelector("[data-passkey-unsupported]");
    var busy = false;
    if (!supported) {
      return; // the note stays; the buttons stay hidden or disabled
    }
    if (note) {
      note.hidden = true;
    }
    var showError = function (err) {
      var msg = d.error;
      if (err && (err.name === "NotAllowedError" || err.name === "AbortError")) {
        msg = d.cancelled || msg;
      } else if (err && err.name === "InvalidStateError" && d.exists) {
        msg = d.exists;
      }
      if (errorBox) {
        errorBox.textContent = msg;
        errorBox.hidden = false;
      }
    };
    var clearError = function () {
      if (errorBox) {
        errorBox.hidden = true;
        errorBox.textContent = "";
      }
    };

    if (d.passkey === "register") {
      var fieldset = box.querySelector("fieldset");
      if (fieldset) {
        fieldset.disabled = false;
      }
      var submit = box.querySelector("button[type=submit]");
      box.addEventListener("submit", function (ev) {
        ev.preventDefault();
        if (busy) {
          return;
        }
        busy = true;
        clearError();
        if (submit) {
          submit.disabled = true;
        }
        var nameInput = box.querySelector("input[name=name]");
        var name = nameInput ? nameInput.value.trim() : "";
        post(d.options, {})
          .then(function (opts) {
            return navigator.credentials.create({ publicKey: creationOptions(opts.publicKey) })
              .then(function (cred) {
                return post(d.verify, { ceremony: opts.ceremony, credential: attestationJSON(cred), name: name });
              });
          })
          .then(function () {
            window.location.assign(d.next);
          })
          .catch(function (err) {
            if (err && err.code === "REAUTH_REQUIRED") {
              // The password confirmation ran out: the page asks again.
              window.location.assign(window.location.pathname);
              return;
            }
            busy = false;
            if (submit) {
              submit.disabled = false;
            }
            showError(err);
          });
      });
      return;
    }

    // login and stepup: one button starts navigator.credentials.get.
    var button = box.querySelector("[data-passkey-start]");
    if (!button) {
      return;
    }
    box.hidden = false;
    button.hidden = false;
    button.addEventListener("click", function () {
      if (busy) {
        return;
      }
      busy = true;
      clearError();
      button.disabled = true;
      var body = d.token ? { token: d.token } : {};
      post(d.options, body)
        .then(function (opts) {
          return navigator.credentials.get({ publicKey: requestOptions(opts.publicKey) })
            .then(function (cred) {
              var req = { ceremony: opts.ceremony, credential: assertionJSON(cred) };
              if (d.token) {
                req.token = d.token;
              }
              return post(d.verify, req);
            });
        })
        .then(function (res) {
          if (d.passkey === "stepup") {
            window.location.assign(d.next);
          } else {
            window.location.assign(d.next + encodeURIComponent(res.token));
          }
        })
        .catch(function (err) {
          if (d.passkey === "stepup" && err && err.code === "TOKEN_INVALID") {
            window.location.assign(d.next); // the page explains the dead link
            return;
          }
          busy = false;
          button.disabled = false;
          showError(err);
        });
    });
  });
})();
