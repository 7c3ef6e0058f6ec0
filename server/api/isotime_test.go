package api

import (
	"strings"
	"testing"
	"time"
)

// isoCases are iso8601.parse_date's answers (python3-iso8601 1.0.2, the parser behind the reference's
// oslo_utils.timeutils.parse_isotime), recorded by running it on each input; "" means ParseError.
var isoCases = []struct{ in, want string }{
	// Dates: extended, basic and mixed forms, one-digit fields after a dash, reduced precision.
	{"2026-01-01", "2026-01-01T00:00:00.000000+00:00"},
	{"2026", "2026-01-01T00:00:00.000000+00:00"},
	{"202601", ""}, // YYYYMM is refused (ambiguous with YYMMDD)
	{"20260101", "2026-01-01T00:00:00.000000+00:00"},
	{"2026-1", "2026-01-01T00:00:00.000000+00:00"},
	{"2026-1-5", "2026-01-05T00:00:00.000000+00:00"},
	{"2026-123", "2026-01-23T00:00:00.000000+00:00"}, // backtracking: month 1, day 23
	{"2026-0101", "2026-01-01T00:00:00.000000+00:00"},
	{"202601-01", "2026-01-01T00:00:00.000000+00:00"},
	{"2026-02-29", ""},
	{"2024-02-29", "2024-02-29T00:00:00.000000+00:00"},
	{"0000-01-01", ""},
	{"2026-13-01", ""},
	{"2026-00-01", ""},
	{"2026-01-32", ""},
	{"\u0661\u0662\u0663\u0664-01-01", ""}, // only ASCII digits
	{"2026-", ""},
	{"2026-01-", ""},
	// Times: 'T' or a space, reduced precision, basic form, a missing minute before seconds.
	{"2026-01-01 10:30:00", "2026-01-01T10:30:00.000000+00:00"},
	{"2026-01-01T10", "2026-01-01T10:00:00.000000+00:00"},
	{"2026-01-01T1030", "2026-01-01T10:30:00.000000+00:00"},
	{"2026-01-01T103000", "2026-01-01T10:30:00.000000+00:00"},
	{"2026-01-01T103", "2026-01-01T10:00:03.000000+00:00"},
	{"2026-01-01T10:3", "2026-01-01T10:00:03.000000+00:00"},
	{"2026-01-01T23:59:5", "2026-01-01T23:59:05.000000+00:00"},
	{"20260101T103000Z", "2026-01-01T10:30:00.000000+00:00"},
	{"2026-01-01t10:30", ""},
	{"2026-01-01T", ""},
	{"2026-01-01 T10", ""},
	{"2026-01-01T24:00", ""},
	{"2026-01-01T23:60", ""},
	{"2026-01-01T23:59:60", ""},
	// Fractions: '.' or ',', any length, truncated to microseconds after Decimal's 28-digit rounding.
	{"2026-01-01T10:30:00,5", "2026-01-01T10:30:00.500000+00:00"},
	{"2026-01-01T10:30:00.1234567", "2026-01-01T10:30:00.123456+00:00"},
	{"2026-01-01T10:30:00.9999995", "2026-01-01T10:30:00.999999+00:00"},
	{"2026-01-01T10:30:00.", ""},
	{"2026-01-01T10:30:00." + strings.Repeat("9", 28), "2026-01-01T10:30:00.999999+00:00"},
	{"2026-01-01T10:30:00." + strings.Repeat("9", 29), ""}, // rounds to 1000000 microseconds
	{"2026-01-01T10:30:00.0" + strings.Repeat("9", 29), "2026-01-01T10:30:00.100000+00:00"},
	{"2026-01-01T10:30:00.000000" + strings.Repeat("9", 29), "2026-01-01T10:30:00.000001+00:00"},
	{"2026-01-01T10:30:00.00000" + strings.Repeat("9", 29), "2026-01-01T10:30:00.000010+00:00"},
	{"2026-01-01T10:30:00.0000000" + strings.Repeat("9", 30), "2026-01-01T10:30:00.000000+00:00"},
	{"2026-01-01T10:30:00." + strings.Repeat("1", 27) + "25", "2026-01-01T10:30:00.111111+00:00"},
	{"2026-01-01T10:30:00." + strings.Repeat("9", 27) + "5", "2026-01-01T10:30:00.999999+00:00"},
	{"2026-01-01T10:30:00." + strings.Repeat("9", 27) + "85", "2026-01-01T10:30:00.999999+00:00"},
	{"2026-01-01T10:30:00." + strings.Repeat("9", 27) + "4" + strings.Repeat("9", 5), "2026-01-01T10:30:00.999999+00:00"},
	{"2026-01-01T10:30:00." + strings.Repeat("0", 40) + strings.Repeat("9", 40), "2026-01-01T10:30:00.000000+00:00"},
	// Zones: Z, ±hh, ±hhmm, ±hh:mm, minutes up to 99 within ±24h.
	{"2026-01-01T10:30:00Z", "2026-01-01T10:30:00.000000+00:00"},
	{"2026-01-01T10:30:00+0000", "2026-01-01T10:30:00.000000+00:00"}, // Python's time.strftime("%z")
	{"2026-01-01T10:30:00-01", "2026-01-01T10:30:00.000000-01:00"},
	{"2026-01-01T10:30:00+01", "2026-01-01T10:30:00.000000+01:00"},
	{"2026-01-01T10:30:00+0130", "2026-01-01T10:30:00.000000+01:30"},
	{"2026-01-01T10:30:00+01:", "2026-01-01T10:30:00.000000+01:00"},
	{"2026-01-01T10:30:00-00:30", "2026-01-01T10:30:00.000000-00:30"},
	{"2026-01-01T10:30:00+23:59", "2026-01-01T10:30:00.000000+23:59"},
	{"2026-01-01T10:30:00+00:99", "2026-01-01T10:30:00.000000+01:39"},
	{"20260101T103000.5+0100", "2026-01-01T10:30:00.500000+01:00"},
	{"2026-01-01T10Z", "2026-01-01T10:00:00.000000+00:00"},
	{"2026-01-01T10+01", "2026-01-01T10:00:00.000000+01:00"},
	{"0001-01-01T00:00:00+01:00", "0001-01-01T00:00:00.000000+01:00"},
	{"9999-12-31T23:59:59-01:00", "9999-12-31T23:59:59.000000-01:00"},
	{"2026-01-01T10:30:00z", ""},
	{"2026-01-01T10:30:00+24:00", ""},
	{"2026-01-01T10:30:00+23:99", ""},
	{"2026-01-01T10:30:00+1", ""},
	{"2026-01-01TZ", ""},
	// The end: Python's '$' also matches before one final newline; nothing else may follow.
	{"2026-01-01\n", "2026-01-01T00:00:00.000000+00:00"},
	{"2026\n", "2026-01-01T00:00:00.000000+00:00"},
	{"2026-01-01T10:00\n", "2026-01-01T10:00:00.000000+00:00"},
	{"2026-01-01T10:30:00Z\n", "2026-01-01T10:30:00.000000+00:00"},
	{"2026-01-01\n\n", ""},
	{" 2026-01-01", ""},
	{"2026-01-01 ", ""},
	{"", ""},
	{"\n", ""},
}

