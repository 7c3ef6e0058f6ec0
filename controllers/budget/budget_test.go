package budget

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestAllocate(t *testing.T) {
	for _, tc := range []struct {
		name           string
		max, reserved  int32
		reqs           []Request
		want           map[string]int32 // granted workers per pod
		wantGranted    int64
		wantOversubscr bool
	}{
		{
			name: "seed: 3 replicas on 32-core hosts, 32-connection Proteccio, 2 reserved for Jobs",
			max:  32, reserved: 2,
			reqs:        []Request{{"barbican", 3, 32}},
			want:        map[string]int32{"barbican": 10},
			wantGranted: 30, wantOversubscr: true,
		},
		{
			name: "fits",
			max:  32, reserved: 2,
			reqs:        []Request{{"a", 2, 5}, {"b", 1, 5}},
			want:        map[string]int32{"a": 5, "b": 5},
			wantGranted: 15,
		},
		{
			name: "exactly full is not capped",
			max:  32, reserved: 2,
			reqs:        []Request{{"a", 3, 10}},
			want:        map[string]int32{"a": 10},
			wantGranted: 30,
		},
		{
			name: "a small request keeps all it asked, the big one gets the rest",
			max:  32, reserved: 2,
			reqs:        []Request{{"big", 2, 64}, {"small", 2, 2}},
			want:        map[string]int32{"big": 13, "small": 2},
			wantGranted: 30, wantOversubscr: true,
		},
		{
			name: "left-over sessions go one per pod in name order",
			max:  12, reserved: 0,
			reqs:        []Request{{"b", 1, 10}, {"a", 1, 10}, {"c", 1, 10}, {"d", 1, 10}, {"e", 1, 10}},
			want:        map[string]int32{"a": 3, "b": 3, "c": 2, "d": 2, "e": 2},
			wantGranted: 12, wantOversubscr: true,
		},
		{
			name: "not even one session per pod",
			max:  4, reserved: 2,
			reqs:        []Request{{"a", 1, 8}, {"b", 2, 8}},
			want:        map[string]int32{"a": 1, "b": 0},
			wantGranted: 1, wantOversubscr: true,
		},
		{
			name: "zero replicas cost nothing",
			max:  10, reserved: 2,
			reqs:        []Request{{"idle", 0, 100}, {"a", 3, 2}},
			want:        map[string]int32{"idle": 100, "a": 2},
			wantGranted: 6,
		},
		{
			name: "reserve larger than the limit",
			max:  2, reserved: 5,
			reqs:        []Request{{"a", 1, 1}},
			want:        map[string]int32{"a": 0},
			wantGranted: 0, wantOversubscr: true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := Allocate(tc.max, tc.reserved, tc.reqs)
			for name, want := range tc.want {
				g, ok := res.Grant(name)
				if !ok {
					t.Fatalf("no grant for %q", name)
				}
				if g.Granted != want {
					t.Errorf("%s granted %d workers, want %d", name, g.Granted, want)
				}
			}
			if res.Granted != tc.wantGranted || res.Oversubscribed != tc.wantOversubscr {
				t.Errorf("granted %d oversubscribed %v, want %d %v", res.Granted, res.Oversubscribed, tc.wantGranted, tc.wantOversubscr)
			}
			if avail := int64(max(tc.max-tc.reserved, 0)); res.Granted > avail {
				t.Errorf("granted %d sessions, more than the %d available", res.Granted, avail)
			}
		})
	}
}

// TestAllocateProperties checks, over random mixes of KeyManagers, that the cap always holds, that no one
// gets more than asked, that the result does not depend on the order of the requests, and that a capped
// user is never below another user's grant by more than one worker unless that user asked for less.
func TestAllocateProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 2000 {
		n := 1 + rng.IntN(6)
		reqs := make([]Request, n)
		for j := range reqs {
			reqs[j] = Request{Name: fmt.Sprintf("km-%d", j), Replicas: rng.Int32N(6), Workers: 1 + rng.Int32N(64)}
		}
		maxConns, reserved := 1+rng.Int32N(128), rng.Int32N(4)
		res := Allocate(maxConns, reserved, reqs)

		var sessions int64
		for _, g := range res.Grants {
			sessions += int64(g.Pods) * int64(g.Granted)
			if g.Granted > g.Requested {
				t.Fatalf("case %d: %s granted %d > requested %d", i, g.Name, g.Granted, g.Requested)
			}
		}
		if sessions != res.Granted || sessions > int64(max(maxConns-reserved, 0)) {
			t.Fatalf("case %d: %d sessions (reported %d) for max %d reserved %d", i, sessions, res.Granted, maxConns, reserved)
		}
		for _, a := range res.Grants {
			for _, b := range res.Grants {
				if a.Capped() && a.Pods > 0 && b.Pods > 0 && b.Granted > a.Granted+1 {
					t.Fatalf("case %d: capped %s got %d while %s got %d", i, a.Name, a.Granted, b.Name, b.Granted)
				}
			}
		}

		shuffled := slices.Clone(reqs)
		rng.Shuffle(len(shuffled), func(a, b int) { shuffled[a], shuffled[b] = shuffled[b], shuffled[a] })
		if again := Allocate(maxConns, reserved, shuffled); !slices.Equal(again.Grants, res.Grants) {
			t.Fatalf("case %d: order changed the result:\n%v\n%v", i, res.Grants, again.Grants)
		}
	}
}

func BenchmarkAllocate(b *testing.B) {
	reqs := make([]Request, 50)
	for i := range reqs {
		reqs[i] = Request{Name: fmt.Sprintf("km-%02d", i), Replicas: int32(1 + i%5), Workers: int32(4 + i%30)}
	}
	for b.Loop() {
		Allocate(500, 2, reqs)
	}
}
