package orders

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics of the pool, labelled by order type and outcome only: bounded, and free of ids.
type metrics struct {
	processed  *prometheus.CounterVec
	duration   *prometheus.HistogramVec
	pending    prometheus.Gauge
	inProgress prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		processed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "keymanager_orders_processed_total",
			Help: "Orders processed by this server's workers, by type (key, asymmetric) and result (active, error).",
		}, []string{"type", "result"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "keymanager_order_processing_seconds",
			Help:    "Time from claiming an order to its result, by type.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"type"}),
		pending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "keymanager_orders_pending",
			Help: "PENDING orders in the database (the queue depth, all servers), as of the last poll.",
		}),
		inProgress: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "keymanager_orders_in_progress",
			Help: "Orders this server's workers are processing.",
		}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.processed, m.duration, m.pending, m.inProgress} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

func (m *metrics) done(orderType, result string, d time.Duration) {
	t := typeLabel(orderType)
	m.processed.WithLabelValues(t, result).Inc()
	m.duration.WithLabelValues(t).Observe(d.Seconds())
}
