package passhash

// Consumers in Python (Django, passlib, glibc's crypt through Python's
// crypt module) and mkpasswd. Debian's python3 is /usr/bin/python3: a
// python3 earlier on PATH (pyenv) does not see Debian's modules.

import (
	"bytes"
	"fmt"
	"os/exec"
	"strings"
	"testing"
)

const python3 = "/usr/bin/python3"

func runPython(t *testing.T, code string, in, out any) {
	t.Helper()
	runConsumer(t, python3, []string{"-W", "ignore", "-c", code}, in, out)
}

// django configures Django (python3-django 3.2, with python3-argon2 and
// python3-bcrypt) with the three hashers and reads each hash with
// check_password and the hasher's must_update, then writes Django's own
// hash with make_password.
const django = `
import json, sys
from django.conf import settings
settings.configure(PASSWORD_HASHERS=['__main__.PBKDF2', '__main__.Argon2', '__main__.BCryptSHA256'])
import django
django.setup()
from django.contrib.auth import hashers
from django.contrib.auth.hashers import check_password, make_password, identify_hasher
# The app's own cost settings, lowered as a settings.py would (the race
# detector makes Django's defaults slow); Django's defaults are returned.
class PBKDF2(hashers.PBKDF2PasswordHasher):
    iterations = 100000
class Argon2(hashers.Argon2PasswordHasher):
    time_cost = 1
class BCryptSHA256(hashers.BCryptSHA256PasswordHasher):
    rounds = 4
req = json.load(sys.stdin)
pw = req['password']
out = []
for c in req['cases']:
    h = identify_hasher(c['hash'])
    out.append({'verify': check_password(pw, c['hash']), 'wrong': check_password(pw + 'x', c['hash']),
                'algorithm': h.algorithm, 'must_update': h.must_update(c['hash']),
                'own': make_password(pw, hasher=c['hasher'])})
a = hashers.Argon2PasswordHasher
print(json.dumps({'cases': out, 'defaults': {'bcrypt_rounds': hashers.BCryptSHA256PasswordHasher.rounds,
    'argon2': [a.time_cost, a.memory_cost, a.parallelism]}}))
`

// Django's check_password reads pbkdf2_sha256, django_argon2 and
// django_bcrypt_sha256 written with Django's default costs and does not ask
// to update them; Verify reads Django's own make_password hashes.
func TestConsumerDjango(t *testing.T) {
	type djCase struct {
		format, algorithm string
		cost              int
		Hash              string `json:"hash"`
		Hasher            string `json:"hasher"`
	}
	cases := []*djCase{
		{format: "pbkdf2_sha256", algorithm: "pbkdf2_sha256", cost: 100000, Hasher: "pbkdf2_sha256"},
		{format: "django_argon2", algorithm: "argon2", cost: 1, Hasher: "argon2"},
		{format: "django_bcrypt_sha256", algorithm: "bcrypt_sha256", cost: 4, Hasher: "bcrypt_sha256"},
	}
	for _, c := range cases {
		c.Hash, _ = mustHash(t, c.format, c.cost, consumerPassword)
	}
	var resp struct {
		Cases    []map[string]any
		Defaults struct {
			BcryptRounds int   `json:"bcrypt_rounds"`
			Argon2       []int `json:"argon2"`
		}
	}
	runPython(t, django, map[string]any{"password": consumerPassword, "cases": cases}, &resp)
	raw := resp.Cases
	// Our defaults are Django's, so must_update stays quiet at defaults too.
	if h, _ := New("django_bcrypt_sha256", 0); h.(DjangoBcryptSHA256).Cost != resp.Defaults.BcryptRounds {
		t.Errorf("django_bcrypt_sha256 default cost %d, Django's rounds %d", h.(DjangoBcryptSHA256).Cost, resp.Defaults.BcryptRounds)
	}
	if h, _ := New("django_argon2", 0); fmt.Sprint([]int{int(h.(DjangoArgon2).Time), 102400, 8}) != fmt.Sprint(resp.Defaults.Argon2) {
		t.Errorf("django_argon2 defaults t=%d m=102400 p=8, Django's %v", h.(DjangoArgon2).Time, resp.Defaults.Argon2)
	}
	if len(raw) != len(cases) {
		t.Fatalf("django answered %d cases", len(raw))
	}
	for i, c := range cases {
		r := raw[i]
		if r["verify"] != true || r["wrong"] != false || r["algorithm"] != c.algorithm || r["must_update"] != false {
			t.Errorf("%s: Django on %q: %v", c.format, c.Hash, r)
		}
		own, _ := r["own"].(string)
		if !Verify(c.format, own, nil, consumerPassword) || Verify(c.format, own, nil, consumerPassword+"x") {
			t.Errorf("%s: Verify does not read Django's own %q", c.format, own)
		}
	}
}

