package plugin

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// readJSONBody returns the body as sent, whether its length is declared
// (the fast path: one read of that length) or not (chunked: read up to the
// limit); a body that ends before or goes on after its declared length,
// or that is over the limit, is a 400.
func TestReadJSONBody(t *testing.T) {
	const body = `{"identifier":"a@b.test"}`
	cases := []struct {
		name     string
		reader   io.Reader
		declared int64 // -1: unknown (chunked)
		want     string
		wantErr  string
	}{
		{"declared", strings.NewReader(body), int64(len(body)), body, ""},
		{"chunked", io.MultiReader(strings.NewReader(body)), -1, body, ""},
		{"ends early", strings.NewReader(body), int64(len(body)) + 5, "", "body could not be read"},
		{"goes on", strings.NewReader(body), int64(len(body)) - 1, "", "body could not be read"},
		{"declared over the limit", bytes.NewReader(make([]byte, maxBody+1)), maxBody + 1, "", "body larger than"},
		{"chunked over the limit", io.MultiReader(bytes.NewReader(make([]byte, maxBody+1))), -1, "", "body larger than"},
		{"declared at the limit", bytes.NewReader(bytes.Repeat([]byte("a"), maxBody)), maxBody, strings.Repeat("a", maxBody), ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/password-reset/request", c.reader)
			r.ContentLength = c.declared
			r.Header.Set("Content-Type", "application/json")
			got, apiErr := readJSONBody(httptest.NewRecorder(), r)
			switch {
			case c.wantErr == "" && apiErr != nil:
				t.Fatalf("error %q, want the body", apiErr.items[0].Detail)
			case c.wantErr != "" && apiErr == nil:
				t.Fatalf("body %.40q, want an error %q", got, c.wantErr)
			case c.wantErr != "":
				if apiErr.status != http.StatusBadRequest || !strings.Contains(apiErr.items[0].Detail, c.wantErr) {
					t.Fatalf("error %d %q, want 400 %q", apiErr.status, apiErr.items[0].Detail, c.wantErr)
				}
			case string(got) != c.want:
				t.Fatalf("body %.40q, want %.40q", got, c.want)
			}
		})
	}
}