func TestParseISOTimeMirrorsTheReferenceParser(t *testing.T) {
	for _, tc := range isoCases {
		got, err := parseISOTime(tc.in)
		switch {
		case tc.want == "" && err == nil:
			t.Errorf("%q: the reference refuses it, we parsed %v", tc.in, got)
		case tc.want != "" && err != nil:
			t.Errorf("%q: the reference parses %s, we refused it", tc.in, tc.want)
		case tc.want != "" && got.Format("2006-01-02T15:04:05.000000-07:00") != tc.want:
			t.Errorf("%q: want %s, got %s", tc.in, tc.want, got.Format("2006-01-02T15:04:05.000000-07:00"))
		}
	}
}

// FuzzParseISOTime: no input panics, and an accepted one denotes a valid instant that the parser reads back
// the same from its canonical form.
func FuzzParseISOTime(f *testing.F) {
	for _, tc := range isoCases {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := parseISOTime(s)
		if err != nil {
			return
		}
		if got.Year() < 1 || got.Year() > 9999 {
			t.Fatalf("%q: year %d outside datetime's range", s, got.Year())
		}
		_, offset := got.Zone()
		if offset <= -24*3600 || offset >= 24*3600 {
			t.Fatalf("%q: offset %ds outside ±24h", s, offset)
		}
		again, err := parseISOTime(got.Format("2006-01-02T15:04:05.000000-07:00"))
		if err != nil || !again.Equal(got) {
			t.Fatalf("%q: parsed %v, its canonical form reads back as %v (%v)", s, got, again, err)
		}
	})
}

func TestFractionMicrosecondsRoundsLikePythonDecimal(t *testing.T) {
	cases := map[string]int{
		"0": 0, "5": 500000, "000001": 1, "0000009": 0, "123456789": 123456,
		strings.Repeat("9", 28):                             999999,
		strings.Repeat("9", 29):                             1000000,
		"00" + strings.Repeat("9", 29):                      10000,
		strings.Repeat("9", 27) + "8" + "5":                 999999, // a tie rounds to the even 8
		strings.Repeat("9", 27) + "9" + "5":                 1000000,
		strings.Repeat("9", 27) + "9" + "4" + "9":           999999,
		strings.Repeat("0", 1000) + strings.Repeat("9", 99): 0,
	}
	for digits, want := range cases {
		if got := fractionMicroseconds(digits); got != want {
			t.Errorf("%.40q: want %d, got %d", digits, want, got)
		}
	}
}

func TestParseISOTimeKeepsTheOffset(t *testing.T) {
	got, err := parseISOTime("2026-01-01 10:30:00-0130")
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Fatalf("want the instant %v, got %v", want, got.UTC())
	}
}
