package api

import (
	"net/http"
	"testing"

	"github.com/keymanager-io/keymanager/internal/testbed"
)

// BenchmarkOrderCreate measures POST /v1/orders through the real handler and HTTP stack: validation and the one
// durable write of a PENDING order. No worker runs, so generation (BenchmarkPoolThroughput in server/orders)
// is not counted.
func BenchmarkOrderCreate(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) { benchmarkOrderCreate(b) })
	b.Run("mariadb", func(b *testing.B) { benchmarkOrderCreate(b, withDB(testbed.NewMySQLDatabase(b))) })
}

func benchmarkOrderCreate(b *testing.B, opts ...setupOption) {
	s := newSetup(b, append(opts, withRealClock(), withoutOrderWorkers())...)
	c := &benchClient{base: s.server.URL, http: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}},
		project: "bench"}
	body := []byte(`{"type": "key", "meta": {"name": "bench", "algorithm": "aes", "bit_length": 256, "mode": "cbc",
		"payload_content_type": "application/octet-stream"}}`)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if status, resp, err := c.do("POST", "/v1/orders", "", body); err != nil || status != http.StatusAccepted {
				b.Errorf("create: %d %v %s", status, err, resp)
				return
			}
		}
	})
}
