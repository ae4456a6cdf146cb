package passhash

// Each format against the code of the app that reads it, both ways: the
// consumer accepts our hash, and Verify accepts the consumer's own hash of
// the same password. The consumers run as subprocesses (php -r, python3 -c)
// from Debian packages that scripts/test installs; a missing one fails the
// test with the package to install.

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

// consumerPassword has UTF-8 beyond Latin-1, inner spaces and punctuation.
const consumerPassword = "Grüße, ünïcödé pässwörd 7!"

// debianPackage names the package that provides each consumer program.
var debianPackage = map[string]string{"php": "php-cli", "/usr/bin/python3": "python3", "mkpasswd": "whois"}

// runConsumer runs a consumer program with in as JSON on stdin and decodes
// its JSON answer into out.
func runConsumer(t *testing.T, bin string, args []string, in, out any) {
	t.Helper()
	path, err := exec.LookPath(bin)
	if err != nil {
		t.Fatalf("consumer %s is not installed (%v): run scripts/test, or apt-get install -y %s", bin, err, debianPackage[bin])
	}
	data, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), path, args...)
	cmd.Stdin = bytes.NewReader(data)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s failed: %v\n%s", bin, err, stderr.String())
	}
	if err := json.Unmarshal(stdout, out); err != nil {
		t.Fatalf("%s answered %q (%v); stderr: %s", bin, stdout, err, stderr.String())
	}
}

func runPHP(t *testing.T, code string, in, out any) {
	t.Helper()
	runConsumer(t, "php", []string{"-d", "display_errors=stderr", "-d", "error_reporting=-1", "-r", code}, in, out)
}

// mustHash hashes consumerPassword (or pw) in format at cost.
func mustHash(t *testing.T, format string, cost int, pw string) (string, map[string]string) {
	t.Helper()
	h, err := New(format, cost)
	if err != nil {
		t.Fatal(err)
	}
	enc, parts, err := HashParts(h, pw)
	if err != nil {
		t.Fatal(err)
	}
	return enc, parts
}

// phpPasswordAPI reads each hash with password_verify, password_get_info
// and password_needs_rehash (with the options the app would pass), runs
// Laravel's BcryptHasher::check with its verify option on
// (laravel/framework src/Illuminate/Hashing/BcryptHasher.php: the algoName
// must be "bcrypt"), and writes PHP's own hash with the same options.
const phpPasswordAPI = `
$in = json_decode(stream_get_contents(STDIN), true);
$pw = $in['password'];
$algos = ['2y' => PASSWORD_BCRYPT, 'argon2id' => PASSWORD_ARGON2ID, 'default' => PASSWORD_DEFAULT];
$out = [];
foreach ($in['cases'] as $c) {
	$algo = $algos[$c['algo']];
	$opts = $c['options'] ?: [];
	$h = $c['hash'];
	$info = password_get_info($h);
	$laravel = $info['algoName'] === 'bcrypt' ? password_verify($pw, $h) : 'RuntimeException: This password does not use the Bcrypt algorithm.';
	$out[] = [
		'verify' => password_verify($pw, $h),
		'wrong' => password_verify($pw . 'x', $h),
		'algoName' => $info['algoName'],
		'needsRehash' => password_needs_rehash($h, $algo, $opts),
		'laravel' => $laravel,
		'own' => password_hash($pw, $algo, $opts),
	];
}
$salt = substr(strtr(base64_encode(random_bytes(16)), '+', '.'), 0, 22);
echo json_encode(['cases' => $out, 'crypt2a' => crypt($pw, '$2a$04$' . $salt), 'crypt2b' => crypt($pw, '$2b$04$' . $salt),
	'defaultCost' => PASSWORD_BCRYPT_DEFAULT_COST]);
`

