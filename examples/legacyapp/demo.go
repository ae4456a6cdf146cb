package legacyapp

import "fmt"

// DemoAccount is one demo user's sign-in: the e-mail address and the
// password whose hash DemoUsers stores. They are published on purpose.
type DemoAccount struct {
	Email    string
	Password string
}

// DemoAccounts returns the documented demo sign-ins, in the order of
// DemoUsers:
//
//	alice@example.test  correct horse battery   role user,  locale en
//	bob@example.test    bob builds bridges      role admin, locale de
//	carol@example.test  croissants au beurre    role user,  locale fr
func DemoAccounts() []DemoAccount {
	return []DemoAccount{
		{Email: "alice@example.test", Password: "correct horse battery"},
		{Email: "bob@example.test", Password: "bob builds bridges"},
		{Email: "carol@example.test", Password: "croissants au beurre"},
	}
}

// DemoUsers returns the demo users with fresh bcrypt hashes (cost
// BcryptCost) of the passwords listed by DemoAccounts. The hashes are made
// on every call, so none is stored in the source.
func DemoUsers() []User {
	users := []User{
		{ID: "1001", Name: "Alice Archer", Role: "user", Locale: "en"},
		{ID: "1002", Name: "Bob Baumann", Role: "admin", Locale: "de"},
		{ID: "1003", Name: "Carol Chevalier", Role: "user", Locale: "fr"},
	}
	for i, acc := range DemoAccounts() {
		h, err := hashPassword(acc.Password, BcryptCost)
		if err != nil {
			// Only a broken crypto/rand gets here.
			panic(fmt.Sprintf("legacyapp: hashing demo password: %v", err))
		}
		users[i].Email = acc.Email
		users[i].PasswordHash = h
	}
	return users
}
