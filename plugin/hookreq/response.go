// Reading the hook's answer: its status (OK) and its JSON body (Map).

package hookreq

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/resetgate/resetgate/plugin/webhook"
)

// OK reports whether the answer's status means success: one of OKStatus,
// or any 2xx when OKStatus is empty.
func (t *Template) OK(resp *webhook.Response) bool {
	if resp == nil {
		return false
	}
	if len(t.OKStatus) == 0 {
		return resp.OK()
	}
	return slices.Contains(t.OKStatus, resp.Status)
}

// Map reads a JSON answer: every top-level string, number or bool under its
// own name, then each Response mapping (our field → dotted path; a numeric
// segment indexes an array). Numbers keep their digits ("42", not "42.0"),
// bools become "true"/"false"; a missing or null field is absent. A body
// that is not a JSON object is an error; the error never quotes the answer.
func (t *Template) Map(resp *webhook.Response) (map[string]string, error) {
	if resp == nil {
		return nil, errors.New("hookreq: no answer")
	}
	dec := json.NewDecoder(bytes.NewReader(resp.Body))
	dec.UseNumber()
	var root any
	if err := dec.Decode(&root); err != nil {
		return nil, errors.New("hookreq: the answer is not JSON")
	}
	// Only white space may follow the value. (dec.Token would say so too,
	// but it refills the decoder's buffer into a new, larger one: a
	// kilobyte per lookup.)
	if len(bytes.TrimLeft(resp.Body[dec.InputOffset():], " \t\r\n")) != 0 {
		return nil, errors.New("hookreq: the answer is not JSON (data after the value)")
	}
	obj, ok := root.(map[string]any)
	if !ok {
		return nil, errors.New("hookreq: the answer is not a JSON object")
	}
	out := make(map[string]string, len(obj))
	for k, v := range obj {
		if s, ok := scalar(v); ok {
			out[k] = s
		}
	}
	for _, name := range sortedKeys(t.Response) {
		path := t.Response[name]
		delete(out, name)
		v, found := lookup(root, path)
		if !found || v == nil {
			continue
		}
		s, ok := scalar(v)
		if !ok {
			return nil, fmt.Errorf("hookreq: response field %q: path %q holds an object or an array, not a value", name, path)
		}
		out[name] = s
	}
	return out, nil
}

func lookup(root any, path string) (any, bool) {
	cur := root
	for _, p := range strings.Split(path, ".") {
		switch c := cur.(type) {
		case map[string]any:
			v, ok := c[p]
			if !ok {
				return nil, false
			}
			cur = v
		case []any:
			i, err := strconv.Atoi(p)
			if err != nil || i < 0 || i >= len(c) {
				return nil, false
			}
			cur = c[i]
		default:
			return nil, false
		}
	}
	return cur, true
}

func scalar(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case json.Number:
		return x.String(), true
	case bool:
		return strconv.FormatBool(x), true
	}
	return "", false
}
