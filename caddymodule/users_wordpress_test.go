package caddymodule_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/resetgate/resetgate/internal/testenv"
	"github.com/resetgate/resetgate/internal/testsrv"
)

// wpLogin runs Debian's WordPress password code (wp-includes/pluggable.php)
// in php-cli: "hash" is wp_hash_password, "check" is what wp_authenticate
// does with a typed password (trim, then wp_check_password).
const wpLogin = `
define('ABSPATH', '/usr/share/wordpress/');
define('WPINC', 'wp-includes');
function apply_filters($tag, $value) { return $value; }
require ABSPATH . WPINC . '/pluggable.php';
$in = json_decode(stream_get_contents(STDIN), true);
if ($in['op'] === 'hash') { echo json_encode(wp_hash_password($in['password'])); exit; }
echo json_encode(wp_check_password(trim($in['password']), $in['hash']));
`

func wordpress(t *testing.T, in map[string]string, out any) {
	t.Helper()
	if _, err := os.Stat("/usr/share/wordpress/wp-includes/pluggable.php"); err != nil {
		t.Fatalf("WordPress is not installed: run scripts/test, or apt-get install -y wordpress php-cli")
	}
	body, _ := json.Marshal(in)
	cmd := exec.Command("php", "-d", "display_errors=stderr", "-r", wpLogin)
	cmd.Stdin = bytes.NewReader(body)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	data, err := cmd.Output()
	if err != nil {
		t.Fatalf("php: %v\n%s", err, stderr.String())
	}
	if err := json.Unmarshal(data, out); err != nil {
		t.Fatalf("php answered %q: %v\n%s", data, err, stderr.String())
	}
}