// PHP's password API, and Laravel's check on top of it, read bcrypt, php,
// laravel, wordpress and argon2id hashes as their own: known algorithm,
// no rehash wanted. Verify reads PHP's own hashes, and bcrypt strings
// under the $2a$ and $2b$ labels that crypt() and other libraries write.
func TestConsumerPHPPasswordAPI(t *testing.T) {
	type phpCase struct {
		format string
		cost   int
		Hash   string         `json:"hash"`
		Algo   string         `json:"algo"`
		Opts   map[string]int `json:"options"`
		algo   string
	}
	cases := []*phpCase{
		{format: "bcrypt", cost: 4, Algo: "2y", Opts: map[string]int{"cost": 4}, algo: "bcrypt"},
		{format: "php", cost: 4, Algo: "default", Opts: map[string]int{"cost": 4}, algo: "bcrypt"},
		{format: "laravel", cost: 4, Algo: "2y", Opts: map[string]int{"cost": 4}, algo: "bcrypt"},
		{format: "wordpress", cost: 4, Algo: "2y", Opts: map[string]int{"cost": 4}, algo: "bcrypt"},
		{format: "argon2id", cost: 1, Algo: "argon2id", Opts: map[string]int{"memory_cost": 19456, "time_cost": 1, "threads": 1}, algo: "argon2id"},
	}
	for _, c := range cases {
		c.Hash, _ = mustHash(t, c.format, c.cost, consumerPassword)
	}
	var got struct {
		Cases []struct {
			Verify, Wrong, NeedsRehash bool
			AlgoName                   string
			Laravel                    any
			Own                        string
		}
		Crypt2a, Crypt2b string
		DefaultCost      int
	}
	runPHP(t, phpPasswordAPI, map[string]any{"password": consumerPassword, "cases": cases}, &got)
	// The php format's default cost is PHP's, so password_needs_rehash with
	// PASSWORD_DEFAULT and no options stays quiet (cost 4 above keeps the
	// test fast under the race detector).
	if h, _ := New("php", 0); h.(Bcrypt).Cost != got.DefaultCost {
		t.Errorf("php format's default cost %d, PHP's PASSWORD_BCRYPT_DEFAULT_COST %d", h.(Bcrypt).Cost, got.DefaultCost)
	}
	if len(got.Cases) != len(cases) {
		t.Fatalf("php answered %d cases", len(got.Cases))
	}
	for i, c := range cases {
		r := got.Cases[i]
		if !r.Verify || r.Wrong {
			t.Errorf("%s: password_verify(%q) = %v, wrong password = %v", c.format, c.Hash, r.Verify, r.Wrong)
		}
		if r.AlgoName != c.algo {
			t.Errorf("%s: password_get_info algoName = %q, want %q", c.format, r.AlgoName, c.algo)
		}
		if r.NeedsRehash {
			t.Errorf("%s: password_needs_rehash(%q, %s, %v) = true", c.format, c.Hash, c.Algo, c.Opts)
		}
		if c.algo == "bcrypt" && r.Laravel != true {
			t.Errorf("%s: Laravel's BcryptHasher::check (verify on) = %v", c.format, r.Laravel)
		}
		if !Verify(c.format, r.Own, nil, consumerPassword) || Verify(c.format, r.Own, nil, consumerPassword+"x") {
			t.Errorf("%s: Verify does not read PHP's own hash %q", c.format, r.Own)
		}
	}
	for _, format := range []string{"bcrypt", "php", "laravel", "wordpress"} {
		if !Verify(format, got.Crypt2a, nil, consumerPassword) || !Verify(format, got.Crypt2b, nil, consumerPassword) {
			t.Errorf("%s: Verify does not read crypt()'s $2a$ %q / $2b$ %q", format, got.Crypt2a, got.Crypt2b)
		}
	}
	// php and laravel also read PHP's argon2id hashes (password_verify does).
	if own := got.Cases[4].Own; !Verify("php", own, nil, consumerPassword) || !Verify("laravel", own, nil, consumerPassword) {
		t.Errorf("php/laravel: Verify does not read PHP's argon2id %q", own)
	}
}

