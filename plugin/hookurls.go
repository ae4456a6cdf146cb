package plugin

import (
	"fmt"

	"github.com/resetgate/resetgate/plugin/hookreq"
)

// checkHookURLs refuses a hook URL with {password_reset.*} placeholders in
// its path when the hook has no request template: only a template fills
// them (the default JSON contract sends the URL as written).
func checkHookURLs(cfg Config) error {
	for _, h := range []struct {
		name string
		hook Hook
	}{{"lookup", cfg.Lookup}, {"update", cfg.Update}, {"verify", cfg.Verify}, {"session", cfg.Session}, {"deliver", cfg.Deliver}} {
		if !hookreq.HasURLPlaceholders(h.hook.URL) {
			continue
		}
		if h.hook.Template == nil {
			return fmt.Errorf("%s: placeholders in the hook URL need a request template (method, body…)", h.name)
		}
		if err := hookreq.ValidateURL(h.hook.URL); err != nil {
			return fmt.Errorf("%s: %w", h.name, err)
		}
	}
	return nil
}
