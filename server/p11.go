package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/keymanager-io/keymanager/hsm"
	"github.com/keymanager-io/keymanager/server/config"
	"github.com/keymanager-io/keymanager/server/crypto/p11crypto"
	"github.com/keymanager-io/keymanager/server/store"
)

// OpenHSM opens the configured PKCS#11 token with observe as the latency hook (nil for none).
func OpenHSM(ctx context.Context, p config.P11, observe func(string, time.Duration, error)) (*hsm.Module, error) {
	mc, err := p.Module()
	if err != nil {
		return nil, fmt.Errorf("PKCS#11: %w", err)
	}
	mc.Observe = observe
	m, err := hsm.Open(ctx, mc)
	if err != nil {
		return nil, fmt.Errorf("opening the PKCS#11 token: %w", err)
	}
	return m, nil
}

// OpenP11Plugin opens the configured token and returns the p11_crypto plugin on it; closing the plugin's
// module is the caller's. The master keys are not checked.
func OpenP11Plugin(ctx context.Context, p config.P11, observe func(string, time.Duration, error)) (*p11crypto.Plugin, error) {
	settings, err := p.Settings()
	if err != nil {
		return nil, fmt.Errorf("PKCS#11: %w", err)
	}
	m, err := OpenHSM(ctx, p, observe)
	if err != nil {
		return nil, err
	}
	plugin, err := p11crypto.New(m, settings, p.PluginName)
	if err != nil {
		_ = m.Close()
		return nil, err
	}
	return plugin, nil
}

// newP11Plugin opens the token, checks that the configured master keys exist (new project KEKs go under them)
// and that every label pair recorded in the database's p11_crypto rows is on the token, and returns the plugin.
// A missing key would otherwise surface as a 500 on every write or on every old secret.
func newP11Plugin(ctx context.Context, cfg config.Config, db *store.DB, log *slog.Logger,
	observe func(string, time.Duration, error)) (*p11crypto.Plugin, error) {
	plugin, err := OpenP11Plugin(ctx, cfg.P11, observe)
	if err != nil {
		return nil, err
	}
	m, settings := plugin.Module(), plugin.Settings()
	if err := checkMasterKeys(ctx, cfg, m, settings, db); err != nil {
		_ = m.Close()
		return nil, err
	}
	log.Info("PKCS#11 token ready", slog.Uint64("slot", uint64(m.Slot())), slog.String("mkek_label", settings.MKEKLabel),
		slog.String("hmac_label", settings.HMACLabel), slog.Int("max_sessions", cfg.P11.MaxSessions))
	return plugin, nil
}