// Why bcrypt is relabelled: the $2a$ label Go writes is "unknown" to PHP's
// password_get_info, so Laravel's verifying hasher throws and
// password_needs_rehash asks for every one to be rehashed.
func TestConsumerPHPCallsGoBcryptLabelUnknown(t *testing.T) {
	h, _ := mustHash(t, "bcrypt", 4, consumerPassword)
	goLabel := "$2a$" + h[4:]
	var got struct {
		Cases []struct {
			Verify, NeedsRehash bool
			AlgoName            string
			Laravel             any
		}
	}
	runPHP(t, phpPasswordAPI, map[string]any{"password": consumerPassword, "cases": []map[string]any{
		{"hash": goLabel, "algo": "2y", "options": map[string]int{"cost": 4}}}}, &got)
	if r := got.Cases[0]; !r.Verify || r.AlgoName != "unknown" || !r.NeedsRehash || r.Laravel == true {
		t.Fatalf("PHP on a $2a$ hash: %+v; want verify true, algoName unknown, needs rehash, Laravel refusing", r)
	}
}

// symfonyHasher is Symfony's NativePasswordHasher (Debian
// php-symfony-password-hasher): verify, needsRehash with the app's own
// settings, and its own hash.
const symfonyHasher = `
require '/usr/share/php/Symfony/Component/PasswordHasher/autoload.php';
use Symfony\Component\PasswordHasher\Hasher\NativePasswordHasher;
$in = json_decode(stream_get_contents(STDIN), true);
$pw = $in['password'];
$out = [];
foreach ($in['cases'] as $c) {
	$hasher = new NativePasswordHasher($c['ops'], $c['mem'], $c['cost'], $c['algo']);
	$out[] = [
		'verify' => $hasher->verify($c['hash'], $pw),
		'wrong' => $hasher->verify($c['hash'], $pw . 'x'),
		'needsRehash' => $hasher->needsRehash($c['hash']),
		'own' => $hasher->hash($pw),
	];
}
echo json_encode($out);
`

// Symfony's PasswordHasher reads bcrypt and argon2id hashes without asking
// for a rehash, and Verify reads Symfony's own.
func TestConsumerSymfonyPasswordHasher(t *testing.T) {
	type symCase struct {
		format string
		Hash   string `json:"hash"`
		Ops    *int   `json:"ops"`
		Mem    *int   `json:"mem"`
		Cost   *int   `json:"cost"`
		Algo   string `json:"algo"`
	}
	four, three, mem := 4, 3, 19456*1024
	bc, _ := mustHash(t, "bcrypt", 4, consumerPassword)
	lv, _ := mustHash(t, "laravel", 4, consumerPassword)
	ar, _ := mustHash(t, "argon2id", 3, consumerPassword)
	cases := []symCase{
		{format: "bcrypt", Hash: bc, Cost: &four, Algo: "2y"},
		{format: "laravel", Hash: lv, Cost: &four, Algo: "2y"},
		{format: "argon2id", Hash: ar, Ops: &three, Mem: &mem, Algo: "argon2id"},
	}
	if _, err := exec.LookPath("php"); err == nil {
		if out, err := exec.Command("php", "-r", `echo file_exists('/usr/share/php/Symfony/Component/PasswordHasher/autoload.php') ? 'ok' : 'missing';`).Output(); err != nil || string(out) != "ok" {
			t.Fatalf("Symfony PasswordHasher is not installed: run scripts/test, or apt-get install -y php-symfony-password-hasher")
		}
	}
	var got []struct {
		Verify, Wrong, NeedsRehash bool
		Own                        string
	}
	runPHP(t, symfonyHasher, map[string]any{"password": consumerPassword, "cases": cases}, &got)
	for i, c := range cases {
		r := got[i]
		if !r.Verify || r.Wrong || r.NeedsRehash {
			t.Errorf("%s: Symfony verify = %v, wrong = %v, needsRehash = %v for %q", c.format, r.Verify, r.Wrong, r.NeedsRehash, c.Hash)
		}
		if !Verify(c.format, r.Own, nil, consumerPassword) {
			t.Errorf("%s: Verify does not read Symfony's own hash %q", c.format, r.Own)
		}
	}
}