// djangoScrypt is Django 4.2's ScryptPasswordHasher (encode, decode,
// verify: hashlib.scrypt with maxmem=0, dklen=64, compared as strings),
// https://github.com/django/django/blob/4.2/django/contrib/auth/hashers.py;
// Debian bookworm ships Django 3.2, which has no scrypt hasher.
const djangoScrypt = `
import base64, hashlib, hmac, json, secrets, string, sys
def encode(password, salt, n=2**14, r=8, p=5):
    hash_ = hashlib.scrypt(password.encode(), salt=salt.encode(), n=n, r=r, p=p, maxmem=0, dklen=64)
    hash_ = base64.b64encode(hash_).decode('ascii').strip()
    return '%s$%d$%s$%d$%d$%s' % ('scrypt', n, salt, r, p, hash_)
def verify(password, encoded):
    algorithm, work_factor, salt, block_size, parallelism, hash_ = encoded.split('$', 6)
    assert algorithm == 'scrypt'
    return hmac.compare_digest(encoded, encode(password, salt, int(work_factor), int(block_size), int(parallelism)))
req = json.load(sys.stdin)
pw = req['password']
salt = ''.join(secrets.choice(string.ascii_letters + string.digits) for _ in range(22))
print(json.dumps({'verify': verify(pw, req['hash']), 'wrong': verify(pw + 'x', req['hash']), 'own': encode(pw, salt)}))
`

// redmineGitea runs Redmine's and Gitea's password code, line for line:
// Redmine app/models/user.rb (User.hash_password, salt_password,
// check_password?: hex SHA1 of salt + hex SHA1 of the password, salt
// Redmine::Utils.random_hex(16)), https://github.com/redmine/redmine/blob/master/app/models/user.rb;
// Gitea modules/auth/password/hash (hash.go Hash: a 10-character salt as
// bytes, else hex-decoded; pbkdf2.go: hex PBKDF2-SHA256; setting.go:
// pbkdf2_v2 = "pbkdf2$50000$50"), https://github.com/go-gitea/gitea/tree/main/modules/auth/password/hash.
// Neither app installs here (Redmine needs Rails, Gitea is not in Debian).
const redmineGitea = `
import hashlib, hmac, json, secrets, sys
def redmine_hash_password(clear):
    return hashlib.sha1((clear or '').encode()).hexdigest()
def redmine_check(clear, salt, hashed):
    return redmine_hash_password('%s%s' % (salt or '', redmine_hash_password(clear))) == hashed
def gitea_hash(password, salt, algo):
    kind, it, keylen = algo.split('$')
    assert kind == 'pbkdf2'
    saltb = salt.encode() if len(salt) == 10 else bytes.fromhex(salt)
    return hashlib.pbkdf2_hmac('sha256', password.encode(), saltb, int(it), int(keylen)).hex()
def gitea_verify(password, hashed, salt, algo):
    return hmac.compare_digest(hashed.encode(), gitea_hash(password, salt, algo).encode())
req = json.load(sys.stdin)
pw, r, g = req['password'], req['redmine'], req['gitea']
rsalt = secrets.token_hex(16)
gsalt = secrets.token_hex(16)
print(json.dumps({
    'redmine': redmine_check(pw, r['salt'], r['hash']), 'redmine_wrong': redmine_check(pw + 'x', r['salt'], r['hash']),
    'redmine_own': {'hash': redmine_hash_password(rsalt + redmine_hash_password(pw)), 'salt': rsalt},
    'gitea': gitea_verify(pw, g['hash'], g['salt'], g['algo']), 'gitea_wrong': gitea_verify(pw + 'x', g['hash'], g['salt'], g['algo']),
    'gitea_own': {'hash': gitea_hash(pw, gsalt, 'pbkdf2$50000$50'), 'salt': gsalt, 'algo': 'pbkdf2$50000$50'},
}))
`

