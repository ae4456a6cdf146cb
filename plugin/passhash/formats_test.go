package passhash

import (
	"encoding/hex"
	"slices"
	"strings"
	"testing"
)

// lowCost is the cheapest cost each format accepts, so the round trips stay
// fast; 0 for formats without a cost.
var lowCost = map[string]int{
	"bcrypt": 4, "php": 4, "laravel": 4, "wordpress": 4, "wordpress68": 4, "spring": 4, "django_bcrypt_sha256": 4,
	"argon2id": 1, "django_argon2": 1, "scrypt": 10, "django_scrypt": 10,
	"pbkdf2_sha256": 100000, "mediawiki": 10000, "gitea": 10000, "aspnet_identity_v3": 10000, "sha512_crypt": 1000,
}

// The formats DESIGN.md promises, each a row of the one table.
func TestFormatsListsEveryPromisedFormat(t *testing.T) {
	want := []string{"argon2id", "aspnet_identity_v3", "bcrypt", "django_argon2", "django_bcrypt_sha256", "django_scrypt",
		"gitea", "laravel", "mediawiki", "none", "pbkdf2_sha256", "php", "redmine", "scrypt", "sha512_crypt", "spring",
		"wordpress", "wordpress68"}
	if got := Formats(); !slices.Equal(got, want) {
		t.Fatalf("Formats() = %v\nwant %v", got, want)
	}
	_, err := New("md5crypt", 0)
	if err == nil || !strings.Contains(err.Error(), strings.Join(want, ", ")) {
		t.Fatalf("unknown format error does not list the valid names: %v", err)
	}
	if p := Parts("gitea"); !slices.Equal(p, []string{"salt", "algo"}) {
		t.Errorf("Parts(gitea) = %v", p)
	}
	if p := Parts("redmine"); !slices.Equal(p, []string{"salt"}) {
		t.Errorf("Parts(redmine) = %v", p)
	}
	if p := Parts("bcrypt"); p != nil {
		t.Errorf("Parts(bcrypt) = %v", p)
	}
}

// Every format hashes and verifies its own output, refuses a wrong
// password, and refuses its hash without its parts.
func TestEveryFormatRoundTrips(t *testing.T) {
	const pw = "Grüße, ünïcödé pässwörd 7!"
	for _, name := range Formats() {
		t.Run(name, func(t *testing.T) {
			h, err := New(name, lowCost[name])
			if err != nil {
				t.Fatal(err)
			}
			enc, parts, err := HashParts(h, pw)
			if err != nil {
				t.Fatal(err)
			}
			if len(parts) != len(Parts(name)) {
				t.Fatalf("parts %v, want keys %v", parts, Parts(name))
			}
			if !Verify(name, enc, parts, pw) {
				t.Fatalf("own hash %q does not verify", enc)
			}
			if Verify(name, enc, parts, pw+"x") {
				t.Fatal("wrong password verifies")
			}
			if h != nil && h.Format() != name {
				t.Errorf("Format() = %q", h.Format())
			}
			if len(parts) > 0 {
				if _, err := h.Hash(pw); err != ErrNeedsParts {
					t.Errorf("Hash without parts: err %v, want ErrNeedsParts", err)
				}
				if Verify(name, enc, nil, pw) {
					t.Error("verifies without its salt")
				}
			}
		})
	}
}

func TestNewCosts(t *testing.T) {
	for _, tc := range []struct {
		format string
		cost   int
		want   string
	}{
		{"bcrypt", 3, "bcrypt cost must be between 4 and 31"},
		{"wordpress", 32, "wordpress bcrypt cost must be between 4 and 31"},
		{"argon2id", 40, "argon2id time cost must be between 1 and 20"},
		{"pbkdf2_sha256", 1000, "pbkdf2_sha256 iterations must be between 100000 and 10000000"},
		{"django_scrypt", 15, "django_scrypt scrypt cost (log2 N) must be between 10 and 14"},
		{"redmine", 5, "hash format redmine takes no cost"},
		{"none", 5, "hash format none takes no cost"},
	} {
		if _, err := New(tc.format, tc.cost); err == nil || err.Error() != tc.want {
			t.Errorf("New(%s, %d) = %v, want %q", tc.format, tc.cost, err, tc.want)
		}
	}
}

