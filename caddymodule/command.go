package caddymodule

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/resetgate/resetgate/plugin"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "password-reset",
		Usage: "<issue|revoke|status|hash-token|preview> [args]",
		Short: "Operates resetgate's password reset in a running Caddy",
		Long: `
Operates the password_reset handler of a running Caddy through its admin
endpoint (default ` + caddy.DefaultAdminListen + `; use --address, or --config to read it
from a config file). hash-token works offline.

  issue <user-id> [--code]   print a reset link (or a code for a support
                             agent to read over the phone, with the link
                             that opens its form)
  revoke <user-id>           end every open reset token and flow of a user
  status                     store, outbox, open tokens, hook and SMTP health
  hash-token                 read an admin token on stdin, print the
                             sha256:<hex> line for admin_token
  preview <page|mail> <name> render a page or mail with sample data

Use --site <base_url> when several sites run password_reset.`,
		CobraFunc: func(cmd *cobra.Command) {
			cmd.PersistentFlags().String("address", "", "Address of Caddy's admin endpoint (if --config is not used)")
			cmd.PersistentFlags().StringP("config", "c", "", "Configuration file to read the admin address from (if --address is not used)")
			cmd.PersistentFlags().StringP("adapter", "a", "", "Name of the config adapter (if --config is used)")
			cmd.PersistentFlags().String("site", "", "base_url of the site, when several sites run password_reset")
			cmd.AddCommand(issueCommand(), revokeCommand(), statusCommand(), hashTokenCommand(), previewCommand())
		},
	})
}

func issueCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "issue <user-id>",
		Short: "Print a reset link for a user (or, with --code, a code to read over the phone)",
		Long: `Issues a reset for a user as the admin API does (the role allow-list applies)
and prints the link to stdout. Mail is not sent: give the link to the user.

With --code, a new flow is opened and its 8-digit code printed with the link
that opens the code form: send the link (worthless alone) and read the code
aloud. Wrong codes count as usual.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			action := "reset-token"
			code, _ := cmd.Flags().GetBool("code")
			if code {
				action = "reset-code"
			}
			body, err := adminCall(cmd, http.MethodPost, "/password-reset/users/"+url.PathEscape(args[0])+"/"+action, nil)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if code {
				var res plugin.IssuedCode
				if err := json.Unmarshal(body, &res); err != nil {
					return fmt.Errorf("reading the answer: %w", err)
				}
				fmt.Fprintf(out, "Code:    %s\nLink:    %s\nExpires: %s\n", res.Code, res.URL, res.ExpiresAt)
				return nil
			}
			var res plugin.IssuedToken
			if err := json.Unmarshal(body, &res); err != nil {
				return fmt.Errorf("reading the answer: %w", err)
			}
			fmt.Fprintf(out, "%s\nExpires: %s\n", res.URL, res.ExpiresAt)
			return nil
		},
	}
	c.Flags().Bool("code", false, "print a code bound to a new flow instead of a link")
	return c
}

func revokeCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "revoke <user-id>",
		Short: "End every open reset token and flow of a user",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := adminCall(cmd, http.MethodDelete, "/password-reset/users/"+url.PathEscape(args[0])+"/reset-tokens", nil); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), "revoked")
			return nil
		},
	}
}

func statusCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "status",
		Short: "Show the store, outbox, open tokens and the health of each configured part",
		Long: `Runs the self-test again (store, SMTP greeting and AUTH, a lookup of a
reserved identifier that must answer "not found") and prints it with the
outbox length and the open tokens and flows. Exits 1 when a part fails.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			body, err := adminCall(cmd, http.MethodGet, "/password-reset/status", nil)
			if err != nil {
				return err
			}
			if asJSON, _ := cmd.Flags().GetBool("json"); asJSON {
				_, err := cmd.OutOrStdout().Write(body)
				return err
			}
			var sites []plugin.Status
			if err := json.Unmarshal(body, &sites); err != nil {
				return fmt.Errorf("reading the answer: %w", err)
			}
			healthy := printStatus(cmd.OutOrStdout(), sites)
			if !healthy {
				cmd.SilenceUsage = true
				return errors.New("some parts failed their self-test")
			}
			return nil
		},
	}
	c.Flags().Bool("json", false, "print the raw JSON")
	return c
}