// TestUsersSQLWordPressOnMariaDB resets a WordPress account whose site has
// no reset endpoint resetgate could call: its wp_users table, in a real
// MariaDB, with WordPress's own schema and a resetgate login holding only
// the README's grants. The block is the README's. WordPress's own
// wp_check_password (Debian's WordPress) then accepts the new password and
// refuses the old; the user's session_tokens are gone and its other
// metadata kept. SAME_AS_OLD reads WordPress's own phpass hash.
func TestUsersSQLWordPressOnMariaDB(t *testing.T) {
	const email, oldPW = "editor@example.test", "my old phpass pass phrase"
	var oldHash string
	wordpress(t, map[string]string{"op": "hash", "password": oldPW}, &oldHash)
	if !strings.HasPrefix(oldHash, "$P$") {
		t.Fatalf("WordPress 6.1 wrote %.4s…, want a phpass $P$ hash", oldHash)
	}

	srv := testsrv.MariaDB(t)
	rgPass := testsrv.Secret()
	srv.Exec(
		`CREATE TABLE wp_users (
	ID bigint(20) unsigned NOT NULL auto_increment,
	user_login varchar(60) NOT NULL default '',
	user_pass varchar(255) NOT NULL default '',
	user_nicename varchar(50) NOT NULL default '',
	user_email varchar(100) NOT NULL default '',
	user_url varchar(100) NOT NULL default '',
	user_registered datetime NOT NULL default '0000-00-00 00:00:00',
	user_activation_key varchar(255) NOT NULL default '',
	user_status int(11) NOT NULL default '0',
	display_name varchar(250) NOT NULL default '',
	PRIMARY KEY  (ID),
	KEY user_login_key (user_login),
	KEY user_nicename (user_nicename),
	KEY user_email (user_email)
) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_520_ci`,
		`CREATE TABLE wp_usermeta (
	umeta_id bigint(20) unsigned NOT NULL auto_increment,
	user_id bigint(20) unsigned NOT NULL default '0',
	meta_key varchar(255) default NULL,
	meta_value longtext,
	PRIMARY KEY  (umeta_id),
	KEY user_id (user_id),
	KEY meta_key (meta_key(191))
) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_520_ci`,
		`INSERT INTO wp_users (user_login, user_pass, user_nicename, user_email, user_registered, user_activation_key, display_name)
			VALUES ('editor', '`+oldHash+`', 'editor', '`+email+`', NOW(), '1700000000:$P$Bpendingresetkey', 'The Editor'),
			       ('other', '$P$Bnotouchnotouchnotouchnotouc', 'other', 'other@example.test', NOW(), '', 'Other')`,
		`INSERT INTO wp_usermeta (user_id, meta_key, meta_value) VALUES
			(1, 'session_tokens', 'a:1:{s:64:"x";a:0:{}}'), (1, 'nickname', 'editor'), (2, 'session_tokens', 'a:0:{}')`,
		// The README's least privileges.
		`CREATE USER 'resetgate'@'%' IDENTIFIED BY '`+rgPass+`'`,
		`GRANT SELECT (ID, user_email, user_login, display_name, user_pass), UPDATE (user_pass, user_activation_key) ON app.wp_users TO 'resetgate'@'%'`,
		`GRANT SELECT (user_id, meta_key), DELETE ON app.wp_usermeta TO 'resetgate'@'%'`,
	)
	dsn := "resetgate:" + rgPass + "@tcp(" + srv.Host + ":" + itoa(srv.Port) + ")/app"
	t.Setenv("RG_TEST_WP_DSN", dsn)

	env := testenv.New(t, testenv.Options{NoStart: true})
	logPath := filepath.Join(t.TempDir(), "caddy.log")
	cf := env.Caddyfile("")
	cf = cfReplace(t, cf, "{\n\tadmin off", "{\n\tlog {\n\t\toutput file "+logPath+"\n\t\tlevel DEBUG\n\t}\n\tadmin off")
	hooks := "\t\tlookup " + env.AppURL + "/internal/users/lookup\n\t\tupdate " + env.AppURL + "/internal/users/password {\n\t\t\tsecret " + env.Secret + "\n\t\t}\n"
	cf = cfReplace(t, cf, hooks, `		users sql mysql {env.RG_TEST_WP_DSN} {
			lookup "SELECT ID AS id, user_email AS email, display_name AS name FROM wp_users WHERE user_email = {identifier} OR user_login = {identifier} OR CAST(ID AS CHAR) = {identifier}"
			verify "SELECT user_pass FROM wp_users WHERE ID = {user_id}"
			update "UPDATE wp_users SET user_pass = {hash}, user_activation_key = '' WHERE ID = {user_id}"
			update any "DELETE FROM wp_usermeta WHERE user_id = {user_id} AND meta_key = 'session_tokens'"
			hash wordpress 4
		}
`)
	env.Load(cf)

	env.Mail.Clear()
	requestReset(t, env, "editor")
	_, token := testenv.ResetLink(t, env.WaitMail(email, "reset"))
	wantAPI(t, "complete with the current (phpass) password", postComplete(env, token, oldPW), http.StatusUnprocessableEntity, "PASSWORD_POLICY_VIOLATED/SAME_AS_OLD")
	newPW := "a new WordPress pässword 2026"
	wantAPI(t, "complete", postComplete(env, token, newPW), http.StatusOK, "")

	db := srv.DB()
	var stored, key string
	if err := db.QueryRow("SELECT user_pass, user_activation_key FROM wp_users WHERE ID = 1").Scan(&stored, &key); err != nil {
		t.Fatal(err)
	}
	var ok, oldOK bool
	wordpress(t, map[string]string{"op": "check", "password": newPW, "hash": stored}, &ok)
	wordpress(t, map[string]string{"op": "check", "password": oldPW, "hash": stored}, &oldOK)
	if !ok || oldOK || !strings.HasPrefix(stored, "$2y$") || key != "" {
		t.Fatalf("WordPress's login: new password %v, old password %v; stored %.4s…, activation key %q", ok, oldOK, stored, key)
	}
	var metas []string
	rows, err := db.Query("SELECT CONCAT(user_id, ':', meta_key) FROM wp_usermeta ORDER BY umeta_id")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var m string
		rows.Scan(&m)
		metas = append(metas, m)
	}
	rows.Close()
	if strings.Join(metas, ",") != "1:nickname,2:session_tokens" {
		t.Fatalf("wp_usermeta after the reset: %v, want the editor's sessions gone and the rest kept", metas)
	}
	var other string
	db.QueryRow("SELECT user_pass FROM wp_users WHERE ID = 2").Scan(&other)
	if other != "$P$Bnotouchnotouchnotouchnotouc" {
		t.Fatal("another user's password changed")
	}
	data, _ := os.ReadFile(logPath)
	for _, s := range []string{dsn, rgPass, newPW} {
		if strings.Contains(string(data), s) {
			t.Errorf("a secret appears in Caddy's log")
		}
	}
}