// Hashes written by the consumers' own code (published vectors, each with
// its source), read by Verify.
func TestVerifyConsumerVectors(t *testing.T) {
	const springDocs = "$2a$10$dXJ3SW6G7P50lGmMkkmwe.20cQQubK3.HZWzG3YB1tlRy.fqvM/BG" // "password"
	giteaHex := hex.EncodeToString([]byte{1, 2, 3, 4})
	cheap, _ := mustHash(t, "bcrypt", 4, "password")
	for _, tc := range []struct {
		name, format, encoded string
		parts                 map[string]string
		password              string
		want                  bool
	}{
		// Spring Security reference, "Password Storage" (DelegatingPasswordEncoder):
		// https://docs.spring.io/spring-security/reference/features/authentication/password-storage.html
		{"spring docs bcrypt", "spring", "{bcrypt}" + springDocs, nil, "password", true},
		{"spring without id", "spring", springDocs, nil, "password", false},
		// spring-security crypto/src/test/java/.../argon2/Argon2PasswordEncoderTests.java
		// (encodeWhenUsingPredictableSaltThenEqualTestHash)
		{"spring argon2 test", "spring", "{argon2}$argon2id$v=19$m=4096,t=3,p=1$QUFBQUFBQUFBQUFBQUFBQQ$hmmTNyJlwbb6HAvFoHFWF+u03fdb0F2qA+39oPlcAqo", nil, "sometestpassword", true},
		// The same bcrypt bytes under every label PHP, Python and Go write.
		{"bcrypt $2a$", "bcrypt", "$2a$" + cheap[4:], nil, "password", true},
		{"bcrypt $2b$", "bcrypt", "$2b$" + cheap[4:], nil, "password", true},
		{"bcrypt $2y$", "bcrypt", cheap, nil, "password", true},
		{"bcrypt $2x$ refused", "bcrypt", "$2x$" + cheap[4:], nil, "password", false},
		{"laravel reads $2a$", "laravel", "$2a$" + cheap[4:], nil, "password", true},
		// dotnet/aspnetcore src/Identity/test/Identity.Test/PasswordHasherTest.cs
		// https://github.com/dotnet/aspnetcore/blob/main/src/Identity/test/Identity.Test/PasswordHasherTest.cs
		{"aspnet v3 sha512 100000", "aspnet_identity_v3", "AQAAAAIAAYagAAAAEAABAgMEBQYHCAkKCwwNDg/Q8A0WMKbtHQJQ2DHCdoEeeFBrgNlldq6vH4qX/CGqGQ==", nil, "my password", true},
		{"aspnet v3 sha256 10000", "aspnet_identity_v3", "AQAAAAEAACcQAAAAEAABAgMEBQYHCAkKCwwNDg+yWU7rLgUwPZb1Itsmra7cbxw2EFpwpVFIEtP+JIuUEw==", nil, "my password", true},
		{"aspnet v3 sha1 250", "aspnet_identity_v3", "AQAAAAAAAAD6AAAAEAhftMyfTJylOlZT+eEotFXd1elee8ih5WsjXaR3PA9M", nil, "my password", true},
		{"aspnet v3 sha512 250 long salt", "aspnet_identity_v3", "AQAAAAIAAAD6AAAAIJbVi5wbMR+htSfFp8fTw8N8GOS/Sje+S/4YZcgBfU7EQuqv4OkVYmc4VJl9AGZzmRTxSkP7LtVi9IWyUxX8IAAfZ8v+ZfhjCcudtC1YERSqE1OEdXLW9VukPuJWBBjLuw==", nil, "my password", true},
		{"aspnet v2", "aspnet_identity_v3", "AAABAgMEBQYHCAkKCwwNDg+ukCEMDf0yyQ29NYubggHIVY0sdEUfdyeM+E1LtH1uJg==", nil, "my password", true},
		{"aspnet v2 other", "aspnet_identity_v3", "ANXrDknc7fGPpigibZXXZFMX4aoqz44JveK6jQuwY3eH/UyPhvr5xTPeGYEckLxz9A==", nil, "my password", true},
		{"aspnet v2 incorrect", "aspnet_identity_v3", "AAABAgMEBQYHCAkKCwwNDg+uAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAALtH1uJg==", nil, "my password", false},
		{"aspnet v2 too short", "aspnet_identity_v3", "AAABAgMEBQYHCAkKCwwNDg+ukCEMDf0yyQ29NYubggE=", nil, "my password", false},
		{"aspnet v2 extra data", "aspnet_identity_v3", "AAABAgMEBQYHCAkKCwwNDg+ukCEMDf0yyQ29NYubggHIVY0sdEUfdyeM+E1LtH1uJgAAAAAAAAAAAAA=", nil, "my password", false},
		{"aspnet v3 incorrect", "aspnet_identity_v3", "AQAAAAAAAAD6AAAAEAhftMyfTJyAAAAAAAAAAAAAAAAAAAih5WsjXaR3PA9M", nil, "my password", false},
		{"aspnet v3 too short", "aspnet_identity_v3", "AQAAAAIAAAAyAAAAEOMwvh3+FZxqkdMBz2ekgGhwQ4A=", nil, "my password", false},
		// go-gitea/gitea modules/auth/password/hash/hash_test.go (vectors).
		{"gitea pbkdf2 legacy salt", "gitea", "ab48d5471b7e6ed42d10001db88c852ff7303c788e49da5c3c7b63d5adf96360303724b74b679223a3dea8a242d10abb1913", map[string]string{"salt": "aaaaaaaaaa", "algo": "pbkdf2$10000$50"}, "abcdef", true},
		{"gitea bare pbkdf2", "gitea", "ab48d5471b7e6ed42d10001db88c852ff7303c788e49da5c3c7b63d5adf96360303724b74b679223a3dea8a242d10abb1913", map[string]string{"salt": "aaaaaaaaaa", "algo": "pbkdf2"}, "abcdef", true},
		{"gitea pbkdf2 hex salt", "gitea", "45d6cdc843d65cf0eda7b90ab41435762a282f7df013477a1c5b212ba81dbdca2edf1ecc4b5cb05956bb9e0c37ab29315d78", map[string]string{"salt": giteaHex, "algo": "pbkdf2$10000$50"}, "abcdef", true},
		{"gitea pbkdf2_hi", "gitea", "84e233114499e8721da80e85568e5b7b5900b3e49a30845fcda9d1e1756da4547d70f8740ac2b4a5d82f88cebcd27f21bfe2", map[string]string{"salt": giteaHex, "algo": "pbkdf2$320000$50"}, "abcdef", true},
		{"gitea argon2", "gitea", "9c287db63a91d18bb1414b703216da4fc431387c1ae7c8acdb280222f11f0929831055dbfd5126a3b48566692e83ec750d2a", map[string]string{"salt": giteaHex, "algo": "argon2$2$65536$8$50"}, "abcdef", true},
		{"gitea scrypt", "gitea", "25fe5f66b43fa4eb7b6717905317cd2223cf841092dc8e0a1e8c75720ad4846cb5d9387303e14bc3c69faa3b1c51ef4b7de1", map[string]string{"salt": giteaHex, "algo": "scrypt$65536$16$2$50"}, "abcdef", true},
		{"gitea bcrypt", "gitea", "$2a$10$qhgm32w9ZpqLygugWJsLjey8xRGcaq9iXAfmCeNBXxddgyoaOC3Gq", map[string]string{"salt": giteaHex, "algo": "bcrypt$10"}, "abcdef", true},
		{"gitea empty salt", "gitea", "", map[string]string{"salt": "", "algo": "pbkdf2$10000$50"}, "abcdef", false},
		// glibc crypt/sha512c-test.c (Drepper's specification).
		{"sha512_crypt default rounds", "sha512_crypt", "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1", nil, "Hello world!", true},
		{"sha512_crypt 10000 rounds", "sha512_crypt", "$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v.", nil, "Hello world!", true},
		{"sha512_crypt long salt", "sha512_crypt", "$6$rounds=5000$toolongsaltstrin$lQ8jolhgVRVhY4b5pZKaysCLi0QBxGoNeKQzQ3glMhwllF7oGDZxUhx1yxdYcz/e1JSbq3y6JMxxl8audkUEm0", nil, "This is just a test", true},
		// WordPress's MD5 rows (strlen <= 32) are still read by wp_check_password.
		{"wordpress md5", "wordpress", "5f4dcc3b5aa765d61d8327deb882cf99", nil, "password", true},
		{"wordpress md5 trims like wp_authenticate", "wordpress68", "5f4dcc3b5aa765d61d8327deb882cf99", nil, " password\t", true},
		{"none", "none", "as typed ", nil, "as typed ", true},
		{"none trims nothing", "none", "as typed ", nil, "as typed", false},
	} {
		if got := Verify(tc.format, tc.encoded, tc.parts, tc.password); got != tc.want {
			t.Errorf("%s: Verify = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// With the consumer's fixed salt, our encoder writes the consumer's exact
// bytes: the same algorithm, not only a compatible one.
func TestEncodersReproduceConsumerBytes(t *testing.T) {
	seq := make([]byte, 16)
	for i := range seq {
		seq[i] = byte(i)
	}
	// aspnetcore PasswordHasherTest: SequentialRandomNumberGenerator salt 00..0f.
	if got, want := aspnetV3("my password", seq, aspPRFSHA512, 100000), "AQAAAAIAAYagAAAAEAABAgMEBQYHCAkKCwwNDg/Q8A0WMKbtHQJQ2DHCdoEeeFBrgNlldq6vH4qX/CGqGQ=="; got != want {
		t.Errorf("aspnet v3 = %s, want %s", got, want)
	}
	// Spring's Argon2PasswordEncoder with its predictable salt of sixteen 'A's.
	if got, want := argon2idPHC("sometestpassword", []byte(strings.Repeat("A", 16)), 3, 4096, 1, 32), "$argon2id$v=19$m=4096,t=3,p=1$QUFBQUFBQUFBQUFBQUFBQQ$hmmTNyJlwbb6HAvFoHFWF+u03fdb0F2qA+39oPlcAqo"; got != want {
		t.Errorf("argon2id = %s, want %s", got, want)
	}
	if got, want := sha512Crypt("Hello world!", "saltstringsaltst", 10000, true), "$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v."; got != want {
		t.Errorf("sha512_crypt = %s, want %s", got, want)
	}
}

// bcrypt writes $2y$, the label PHP's password_get_info knows.
func TestBcryptWritesTwoY(t *testing.T) {
	for format, prefix := range map[string]string{"bcrypt": "$2y$04$", "php": "$2y$04$", "laravel": "$2y$04$", "wordpress": "$2y$04$",
		"wordpress68": "$wp$2y$04$", "spring": "{bcrypt}$2a$04$", "django_bcrypt_sha256": "bcrypt_sha256$$2b$04$"} {
		h, _ := New(format, 4)
		enc, err := h.Hash("password")
		if err != nil || !strings.HasPrefix(enc, prefix) {
			t.Errorf("%s: %q, %v; want prefix %q", format, enc, err, prefix)
		}
	}
	h, _ := New("bcrypt", 0)
	if MaxPasswordBytes(h) != 72 {
		t.Error("bcrypt: MaxPasswordBytes != 72")
	}
	h, _ = New("wordpress68", 0)
	if MaxPasswordBytes(h) != 0 {
		t.Error("wordpress68 pre-hashes: no 72-byte limit")
	}
}

// Planted hashes that ask for absurd work are refused before any work.
func TestVerifyRefusesCostlyPlantedHashes(t *testing.T) {
	for format, enc := range map[string]string{
		"argon2id":      "$argon2id$v=19$m=4194304,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"scrypt":        "$scrypt$ln=30,r=8,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaA",
		"django_scrypt": "scrypt$1073741824$salt$8$1$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaA==",
		"sha512_crypt":  "$6$rounds=999999999$salt$x",
		"wordpress":     "$P$Zsaltsaltxxxxxxxxxxxxxxxxxxxxxx",
		"gitea":         "00",
	} {
		if Verify(format, enc, map[string]string{"salt": "aaaaaaaaaa", "algo": "pbkdf2$999999999$50"}, "x") {
			t.Errorf("%s matched", format)
		}
	}
}

// Malformed stored values are a mismatch for every format, never a panic:
// Verify reads whatever a database row holds.
func FuzzVerify(f *testing.F) {
	for _, s := range []string{"", "$", "$2y$", "$wp", "$wp$2y$04$x", "$P$", "$P$B12345678", "$6$", "$6$rounds=$", "$6$rounds=1000",
		":pbkdf2:sha512:1:0::", ":pbkdf2:md5:1:16:AA==:AA==", ":B:", "argon2$", "argon2$argon2id$v=19$m=0,t=0,p=0$$",
		"bcrypt_sha256$", "scrypt$2$s$1$1$", "scrypt$x$s$8$1$AA==", "{bcrypt}", "{argon2}$argon2id$", "AQ==", "AQAAAAIAAAAB/////w==",
		"AQAAAAIAAAABAAAAEA==", "pbkdf2_sha256$1$s$", "ab", strings.Repeat("a", 40)} {
		f.Add(s, "salt", "pbkdf2$1$1")
	}
	f.Fuzz(func(t *testing.T, encoded, salt, algo string) {
		for _, name := range Formats() {
			if Verify(name, encoded, map[string]string{"salt": salt, "algo": algo}, "password") && name != "none" && name != "wordpress" && name != "wordpress68" {
				// Only none (plain text) and WordPress's MD5 rows can match
				// without a real hash; a random input matching is a bug.
				t.Errorf("%s: %q matched", name, encoded)
			}
		}
	})
}
