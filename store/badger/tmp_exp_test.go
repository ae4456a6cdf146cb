package badger

import (
	"fmt"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

func BenchmarkExp(b *testing.B) {
	par, _ := strconv.Atoi(os.Getenv("PAR"))
	if par == 0 {
		par = 1
	}
	value := make([]byte, 96)
	s := openTest(b, Options{})
	for i := range b.N {
		if err := s.Put(b.Context(), fmt.Sprintf("%032x", i), value, time.Hour, ""); err != nil {
			b.Fatal(err)
		}
	}
	var n atomic.Int64
	b.SetParallelism(par)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.Consume(b.Context(), fmt.Sprintf("%032x", n.Add(1)-1)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "consumes/s")
}
