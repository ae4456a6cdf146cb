package passhash

// format is one row of the table of hash formats: everything New,
// HashParts, Verify, Formats and Parts know about a format. A new format is
// a row here plus a small file with its hasher, verifier and test vectors.
type format struct {
	// name is the format's name in the Caddyfile (`hash <name> [cost]`)
	// and in the webhook's hash_format.
	name string
	// defaultCost is used when the cost given is 0; minCost..maxCost is
	// the range accepted. maxCost 0 means the format takes no cost.
	defaultCost, minCost, maxCost int
	// costName names the cost in error messages.
	costName string
	// parts names the values stored beside the hash (HashParts' map).
	parts []string
	// newHasher builds the hasher for a cost in range; nil for none.
	newHasher func(cost int) Hasher
	// verify checks a password against what the app stores.
	verify func(encoded string, parts map[string]string, password string) bool
}

const (
	bcryptCost = "bcrypt cost"
	iterations = "iterations"
)

// formats is the table of every hash format, named after the apps that
// read it. Defaults follow each app's own default, so its "needs rehash"
// check stays quiet.
var formats = []format{
	{name: "none", verify: verifyNone},

	// Plain bcrypt, labelled $2y$ as PHP writes it.
	{name: "bcrypt", defaultCost: 12, minCost: 4, maxCost: 31, costName: bcryptCost,
		newHasher: func(c int) Hasher { return Bcrypt{Cost: c} }, verify: verifyBcrypt},
	// PHP's password_hash(PASSWORD_DEFAULT): cost 10 up to PHP 8.3.
	{name: "php", defaultCost: 10, minCost: 4, maxCost: 31, costName: bcryptCost,
		newHasher: func(c int) Hasher { return Bcrypt{Cost: c, Name: "php"} }, verify: verifyPHP},
	// Laravel's Hash::make: bcrypt, BCRYPT_ROUNDS 12 since Laravel 11.
	{name: "laravel", defaultCost: 12, minCost: 4, maxCost: 31, costName: bcryptCost,
		newHasher: func(c int) Hasher { return Bcrypt{Cost: c, Name: "laravel"} }, verify: verifyPHP},
	// WordPress 2.5+: plain $2y$ bcrypt of the trimmed password.
	{name: "wordpress", defaultCost: 10, minCost: 4, maxCost: 31, costName: bcryptCost,
		newHasher: func(c int) Hasher { return Bcrypt{Cost: c, Name: "wordpress", Trim: true} }, verify: verifyWordPress},
	// WordPress 6.8+: $wp$ + bcrypt of base64(HMAC-SHA384).
	{name: "wordpress68", defaultCost: 10, minCost: 4, maxCost: 31, costName: bcryptCost,
		newHasher: func(c int) Hasher { return WordPress68{Cost: c} }, verify: verifyWordPress},
	// Spring Security's DelegatingPasswordEncoder: {bcrypt}$2a$10$….
	{name: "spring", defaultCost: 10, minCost: 4, maxCost: 31, costName: bcryptCost,
		newHasher: func(c int) Hasher { return Bcrypt{Cost: c, Name: "spring", Prefix: "{bcrypt}", Minor: 'a'} }, verify: verifySpring},

	{name: "argon2id", defaultCost: 2, minCost: 1, maxCost: 20, costName: "argon2id time cost",
		newHasher: func(c int) Hasher { return Argon2id{Time: uint32(c), MemoryKiB: 19 * 1024, Threads: 1} }, verify: verifyArgon2},
	{name: "scrypt", defaultCost: 17, minCost: 10, maxCost: 22, costName: "scrypt cost (log2 N)",
		newHasher: func(c int) Hasher { return Scrypt{LogN: uint8(c), R: 8, P: 1} }, verify: verifyScrypt},

	// Django's hashers (django.contrib.auth.hashers).
	{name: "pbkdf2_sha256", defaultCost: 870000, minCost: 100000, maxCost: 10000000, costName: iterations,
		newHasher: func(c int) Hasher { return PBKDF2SHA256{Iterations: c} }, verify: verifyDjangoPBKDF2},
	{name: "django_argon2", defaultCost: 2, minCost: 1, maxCost: 20, costName: "argon2 time cost",
		newHasher: func(c int) Hasher { return DjangoArgon2{Time: uint32(c)} }, verify: verifyDjangoArgon2},
	{name: "django_bcrypt_sha256", defaultCost: 12, minCost: 4, maxCost: 31, costName: bcryptCost,
		newHasher: func(c int) Hasher { return DjangoBcryptSHA256{Cost: c} }, verify: verifyDjangoBcryptSHA256},
	{name: "django_scrypt", defaultCost: 14, minCost: 10, maxCost: 14, costName: "scrypt cost (log2 N)",
		newHasher: func(c int) Hasher { return DjangoScrypt{LogN: uint8(c)} }, verify: verifyDjangoScrypt},

	{name: "mediawiki", defaultCost: 30000, minCost: 10000, maxCost: 10000000, costName: iterations,
		newHasher: func(c int) Hasher { return MediaWiki{Iterations: c} }, verify: verifyMediaWiki},
	{name: "redmine", parts: []string{"salt"},
		newHasher: func(int) Hasher { return Redmine{} }, verify: verifyRedmine},
	{name: "gitea", defaultCost: 50000, minCost: 10000, maxCost: 10000000, costName: iterations, parts: []string{"salt", "algo"},
		newHasher: func(c int) Hasher { return Gitea{Iterations: c} }, verify: verifyGitea},
	{name: "aspnet_identity_v3", defaultCost: 100000, minCost: 10000, maxCost: 10000000, costName: iterations,
		newHasher: func(c int) Hasher { return ASPNetIdentityV3{Iterations: c} }, verify: verifyASPNetIdentity},
	{name: "sha512_crypt", defaultCost: 656000, minCost: 1000, maxCost: 9999999, costName: "rounds",
		newHasher: func(c int) Hasher { return SHA512Crypt{Rounds: c} }, verify: verifySHA512Crypt},
}
