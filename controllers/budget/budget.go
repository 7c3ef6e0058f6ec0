// Package budget shares an HSM's connection limit among the KeyManagers that use it.
//
// Every server pod opens at most its granted number of PKCS#11 sessions (--hsm-max-sessions). The pods of a
// KeyManager with an HSM run under a StatefulSet, which replaces a pod only after the old one has exited, so a
// KeyManager with R replicas never runs more than R pods and costs R × workers sessions, through rollouts and
// node drains alike (a Deployment, even with maxSurge 0, runs a terminating pod beside its replacement); the
// HSMBackend also keeps some sessions for the operator's Jobs. When the sum fits the HSM's maxConnections,
// everyone gets what they asked for. When it does not, workers per pod are shared out by max-min fairness:
// the largest common cap L such that Σ replicas × min(requested, L) fits, then the sessions left over go one
// worker per pod to users in name order while they still fit. The result depends on the set of requests, not
// on their order.
package budget

import (
	"cmp"
	"slices"
)

// Request is what one KeyManager asks of a backend.
type Request struct {
	// Name identifies the KeyManager; it orders the left-over distribution and must be unique.
	Name string
	// Replicas is the KeyManager's replica count.
	Replicas int32
	// Workers is the sessions each pod asks for.
	Workers int32
}

// Grant is the budget's decision for one KeyManager.
type Grant struct {
	Name string
	// Pods is the most pods that can run at once: the replicas.
	Pods int32
	// Requested and Granted are workers per pod.
	Requested, Granted int32
}

// Capped reports whether the grant is below the request.
func (g Grant) Capped() bool { return g.Granted < g.Requested }

// Exhausted reports whether the budget could not give each pod even one session.
func (g Grant) Exhausted() bool { return g.Granted == 0 && g.Pods > 0 }

// Result is the budget of one backend.
type Result struct {
	// Max and Reserved are the backend's limit and the part of it kept for Jobs.
	Max, Reserved int32
	// Requested is what the users would open uncapped; Granted what they may open.
	Requested, Granted int64
	// Oversubscribed is true when the uncapped requests did not fit.
	Oversubscribed bool
	// Grants are sorted by name.
	Grants []Grant
}

// Grant returns the grant for name.
func (r Result) Grant(name string) (Grant, bool) {
	i, found := slices.BinarySearchFunc(r.Grants, name, func(g Grant, n string) int { return cmp.Compare(g.Name, n) })
	if !found {
		return Grant{}, false
	}
	return r.Grants[i], true
}

// Allocate shares max-reserved sessions among reqs. Negative inputs count as zero.
func Allocate(maxConns, reserved int32, reqs []Request) Result {
	maxConns, reserved = max(maxConns, 0), max(reserved, 0)
	available := max(int64(maxConns)-int64(reserved), 0)

	grants := make([]Grant, len(reqs))
	for i, r := range reqs {
		grants[i] = Grant{Name: r.Name, Requested: max(r.Workers, 0), Pods: max(r.Replicas, 0)}
	}
	slices.SortFunc(grants, func(a, b Grant) int { return cmp.Compare(a.Name, b.Name) })

	res := Result{Max: maxConns, Reserved: reserved, Grants: grants}
	for _, g := range grants {
		res.Requested += int64(g.Pods) * int64(g.Requested)
	}
	if res.Requested <= available {
		for i := range grants {
			grants[i].Granted = grants[i].Requested
		}
		res.Granted = res.Requested
		return res
	}

	res.Oversubscribed = true
	level := waterLevel(grants, available)
	var used int64
	for i := range grants {
		grants[i].Granted = min(grants[i].Requested, level)
		used += int64(grants[i].Pods) * int64(grants[i].Granted)
	}
	// One more worker per pod, in name order, for users still below their request while it fits.
	for i := range grants {
		g := &grants[i]
		if g.Granted < g.Requested && g.Pods > 0 && used+int64(g.Pods) <= available {
			g.Granted++
			used += int64(g.Pods)
		}
	}
	res.Granted = used
	return res
}

// waterLevel is the largest L with Σ pods × min(requested, L) ≤ available, found by bisection over
// [0, largest request]; the sum grows with L, so bisection is exact.
func waterLevel(grants []Grant, available int64) int32 {
	cost := func(level int32) int64 {
		var sum int64
		for _, g := range grants {
			sum += int64(g.Pods) * int64(min(g.Requested, level))
		}
		return sum
	}
	var lo, hi int32
	for _, g := range grants {
		hi = max(hi, g.Requested)
	}
	for lo < hi {
		mid := lo + (hi-lo+1)/2
		if cost(mid) <= available {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return lo
}