// printStatus writes a human summary and reports whether all is well.
func printStatus(w io.Writer, sites []plugin.Status) bool {
	healthy := true
	count := func(n int) string {
		if n < 0 {
			return "n/a"
		}
		return fmt.Sprint(n)
	}
	for _, s := range sites {
		fmt.Fprintf(w, "%s\n  outbox pending: %d\n  open tokens:    %s\n  open flows:     %s\n", s.Site, s.OutboxPending, count(s.OpenTokens), count(s.OpenFlows))
		for _, p := range s.Parts {
			state := "ok"
			if !p.OK {
				state, healthy = "FAILED: "+p.Detail, false
			}
			fmt.Fprintf(w, "  %-8s %s\n", p.Part, state)
		}
	}
	return healthy
}

func hashTokenCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "hash-token",
		Short: "Read an admin token on stdin and print its sha256: line for admin_token",
		Long: `Reads one admin token from standard input (its first line; surrounding
whitespace is dropped) and prints sha256:<hex>, the form admin_token takes,
so the token itself never appears in the Caddyfile:

  head -c 32 /dev/urandom | base64 | tee token.txt | caddy password-reset hash-token`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			line, err := bufio.NewReader(io.LimitReader(cmd.InOrStdin(), 4096)).ReadString('\n')
			if err != nil && !errors.Is(err, io.EOF) {
				return fmt.Errorf("reading the token: %w", err)
			}
			token := strings.TrimSpace(line)
			if len(token) < 16 {
				return errors.New("the token must be at least 16 characters")
			}
			sum := sha256.Sum256([]byte(token))
			fmt.Fprintf(cmd.OutOrStdout(), "sha256:%s\n", hex.EncodeToString(sum[:]))
			return nil
		},
	}
}

func previewCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "preview <page|mail> <name>",
		Short: "Render a page or mail with sample data, from the configured templates and theme",
		Long: `Renders with the running configuration's templates, theme and translations.
Pages: ` + strings.Join(plugin.PreviewPages, ", ") + `
Mails: ` + strings.Join(plugin.PreviewMails, ", ") + ` (--part html, text or subject)`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			q := url.Values{}
			if lang, _ := cmd.Flags().GetString("lang"); lang != "" {
				q.Set("lang", lang)
			}
			if part, _ := cmd.Flags().GetString("part"); part != "" {
				q.Set("part", part)
			}
			body, err := adminCall(cmd, http.MethodGet, "/password-reset/preview/"+url.PathEscape(args[0])+"/"+url.PathEscape(args[1]), q)
			if err != nil {
				return err
			}
			if out, _ := cmd.Flags().GetString("output"); out != "" {
				return os.WriteFile(out, body, 0o644)
			}
			_, err = cmd.OutOrStdout().Write(body)
			return err
		},
	}
	c.Flags().String("lang", "", "language (en, de, fr, es); default: the site's default")
	c.Flags().String("part", "", "for mail: html (default), text or subject")
	c.Flags().StringP("output", "o", "", "write to this file instead of stdout")
	return c
}

// adminCall sends one request to Caddy's admin endpoint and returns the
// body of a 2xx answer; any other answer becomes an error with Caddy's
// message.
func adminCall(cmd *cobra.Command, method, path string, q url.Values) ([]byte, error) {
	flags := cmd.Flags()
	addr, _ := flags.GetString("address")
	cfgFile, _ := flags.GetString("config")
	adapter, _ := flags.GetString("adapter")
	adminAddr, err := caddycmd.DetermineAdminAPIAddress(addr, nil, cfgFile, adapter)
	if err != nil {
		return nil, fmt.Errorf("finding the admin endpoint: %w", err)
	}
	if q == nil {
		q = url.Values{}
	}
	if site, _ := flags.GetString("site"); site != "" {
		q.Set("site", site)
	}
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	resp, err := caddycmd.AdminAPIRequest(adminAddr, method, path, nil, nil)
	if err != nil {
		// AdminAPIRequest turns a non-2xx answer into an error carrying
		// Caddy's message.
		cmd.SilenceUsage = true
		return nil, err
	}
	defer resp.Body.Close()
	return io.ReadAll(io.LimitReader(resp.Body, 8<<20))
}
