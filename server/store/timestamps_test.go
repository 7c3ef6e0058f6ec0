package store

import (
	"testing"
	"time"
)

// TestParseNaiveAgreesWithTimeParse holds the hand-written parser of the stored form against time.Parse: what it
// accepts must read the same; what it declines goes on to time.Parse in parseDBTime. The forms the databases
// hand back it must accept.
func TestParseNaiveAgreesWithTimeParse(t *testing.T) {
	for _, s := range []string{"2026-12-03 10:48:09", "2026-12-03 10:48:09.123456", "2026-12-03T10:48:09.1",
		"2024-02-29 23:59:59.999999999", "1970-01-01 00:00:00.000000", "2026-02-29 10:00:00", "2026-13-01 10:00:00",
		"2026-12-03 24:00:00", "2026-12-03 10:48", "2026-12-03 10:48:09.", "2026-12-03 10:48:09.1234567890",
		"2026-12-03 10:48:09+01:00", "2026/12/03 10:48:09", "x026-12-03 10:48:09"} {
		want, werr := time.ParseInLocation("2006-01-02 15:04:05.999999999", s, time.UTC)
		if werr != nil {
			want, werr = time.ParseInLocation("2006-01-02T15:04:05.999999999", s, time.UTC)
		}
		got, ok := parseNaive(s)
		if ok && (werr != nil || !got.Equal(want)) {
			t.Errorf("%q: parseNaive %v, time.Parse %v %v", s, got, want, werr)
		}
	}
	for _, s := range []string{"2026-12-03 10:48:09", "2026-12-03 10:48:09.123456", formatTime(time.Now())} {
		if _, ok := parseNaive(s); !ok {
			t.Errorf("%q should be read by hand", s)
		}
	}
}
