// Package faultnet puts a Toxiproxy (github.com/Shopify/toxiproxy/v2, run
// in the test process) between a client and a real server on loopback, so
// that tests can add latency, a bandwidth limit, connections reset in the
// middle of an answer, or a peer that never answers, and take the fault
// away again.
//
//	p := faultnet.Start(t, "redis", srv.Addr())
//	st := open(p.Addr())
//	p.Add(t, "slow", faultnet.Latency(500*time.Millisecond))
//	…
//	p.Remove(t, "slow")
package faultnet

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// Proxy is one TCP proxy with faults.
type Proxy struct {
	p *toxiproxy.Proxy
}

// server is shared by every proxy of a test binary: Toxiproxy keeps its
// proxies in the server's collection.
var (
	serverOnce sync.Once
	server     *toxiproxy.ApiServer
)

// Start proxies a free loopback port to upstream (host:port) until the
// test ends.
func Start(t testing.TB, name, upstream string) *Proxy {
	t.Helper()
	serverOnce.Do(func() {
		// Toxiproxy's toxics log through zerolog's global logger, at
		// trace level; keep test output to the test's own lines.
		zerolog.SetGlobalLevel(zerolog.WarnLevel)
		server = toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())
	})
	p := toxiproxy.NewProxy(server, name+"-"+strings.ReplaceAll(t.Name(), "/", "-"), "127.0.0.1:0", upstream)
	if err := p.Start(); err != nil {
		t.Fatalf("faultnet: starting the proxy to %s: %v", upstream, err)
	}
	t.Cleanup(p.Stop)
	return &Proxy{p: p}
}

// Addr is the proxy's address, host:port.
func (p *Proxy) Addr() string { return p.p.Listen }

// Toxic is a fault: a Toxiproxy toxic's type, direction and attributes.
type Toxic struct {
	Type       string         `json:"type"`
	Stream     string         `json:"stream"`
	Attributes map[string]any `json:"attributes"`
}

// Latency delays the server's answers by d.
func Latency(d time.Duration) Toxic {
	return Toxic{Type: "latency", Stream: "downstream", Attributes: map[string]any{"latency": d.Milliseconds()}}
}

// Bandwidth limits the server's answers to kbPerSec KB/s.
func Bandwidth(kbPerSec int) Toxic {
	return Toxic{Type: "bandwidth", Stream: "downstream", Attributes: map[string]any{"rate": kbPerSec}}
}

// CutAfter lets n bytes of the server's answers through, then closes the
// connection: an answer cut in the middle.
func CutAfter(n int) Toxic {
	return Toxic{Type: "limit_data", Stream: "downstream", Attributes: map[string]any{"bytes": n}}
}

// Reset resets every connection (TCP RST) as soon as data flows.
func Reset() Toxic {
	return Toxic{Type: "reset_peer", Stream: "upstream", Attributes: map[string]any{"timeout": 0}}
}

// BlackHole lets nothing through and never closes: a peer that never
// answers.
func BlackHole() Toxic {
	return Toxic{Type: "timeout", Stream: "upstream", Attributes: map[string]any{"timeout": 0}}
}

// Add adds the toxic under name.
func (p *Proxy) Add(t testing.TB, name string, x Toxic) {
	t.Helper()
	body := map[string]any{"name": name, "type": x.Type, "stream": x.Stream, "toxicity": 1.0, "attributes": x.Attributes}
	data, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.p.Toxics.AddToxicJson(strings.NewReader(string(data))); err != nil {
		t.Fatalf("faultnet: adding %s (%s): %v", name, x.Type, err)
	}
}

// Remove takes the toxic away.
func (p *Proxy) Remove(t testing.TB, name string) {
	t.Helper()
	if err := p.p.Toxics.RemoveToxic(context.Background(), name); err != nil {
		t.Fatalf("faultnet: removing %s: %v", name, err)
	}
}