// Django 4.2's scrypt hasher, Redmine's and Gitea's password code read our
// hashes (with the salt and algorithm columns HashParts gives), and Verify
// reads theirs.
func TestConsumerDjangoScryptRedmineGitea(t *testing.T) {
	ds, _ := mustHash(t, "django_scrypt", 0, consumerPassword)
	var gotDS struct {
		Verify, Wrong bool
		Own           string
	}
	runPython(t, djangoScrypt, map[string]any{"password": consumerPassword, "hash": ds}, &gotDS)
	if !gotDS.Verify || gotDS.Wrong {
		t.Errorf("Django's scrypt hasher on %q: verify %v, wrong %v", ds, gotDS.Verify, gotDS.Wrong)
	}
	if !Verify("django_scrypt", gotDS.Own, nil, consumerPassword) {
		t.Errorf("Verify does not read Django's scrypt %q", gotDS.Own)
	}

	rh, rparts := mustHash(t, "redmine", 0, consumerPassword)
	gh, gparts := mustHash(t, "gitea", 0, consumerPassword)
	if len(rparts["salt"]) != 32 || len(gparts["salt"]) != 32 || gparts["algo"] != "pbkdf2$50000$50" || len(gh) != 100 {
		t.Fatalf("parts: redmine %v, gitea %v %q", rparts, gparts, gh)
	}
	var got struct {
		R    bool              `json:"redmine"`
		RW   bool              `json:"redmine_wrong"`
		G    bool              `json:"gitea"`
		GW   bool              `json:"gitea_wrong"`
		ROwn map[string]string `json:"redmine_own"`
		GOwn map[string]string `json:"gitea_own"`
	}
	runPython(t, redmineGitea, map[string]any{"password": consumerPassword,
		"redmine": map[string]string{"hash": rh, "salt": rparts["salt"]},
		"gitea":   map[string]string{"hash": gh, "salt": gparts["salt"], "algo": gparts["algo"]}}, &got)
	if !got.R || got.RW {
		t.Errorf("Redmine's check_password? on %q: %v (wrong %v)", rh, got.R, got.RW)
	}
	if !got.G || got.GW {
		t.Errorf("Gitea's VerifyPassword on %q: %v (wrong %v)", gh, got.G, got.GW)
	}
	if !Verify("redmine", got.ROwn["hash"], got.ROwn, consumerPassword) || Verify("redmine", got.ROwn["hash"], got.ROwn, consumerPassword+"x") {
		t.Errorf("Verify does not read Redmine's own %v", got.ROwn)
	}
	if !Verify("gitea", got.GOwn["hash"], got.GOwn, consumerPassword) || Verify("gitea", got.GOwn["hash"], got.GOwn, consumerPassword+"x") {
		t.Errorf("Verify does not read Gitea's own %v", got.GOwn)
	}
}

// passlib reads each format it knows; for spring it is given the bcrypt
// after DelegatingPasswordEncoder's "{bcrypt}" id, which Spring's
// BCryptPasswordEncoder first matches against its BCRYPT_PATTERN.
const passlib = `
import json, re, sys
from passlib import hash as ph
handlers = {
    'bcrypt': ph.bcrypt.using(rounds=4), 'spring': ph.bcrypt.using(rounds=4, ident='2a'),
    'argon2id': ph.argon2.using(type='ID', rounds=1, memory_cost=19456, parallelism=1),
    'scrypt': ph.scrypt.using(rounds=10), 'sha512_crypt': ph.sha512_crypt.using(rounds=5000),
    'pbkdf2_sha256': ph.django_pbkdf2_sha256.using(rounds=100000),
    'django_argon2': ph.django_argon2.using(type='ID', rounds=1),
    'django_bcrypt_sha256': ph.django_bcrypt_sha256.using(rounds=4),
}
spring_pattern = re.compile(r'\A\$2(a|y|b)?\$(\d\d)\$[./0-9A-Za-z]{53}')
def unwrap(fmt, h):
    if fmt != 'spring':
        return h
    assert h.startswith('{bcrypt}') and spring_pattern.match(h[8:]), h
    return h[8:]
req = json.load(sys.stdin)
pw = req['password']
out = []
for c in req['cases']:
    hd = handlers[c['format']]
    h = unwrap(c['format'], c['hash'])
    own = hd.hash(pw)
    out.append({'verify': hd.verify(pw, h), 'wrong': hd.verify(pw + 'x', h), 'own': ('{bcrypt}' if c['format'] == 'spring' else '') + own})
print(json.dumps(out))
`