// wordPress loads Debian's WordPress 6.1 (wp-includes/pluggable.php and
// class-phpass.php) and, for the $wp$ format 6.1 cannot read, the lines of
// WordPress 6.8's wp_hash_password and wp_check_password
// (https://github.com/WordPress/wordpress-develop/blob/6.8.0/src/wp-includes/pluggable.php).
// "login" is what wp_authenticate does: trim the typed password, then
// wp_check_password.
const wordPress = `
define('ABSPATH', '/usr/share/wordpress/');
define('WPINC', 'wp-includes');
// A site's filter sets bcrypt cost 4 (the race detector makes cost 10 slow).
function apply_filters($tag, $value) { return $tag === 'wp_hash_password_options' ? ['cost' => 4] : $value; }
require ABSPATH . WPINC . '/pluggable.php';
function wp68_hash_password($password) {
	if (strlen($password) > 4096) { return '*'; }
	$algorithm = PASSWORD_BCRYPT;
	$options = apply_filters('wp_hash_password_options', array(), $algorithm);
	$password_to_hash = base64_encode(hash_hmac('sha384', trim($password), 'wp-sha384', true));
	return '$wp' . password_hash($password_to_hash, $algorithm, $options);
}
function wp68_check_password($password, $hash) {
	if (strlen($hash) <= 32) { return hash_equals($hash, md5($password)); }
	if (strlen($password) > 4096) { return false; }
	if (str_starts_with($hash, '$wp')) {
		$password_to_verify = base64_encode(hash_hmac('sha384', $password, 'wp-sha384', true));
		return password_verify($password_to_verify, substr($hash, 3));
	}
	if (str_starts_with($hash, '$P$')) {
		require_once ABSPATH . WPINC . '/class-phpass.php';
		return (new PasswordHash(8, true))->CheckPassword($password, $hash);
	}
	return password_verify($password, $hash);
}
$in = json_decode(stream_get_contents(STDIN), true);
$out = [];
foreach ($in['cases'] as $c) {
	$typed = trim($c['typed']);
	$out[] = [
		'wp61' => wp_check_password($typed, $c['hash']),
		'wp61wrong' => wp_check_password($typed . 'x', $c['hash']),
		'wp68' => wp68_check_password($typed, $c['hash']),
		'wp68wrong' => wp68_check_password($typed . 'x', $c['hash']),
		'own61' => wp_hash_password($c['set']),
		'own68' => wp68_hash_password($c['set']),
	];
}
echo json_encode($out);
`

