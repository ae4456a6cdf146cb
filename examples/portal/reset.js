// The portal's set-new-password page: posts the new password to
// resetgate's POST {prefix}/complete (same origin, through Caddy) and shows
// the answer. Without JavaScript the form posts to the portal instead.
(function () {
	'use strict';
	var form = document.getElementById('reset');
	var out = document.getElementById('result');
	if (!form || !out) {
		return;
	}
	// The token came in the address: keep it out of the history.
	history.replaceState(null, '', location.pathname);

	var messages = {
		TOO_SHORT: 'The password is too short (12 characters at least).',
		TOO_LONG: 'The password is too long.',
		MISMATCH: 'The two passwords differ.',
		CONTAINS_IDENTIFIER: "The password contains your name, address or the site's name.",
		COMMON: 'This password is too common.',
		TOO_WEAK: 'This password is too easy to guess.',
		BREACHED: 'This password appeared in a data breach.',
		SAME_AS_OLD: 'This is your current password; choose another one.',
		TOKEN_INVALID: 'This link is no longer valid. Ask our support for a new one.',
		TOKEN_BUSY: 'This link is being used right now; try again in a moment.',
		UPSTREAM_FAILED: 'The password could not be saved right now; try again.',
		RATE_LIMITED: 'Too many attempts; try again later.'
	};

	function explain(body) {
		var errs = (body && body.errors) || [];
		if (!errs.length) {
			return 'Something went wrong; try again.';
		}
		return errs.map(function (e) {
			var key = e.code === 'PASSWORD_POLICY_VIOLATED' ? e.detail : e.code;
			return messages[key] || 'Something went wrong; try again.';
		}).join(' ');
	}

	form.addEventListener('submit', function (ev) {
		ev.preventDefault();
		var body = {
			token: form.elements.token.value,
			password: form.elements.password.value,
			confirm: form.elements.confirm.value
		};
		fetch(form.getAttribute('data-complete'), {
			method: 'POST',
			headers: {'Content-Type': 'application/json'},
			body: JSON.stringify(body),
			credentials: 'omit'
		}).then(function (resp) {
			return resp.json().then(function (json) {
				return {status: resp.status, body: json};
			}, function () {
				return {status: resp.status, body: null};
			});
		}).then(function (res) {
			if (res.status === 200) {
				form.hidden = true;
				out.textContent = 'Your password was changed. You can sign in with it now.';
				return;
			}
			out.textContent = explain(res.body);
		}, function () {
			out.textContent = 'The password service cannot be reached; try again.';
		});
	});
}());