// passlib reads our bcrypt, spring, argon2id, scrypt, sha512_crypt and
// Django hashes, and Verify reads passlib's own.
func TestConsumerPasslib(t *testing.T) {
	formats := map[string]int{"bcrypt": 4, "spring": 4, "argon2id": 1, "scrypt": 10, "sha512_crypt": 5000,
		"pbkdf2_sha256": 100000, "django_argon2": 1, "django_bcrypt_sha256": 4}
	type plCase struct {
		Format string `json:"format"`
		Hash   string `json:"hash"`
	}
	var cases []plCase
	for _, f := range Formats() {
		if cost, ok := formats[f]; ok {
			h, _ := mustHash(t, f, cost, consumerPassword)
			cases = append(cases, plCase{Format: f, Hash: h})
		}
	}
	var got []struct {
		Verify, Wrong bool
		Own           string
	}
	runPython(t, passlib, map[string]any{"password": consumerPassword, "cases": cases}, &got)
	for i, c := range cases {
		if !got[i].Verify || got[i].Wrong {
			t.Errorf("%s: passlib verify = %v (wrong %v) for %q", c.Format, got[i].Verify, got[i].Wrong, c.Hash)
		}
		if !Verify(c.Format, got[i].Own, nil, consumerPassword) || Verify(c.Format, got[i].Own, nil, consumerPassword+"x") {
			t.Errorf("%s: Verify does not read passlib's own %q", c.Format, got[i].Own)
		}
	}
}

// mkpasswd (whois) with our salt and rounds writes our exact sha512_crypt
// string, glibc's crypt(3) (through Python's crypt module) accepts it, and
// Verify reads mkpasswd's own hash.
func TestConsumerMkpasswdSHA512Crypt(t *testing.T) {
	ours, _ := mustHash(t, "sha512_crypt", 5000, consumerPassword)
	f := strings.Split(ours, "$") // "", "6", "rounds=5000", salt, hash
	if len(f) != 5 || f[2] != "rounds=5000" {
		t.Fatalf("sha512_crypt wrote %q", ours)
	}
	mk := func(args ...string) string {
		t.Helper()
		path, err := exec.LookPath("mkpasswd")
		if err != nil {
			t.Fatalf("mkpasswd is not installed: run scripts/test, or apt-get install -y whois")
		}
		cmd := exec.CommandContext(t.Context(), path, append([]string{"-m", "sha-512", "-R", "5000", "--stdin"}, args...)...)
		cmd.Stdin = strings.NewReader(consumerPassword + "\n")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("mkpasswd: %v: %s", err, stderr.String())
		}
		return strings.TrimSpace(string(out))
	}
	if same := mk("-S", f[3]); same != ours {
		t.Errorf("mkpasswd with our salt wrote %q, we wrote %q", same, ours)
	}
	own := mk()
	if !Verify("sha512_crypt", own, nil, consumerPassword) || Verify("sha512_crypt", own, nil, consumerPassword+"x") {
		t.Errorf("Verify does not read mkpasswd's %q", own)
	}
	var got struct{ Verify, Wrong bool }
	runPython(t, `
import crypt, hmac, json, sys
req = json.load(sys.stdin)
h, pw = req['hash'], req['password']
print(json.dumps({'verify': hmac.compare_digest(crypt.crypt(pw, h), h), 'wrong': hmac.compare_digest(crypt.crypt(pw + 'x', h), h)}))
`, map[string]string{"hash": ours, "password": consumerPassword}, &got)
	if !got.Verify || got.Wrong {
		t.Errorf("glibc crypt(3) on %q: %v (wrong %v)", ours, got.Verify, got.Wrong)
	}
}