// checkMasterKeys finds the configured MKEK and HMAC key, and every MKEK and HMAC label the p11_crypto rows
// of the database record, on the token.
func checkMasterKeys(ctx context.Context, cfg config.Config, m *hsm.Module, s hsm.Settings, db *store.DB) error {
	hmacSpec, err := cfg.P11.HMACSpec()
	if err != nil {
		return err
	}
	var errs []error
	for _, k := range []hsm.MasterKeySpec{cfg.P11.MKEKSpec(), hmacSpec} {
		if err := m.FindKey(ctx, k); err != nil {
			errs = append(errs, fmt.Errorf("the configured key %q: %w", k.Label, err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w. New project KEKs are wrapped and signed with these keys: generate them with\n  "+
			"keymanager manage hsm ensure-keys --p11-library-path %s --p11-mkek-label %s --p11-hmac-label %s "+
			"--p11-hmac-key-type %s --p11-hmac-keygen-mechanism %s\nor configure the labels of the keys on the token. "+
			"Refusing to start", errors.Join(errs...), cfg.P11.LibraryPath, s.MKEKLabel, s.HMACLabel,
			cfg.P11.HMACKeyType, cfg.P11.HMACKeygenMechanism)
	}
	labels, err := recordedLabels(ctx, db)
	if err != nil {
		return err
	}
	var missing []string
	for _, l := range labels {
		if l.mkek != s.MKEKLabel {
			if err := m.FindKey(ctx, hsm.MKEKSpec(l.mkek, 0)); err != nil {
				missing = append(missing, fmt.Sprintf("MKEK %q of %d project KEKs: %v", l.mkek, l.rows, err))
			}
		}
		if l.hmac != s.HMACLabel {
			if err := m.FindKey(ctx, hsm.MasterKeySpec{Label: l.hmac, KeyType: hmacSpec.KeyType}); err != nil {
				missing = append(missing, fmt.Sprintf("HMAC key %q of %d project KEKs: %v", l.hmac, l.rows, err))
			}
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("the database's p11_crypto project KEKs were wrapped or signed by keys this token does "+
			"not have:\n  %s\nTheir secrets could not be decrypted. Select the token that holds them "+
			"(--p11-token-labels, --p11-token-serial-number, --p11-slot-id), or restore the keys; after a rotation "+
			"keep the old keys until `keymanager manage hsm rewrap-pkek` reports 0 rows on old labels. Refusing to start",
			strings.Join(missing, "\n  "))
	}
	return nil
}

type labelPair struct {
	mkek, hmac string
	rows       int
}

// recordedLabels reads every p11_crypto row's labels: few distinct pairs, one page of ids at a time.
func recordedLabels(ctx context.Context, db *store.DB) ([]labelPair, error) {
	counts := map[[2]string]int{}
	err := p11crypto.EachWrapped(ctx, db, func(_ store.KEKMeta, w hsm.WrappedKey, err error) error {
		if err != nil {
			return err
		}
		counts[[2]string{w.MKEKLabel, w.HMACLabel}]++
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading the labels of the p11_crypto project KEKs: %w", err)
	}
	out := make([]labelPair, 0, len(counts))
	for k, n := range counts {
		out = append(out, labelPair{k[0], k[1], n})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].mkek+out[i].hmac < out[j].mkek+out[j].hmac })
	return out, nil
}

// hsmMetrics exports the session pool, the pKEK cache and the latency of HSM operations.
type hsmMetrics struct {
	latency *prometheus.HistogramVec
}

func newHSMMetrics() *hsmMetrics {
	return &hsmMetrics{latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "keymanager_hsm_operation_duration_seconds",
		Help:    "Duration of HSM operations (including the wait for a session), by operation and outcome.",
		Buckets: prometheus.ExponentialBuckets(0.0001, 4, 9),
	}, []string{"operation", "outcome"})}
}

func (h *hsmMetrics) observe(op string, d time.Duration, err error) {
	outcome := "ok"
	switch {
	case errors.Is(err, hsm.ErrNoSession):
		outcome = "no_session"
	case err != nil:
		outcome = "error"
	}
	h.latency.WithLabelValues(op, outcome).Observe(d.Seconds())
}

// register adds the histogram and the pool and cache figures of m to reg.
func (h *hsmMetrics) register(reg prometheus.Registerer, m *hsm.Module) error {
	gauge := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f)
	}
	counter := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, f)
	}
	cs := []prometheus.Collector{
		h.latency,
		gauge("keymanager_hsm_sessions_cap", "The hard cap on HSM sessions (--hsm-max-sessions).",
			func() float64 { return float64(m.Stats().Cap) }),
		gauge("keymanager_hsm_sessions_open", "HSM sessions open at the token.",
			func() float64 { return float64(m.Stats().Open) }),
		gauge("keymanager_hsm_sessions_in_use", "HSM sessions lent to an operation.",
			func() float64 { return float64(m.Stats().InUse) }),
		gauge("keymanager_hsm_sessions_waiting", "Operations waiting for an HSM session.",
			func() float64 { return float64(m.Stats().Waiting) }),
		counter("keymanager_hsm_pkek_cache_hits_total", "Project KEKs found unwrapped in the HSM cache.",
			func() float64 { return float64(m.CacheStats().Hits) }),
		counter("keymanager_hsm_pkek_cache_misses_total", "Project KEKs that had to be verified and unwrapped.",
			func() float64 { return float64(m.CacheStats().Misses) }),
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("registering the HSM metrics: %w", err)
		}
	}
	return nil
}
