package plugin

import (
	"net/http/httptest"
	"reflect"
	"testing"
)

// resetgate's own cookies never reach a hook; the app's cookies arrive as
// the browser sent them, and a header holding only ours is dropped.
func TestHookCookieHeaderStripsOwnCookies(t *testing.T) {
	r := httptest.NewRequest("GET", "/password-reset/change", nil)
	r.Header.Add("Cookie", "rg_token=T; app_session=abc; rg_revoke=R;theme=dark")
	r.Header.Add("Cookie", "rg_csrf=C; rg_flow=F; rg_reauth=G")
	r.Header.Add("Cookie", " rg_tokens=kept ;rg_token")
	got := hookCookieHeader(r)
	want := []string{"app_session=abc; theme=dark", "rg_tokens=kept"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}
