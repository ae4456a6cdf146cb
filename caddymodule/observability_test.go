package caddymodule

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// exportedMetrics lists every series name the module exports, read from
// the collectors' own descriptions (histograms add _bucket, _sum, _count).
func exportedMetrics(t *testing.T) map[string]bool {
	t.Helper()
	reg := prometheus.NewRegistry()
	m := newMetrics(reg, zap.NewNop())
	histograms := map[string]bool{}
	for _, c := range []prometheus.Collector{m.upstream, m.mail} {
		for _, name := range descNames(c) {
			histograms[name] = true
		}
	}
	names := map[string]bool{}
	for _, c := range []prometheus.Collector{m.events, m.upstream, m.mail, m.selftest, storeCollector{}} {
		for _, name := range descNames(c) {
			names[name] = true
			if histograms[name] {
				names[name+"_bucket"], names[name+"_sum"], names[name+"_count"] = true, true, true
			}
		}
	}
	if len(names) < 5 {
		t.Fatalf("found only %d metric names: %v", len(names), names)
	}
	return names
}

var fqNameRE = regexp.MustCompile(`fqName: "([a-z_:]+)"`)

func descNames(c prometheus.Collector) []string {
	ch := make(chan *prometheus.Desc, 16)
	c.Describe(ch)
	close(ch)
	var out []string
	for d := range ch {
		if m := fqNameRE.FindStringSubmatch(d.String()); m != nil {
			out = append(out, m[1])
		}
	}
	return out
}

// auditEvents lists the event names the engine counts: every literal
// event of an audit call, and the two names of a finished password change.
func auditEvents(t *testing.T) map[string]bool {
	t.Helper()
	files, err := filepath.Glob("../plugin/*.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("reading the engine's sources: %v", err)
	}
	re := regexp.MustCompile(`audit\([^,]+, "(?:[^"\\]|\\.)*", "([a-z_]+)"`)
	events := map[string]bool{"reset": true, "changed": true}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range re.FindAllStringSubmatch(string(src), -1) {
			events[m[1]] = true
		}
	}
	return events
}

var (
	seriesRE = regexp.MustCompile(`\bcaddy_password_reset_[a-z_]+`)
	eventRE  = regexp.MustCompile(`event(=~?)"([^"]+)"`)
)

// checkQuery reports every metric or event a PromQL query names that the
// module does not export.
func checkQuery(t *testing.T, where, expr string, metrics, events map[string]bool) {
	t.Helper()
	found := seriesRE.FindAllString(expr, -1)
	if len(found) == 0 {
		t.Errorf("%s: the query names no caddy_password_reset_* metric: %s", where, expr)
	}
	for _, name := range found {
		if !metrics[name] {
			t.Errorf("%s: metric %s is not exported by the module (query: %s)", where, name, expr)
		}
	}
	for _, m := range eventRE.FindAllStringSubmatch(expr, -1) {
		vals := []string{m[2]}
		if m[1] == "=~" {
			vals = strings.Split(m[2], "|")
		}
		for _, v := range vals {
			if !events[v] {
				t.Errorf("%s: event %q is never counted by the engine (query: %s)", where, v, expr)
			}
		}
	}
}

// TestGrafanaDashboardQueriesExportedMetrics loads the dashboard JSON and
// checks that every query names only metrics (and event labels) that the
// module exports, so the dashboard cannot silently show empty panels.
func TestGrafanaDashboardQueriesExportedMetrics(t *testing.T) {
	metrics, events := exportedMetrics(t), auditEvents(t)
	raw, err := os.ReadFile("../examples/observability/dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title  string `json:"title"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Definition string `json:"definition"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("dashboard.json is not valid JSON: %v", err)
	}
	if dash.Title == "" || len(dash.Panels) < 8 {
		t.Fatalf("dashboard has title %q and %d panels", dash.Title, len(dash.Panels))
	}
	used := map[string]bool{}
	for _, p := range dash.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			checkQuery(t, "panel "+p.Title, tg.Expr, metrics, events)
			for _, n := range seriesRE.FindAllString(tg.Expr, -1) {
				used[strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(n, "_bucket"), "_count"), "_sum")] = true
			}
		}
	}
	for _, v := range dash.Templating.List {
		if v.Definition != "" {
			checkQuery(t, "variable", v.Definition, metrics, events)
		}
	}
	// Every metric family the module exports has a panel.
	var missing []string
	for name := range metrics {
		if !strings.HasSuffix(name, "_bucket") && !strings.HasSuffix(name, "_sum") && !strings.HasSuffix(name, "_count") && !used[name] {
			missing = append(missing, name)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("no panel shows %v", missing)
	}
}

// TestAlertRulesQueryExportedMetrics checks the alerting rules with
// Prometheus' own promtool and that each rule names exported metrics.
func TestAlertRulesQueryExportedMetrics(t *testing.T) {
	metrics, events := exportedMetrics(t), auditEvents(t)
	const file = "../examples/observability/alerts.yml"
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatalf("promtool is not installed (Debian package prometheus; scripts/test installs it): %v", err)
	}
	if out, err := exec.Command(promtool, "check", "rules", file).CombinedOutput(); err != nil {
		t.Fatalf("promtool check rules %s: %v\n%s", file, err, out)
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	// promtool has parsed the YAML; the expressions are the "expr:" values,
	// one line or a block.
	exprs := regexp.MustCompile(`(?m)^\s+expr: (?:\|\n((?:\s{10,}.*\n)+)|(.*)\n)`).FindAllStringSubmatch(string(raw), -1)
	if len(exprs) < 4 {
		t.Fatalf("found %d rule expressions", len(exprs))
	}
	for i, m := range exprs {
		checkQuery(t, "rule "+string(rune('1'+i)), m[1]+m[2], metrics, events)
	}
}
