// resetgate hosted pages: optional enhancements. Every page works without
// this file; it only adds a show-password toggle and live hints for the
// password rules (read from GET {prefix}/policy) to the new-password and
// change-password forms, a guard against sending a form twice, and moves
// the focus to the error summary when a form comes back with errors.
// Served from {prefix}/assets/ under the pages' CSP (script-src 'self'):
// no inline script anywhere.
(function () {
  "use strict";

  // A second click on a submit button while the first request runs would
  // cancel it in the browser and show the answer of the second one.
  Array.prototype.forEach.call(document.querySelectorAll("form"), function (form) {
    form.addEventListener("submit", function (ev) {
      if (form.dataset.sending) {
        ev.preventDefault();
        return;
      }
      form.dataset.sending = "1";
      Array.prototype.forEach.call(form.querySelectorAll("input[data-shown]"), function (input) {
        input.type = "password"; // password managers look for a password field
      });
    });
  });
  // Coming back through the history re-enables the forms.
  window.addEventListener("pageshow", function () {
    Array.prototype.forEach.call(document.querySelectorAll("form"), function (form) {
      delete form.dataset.sending;
    });
  });

  // A form sent back with errors: the summary takes the focus, so every
  // screen reader reads it (autofocus alone is ignored by some, VoiceOver
  // on iOS among them). It loses role=alert, which would read it twice.
  // Its links move the focus to their field, not only the view.
  var summary = document.getElementById("error-summary");
  if (summary) {
    summary.removeAttribute("role");
    summary.focus();
    summary.addEventListener("click", function (ev) {
      var a = ev.target.closest ? ev.target.closest("a[href^='#']") : null;
      var field = a && document.getElementById(a.getAttribute("href").slice(1));
      if (field) {
        ev.preventDefault();
        field.focus();
        field.scrollIntoView({ block: "center" });
      }
    });
  }

  var form = document.getElementById("new-password-form") || document.getElementById("change-password-form");
  if (!form) {
    return;
  }
  var d = form.dataset;

  // Show / hide toggles beside each password field.
  Array.prototype.forEach.call(form.querySelectorAll("input[type=password]"), function (input) {
    var b = document.createElement("button");
    b.type = "button";
    b.className = "toggle";
    b.setAttribute("aria-controls", input.id);
    var set = function (shown) {
      input.type = shown ? "text" : "password";
      if (shown) {
        input.dataset.shown = "1";
      } else {
        delete input.dataset.shown;
      }
      b.textContent = shown ? d.hide : d.show;
      b.setAttribute("aria-label", shown ? d.hideLabel : d.showLabel);
    };
    set(false);
    b.addEventListener("click", function () {
      set(input.type === "password");
      input.focus();
    });
    input.parentNode.appendChild(b);
  });

  // Live hints for the rules a browser can check: length and the repeat.
  // A rule is marked met (✓) or not met (✗) once there is something to
  // check; the others keep their neutral marker (○).
  var pw = document.getElementById("password") || document.getElementById("new");
  var confirm = document.getElementById("confirm");
  var rule = function (name) {
    return form.querySelector('li[data-rule="' + name + '"]');
  };
  var policy = { min_length: Number(pw.getAttribute("minlength")) || 12, max_length: 128, max_bytes: 0 };
  var codePoints = function (s) {
    return Array.from(s).length;
  };
  var bytes = function (s) {
    return new TextEncoder().encode(s).length;
  };
  var mark = function (li, state) {
    if (!li) {
      return;
    }
    var status = li.querySelector(".visually-hidden");
    li.classList.remove("ok", "todo");
    if (state === null) {
      if (status) {
        status.remove();
      }
      return;
    }
    if (!status) {
      status = document.createElement("span");
      status.className = "visually-hidden";
      li.appendChild(status);
    }
    li.classList.add(state ? "ok" : "todo");
    status.textContent = " " + (state ? d.ok : d.todo);
  };
  var update = function () {
    var v = pw.value;
    var n = codePoints(v);
    mark(rule("length"), v === "" ? null :
      n >= policy.min_length && n <= policy.max_length && (!policy.max_bytes || bytes(v) <= policy.max_bytes));
    mark(rule("match"), confirm.value === "" ? null : confirm.value === v);
  };
  pw.addEventListener("input", update);
  confirm.addEventListener("input", update);
  if (window.fetch && d.policy) {
    fetch(d.policy, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) {
        return r.ok ? r.json() : null;
      })
      .then(function (p) {
        if (p && typeof p.min_length === "number") {
          policy = p;
          if (pw.value || confirm.value) {
            update(); // keep the server's marks on an untouched form
          }
        }
      })
      .catch(function () {});
  }
})();
