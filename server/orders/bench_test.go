package orders

import (
	"context"
	"testing"
	"time"

	"github.com/keymanager-io/keymanager/internal/testbed"
	"github.com/keymanager-io/keymanager/server/store"
)

// BenchmarkPoolThroughput measures how many orders a pool with the default number of workers completes per
// second: b.N PENDING orders are committed first, then the pool is started and timed until none is pending.
func BenchmarkPoolThroughput(b *testing.B) {
	for _, c := range []struct{ name, orderType, meta string }{
		{"key", store.OrderKey, aesMeta},
		{"rsa-2048", store.OrderAsymmetric, `{"algorithm": "rsa", "bit_length": 2048}`},
	} {
		b.Run(c.name+"/sqlite", func(b *testing.B) { benchmarkThroughput(b, sqliteURL(b), c.orderType, c.meta) })
		b.Run(c.name+"/mariadb", func(b *testing.B) {
			benchmarkThroughput(b, testbed.NewMySQLDatabase(b), c.orderType, c.meta)
		})
	}
}

func benchmarkThroughput(b *testing.B, url, orderType, meta string) {
	bench := newBench(b, url)
	for range b.N {
		bench.order("throughput", orderType, meta)
	}
	p, err := New(bench.db, bench.secrets, Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	start := time.Now()
	p.Start()
	for {
		n, err := bench.db.Read(context.Background()).PendingOrders()
		if err != nil {
			b.Fatal(err)
		}
		if n == 0 {
			break
		}
		time.Sleep(2 * time.Millisecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	if err := p.Stop(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "orders/s")
}