// WordPress's login reads the wordpress format (every version) and
// wordpress68 (6.8+ only; 6.1 refuses it), including a password set with
// surrounding spaces, which WordPress trims when it hashes and at login.
// Verify reads WordPress 6.1's phpass hash and 6.8's $wp$ hash.
func TestConsumerWordPressLogin(t *testing.T) {
	if _, err := exec.Command("test", "-f", "/usr/share/wordpress/wp-includes/pluggable.php").Output(); err != nil {
		t.Fatalf("WordPress is not installed: run scripts/test, or apt-get install -y wordpress")
	}
	const padded = "  Grüße pässwörd \t"
	type wpCase struct {
		format string
		Hash   string `json:"hash"`
		Set    string `json:"set"`
		Typed  string `json:"typed"`
	}
	var cases []wpCase
	for _, format := range []string{"wordpress", "wordpress68"} {
		for _, pw := range []string{consumerPassword, padded} {
			h, _ := mustHash(t, format, 4, pw)
			cases = append(cases, wpCase{format: format, Hash: h, Set: pw, Typed: pw})
		}
	}
	var got []struct {
		WP61, WP61Wrong, WP68, WP68Wrong bool
		Own61, Own68                     string
	}
	runPHP(t, wordPress, map[string]any{"cases": cases}, &got)
	for i, c := range cases {
		r := got[i]
		if r.WP68 != true || r.WP68Wrong {
			t.Errorf("%s %q: WordPress 6.8 login = %v (wrong password %v) for %q", c.format, c.Set, r.WP68, r.WP68Wrong, c.Hash)
		}
		want61 := c.format == "wordpress"
		if r.WP61 != want61 || r.WP61Wrong {
			t.Errorf("%s %q: WordPress 6.1 login = %v, want %v (wrong password %v)", c.format, c.Set, r.WP61, want61, r.WP61Wrong)
		}
		for _, own := range []string{r.Own61, r.Own68} {
			for _, format := range []string{"wordpress", "wordpress68"} {
				if !Verify(format, own, nil, c.Typed) || Verify(format, own, nil, c.Typed+"x") {
					t.Errorf("%s: Verify does not read WordPress's own hash %q of %q", format, own, c.Set)
				}
			}
		}
		if !strings.HasPrefix(r.Own61, "$P$") || !strings.HasPrefix(r.Own68, "$wp$2y$04$") {
			t.Errorf("WordPress wrote %q and %q", r.Own61, r.Own68)
		}
	}
}

// mediaWiki is MediaWiki's PBKDF2 password type: AbstractPbkdf2Password::crypt
// with Pbkdf2PasswordUsingHashExtension::pbkdf2 and ParameterizedPassword's
// ":pbkdf2:algo:rounds:length:salt:hash" string; verify hashes with the
// stored parameters and compares the strings, as Password::verify does
// (https://github.com/wikimedia/mediawiki/blob/master/includes/Password/AbstractPbkdf2Password.php).
// MediaWiki itself is not installable here without Apache and a database.
const mediaWiki = `
function mw_crypt($password, $salt, $algo = 'sha512', $rounds = 30000, $length = 64) {
	if ($salt === null) { $salt = base64_encode(random_bytes(16)); }
	$hash = hash_pbkdf2($algo, $password, base64_decode($salt), (int)$rounds, (int)$length, true);
	return ':pbkdf2:' . implode(':', [$algo, $rounds, $length, $salt]) . ':' . base64_encode($hash);
}
function mw_verify($password, $stored) {
	$p = explode(':', $stored);
	if (count($p) !== 7 || $p[1] !== 'pbkdf2') { return false; }
	return hash_equals($stored, mw_crypt($password, $p[5], $p[2], $p[3], $p[4]));
}
$in = json_decode(stream_get_contents(STDIN), true);
echo json_encode([
	'verify' => mw_verify($in['password'], $in['hash']),
	'wrong' => mw_verify($in['password'] . 'x', $in['hash']),
	'own' => mw_crypt($in['password'], null),
]);
`

// MediaWiki's PBKDF2 password type reads the mediawiki format, and Verify
// reads MediaWiki's own hash with its default parameters.
func TestConsumerMediaWiki(t *testing.T) {
	h, _ := mustHash(t, "mediawiki", 0, consumerPassword)
	if !strings.HasPrefix(h, ":pbkdf2:sha512:30000:64:") {
		t.Fatalf("mediawiki wrote %q", h)
	}
	var got struct {
		Verify, Wrong bool
		Own           string
	}
	runPHP(t, mediaWiki, map[string]any{"password": consumerPassword, "hash": h}, &got)
	if !got.Verify || got.Wrong {
		t.Errorf("MediaWiki's verify = %v (wrong %v) for %q", got.Verify, got.Wrong, h)
	}
	if !Verify("mediawiki", got.Own, nil, consumerPassword) || Verify("mediawiki", got.Own, nil, consumerPassword+"x") {
		t.Errorf("Verify does not read MediaWiki's own %q", got.Own)
	}
}
