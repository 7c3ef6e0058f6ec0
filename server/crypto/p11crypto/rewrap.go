package p11crypto

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/keymanager-io/keymanager/hsm"
	"github.com/keymanager-io/keymanager/server/store"
)

// RewrapOptions tune Rewrap.
type RewrapOptions struct {
	// DryRun verifies and unwraps every row that would be rewrapped, and writes nothing.
	DryRun bool
	// Workers rewrap this many rows at once (each takes one HSM session); at least 1.
	Workers int
	// Progress, if set, is called after every row with the rows done (rewrapped or failed) and the total.
	Progress func(done, total int)
	// Failed, if set, is called for every row that could not be rewrapped.
	Failed func(id string, err error)
}

// RewrapResult counts what Rewrap did.
type RewrapResult struct {
	// Total is how many rows were not on the configured labels when the run started.
	Total int
	// Rewrapped rows are now under the configured labels (in a dry run: would be).
	Rewrapped int
	// Skipped rows changed under the run (another run or server rewrote them) and were left alone.
	Skipped int
	// Failed rows could not be verified, unwrapped, rewrapped or written.
	Failed int
	// Remaining is how many rows are still on other labels after the run, counted again.
	Remaining int
}

// onConfiguredLabels reports whether a row is wrapped and signed by the configured keys.
func onConfiguredLabels(w hsm.WrappedKey, s hsm.Settings) bool {
	return w.MKEKLabel == s.MKEKLabel && w.HMACLabel == s.HMACLabel
}

// Rewrap moves every p11_crypto project KEK that is not under the configured MKEK and HMAC labels to them
// (barbican-manage hsm rewrap_pkek): the row's HMAC is verified with the key the row names, its pKEK unwrapped
// by the MKEK it names, wrapped and signed again with the configured keys, the new HMAC verified, and the row
// replaced in a transaction of its own only if nobody changed it meanwhile. The pKEK itself does not change, so
// no secret is re-encrypted. A run stopped at any point leaves every row either old or new and complete; running
// again finishes the work. Unlike the reference, failures are counted, not swallowed.
func Rewrap(ctx context.Context, db *store.DB, p *Plugin, opts RewrapOptions) (RewrapResult, error) {
	var res RewrapResult
	var todo []rewrapItem
	err := EachWrapped(ctx, db, func(row store.KEKMeta, w hsm.WrappedKey, err error) error {
		if err != nil || !onConfiguredLabels(w, p.settings) {
			todo = append(todo, rewrapItem{row, w, err})
		}
		return nil
	})
	if err != nil {
		return res, err
	}
	res.Total = len(todo)
	workers := max(opts.Workers, 1)
	rows := make(chan rewrapItem)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for item := range rows {
				rewrapped, err := rewrapRow(ctx, db, p, item, opts.DryRun)
				mu.Lock()
				switch {
				case err != nil:
					res.Failed++
					if opts.Failed != nil {
						opts.Failed(item.row.ID, err)
					}
				case rewrapped:
					res.Rewrapped++
				default:
					res.Skipped++
				}
				done := res.Failed + res.Rewrapped + res.Skipped
				if opts.Progress != nil {
					opts.Progress(done, res.Total)
				}
				mu.Unlock()
			}
		})
	}
feed:
	for _, row := range todo {
		select {
		case rows <- row:
		case <-ctx.Done():
			break feed
		}
	}
	close(rows)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return res, err
	}
	res.Remaining, err = Remaining(ctx, db, p)
	return res, err
}

// rewrapItem is a row to rewrap with its plugin_meta as EachWrapped decoded it (or the decoding error).
type rewrapItem struct {
	row store.KEKMeta
	w   hsm.WrappedKey
	err error
}

// rewrapRow rewraps one row and reports whether it replaced it.
func rewrapRow(ctx context.Context, db *store.DB, p *Plugin, item rewrapItem, dryRun bool) (bool, error) {
	row, w := item.row, item.w
	if item.err != nil {
		return false, item.err
	}
	if dryRun {
		return true, p.module.CheckPKEK(ctx, w, p.settings)
	}
	nw, err := p.module.Rewrap(ctx, w, p.settings)
	if err != nil {
		return false, err
	}
	meta, err := encodePluginMeta(nw)
	if err != nil {
		return false, err
	}
	var replaced bool
	err = db.Write(ctx, func(tx *store.Tx) error {
		var err error
		replaced, err = tx.ReplaceKEKMeta(row.ID, row.PluginMeta, meta)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("saving the rewrapped project KEK: %w", err)
	}
	return replaced, nil
}

// Remaining counts the p11_crypto project KEKs not under the configured labels (unreadable rows included).
func Remaining(ctx context.Context, db *store.DB, p *Plugin) (int, error) {
	n := 0
	err := EachWrapped(ctx, db, func(_ store.KEKMeta, w hsm.WrappedKey, err error) error {
		if err != nil || !onConfiguredLabels(w, p.settings) {
			n++
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("counting the project KEKs on other labels: %w", err)
	}
	return n, nil
}

// ErrRewrapIncomplete is returned by callers that treat rows left on old labels as a failure.
var ErrRewrapIncomplete = errors.New("project KEKs remain on old labels")
