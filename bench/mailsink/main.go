// Command mailsink is the benchmark's SMTP server: internal/mailbox on
// loopback, keeping only the last few messages. It prints the number of
// messages received when it gets SIGTERM or SIGINT.
//
//	mailsink -addr 127.0.0.1:0 -addr-file /tmp/smtp.addr
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"

	"github.com/resetgate/resetgate/internal/mailbox"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	addrFile := flag.String("addr-file", "", "write the address actually listened on to this file")
	flag.Parse()

	var received atomic.Int64
	srv, err := mailbox.Start(mailbox.Options{
		Addr:        *addr,
		MaxMessages: 16,
		OnMessage:   func(mailbox.Mail) { received.Add(1) },
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if *addrFile != "" {
		if err := os.WriteFile(*addrFile, []byte(srv.Addr()+"\n"), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	fmt.Printf("mailsink listening on %s\n", srv.Addr())

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	_ = srv.Close()
	fmt.Printf("mailsink received %d messages\n", received.Load())
}
