package api

import (
	"net/http"
	"net/url"
	"testing"
	"time"
)

// The reference reads expirations and list date filters with iso8601.parse_date, which takes more forms than
// RFC 3339: Python's time.strftime("%z") offsets (+0000), hour-only offsets, a space for 'T', basic format,
// comma fractions.
func TestExpirationAcceptsWhatTheReferenceParses(t *testing.T) {
	s := newSetup(t)
	const prefix = "Provided object does not match schema 'Secret': "
	cases := map[string]struct{ expiration, stored string }{
		"a %z offset":                  {"2999-06-01T12:00:00+0000", "2999-06-01T12:00:00"},
		"a negative hour-only offset":  {"2999-06-01T12:00:00-01", "2999-06-01T13:00:00"},
		"a positive hour-only offset":  {"2999-06-01T12:00:00+01", "2999-06-01T11:00:00"},
		"a space instead of T":         {"2999-06-01 12:00:00", "2999-06-01T12:00:00"},
		"basic format with a fraction": {"29990601T120000,25Z", "2999-06-01T12:00:00.25"},
		"a date alone":                 {"2999-06-01", "2999-06-01T00:00:00"},
		"minutes past 59 in an offset": {"2999-06-01T12:00:00+00:90", "2999-06-01T10:30:00"},
		// Python's str.strip() also removes the information separators U+001C-U+001F.
		"surrounding blanks": {`  2999-06-01T12:00:00Z\t\u001f`, "2999-06-01T12:00:00"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			s := s.on(t)
			id := s.createSecret(admin, `{"expiration": "`+tc.expiration+`"}`)
			got := s.expect(admin, request{method: "GET", path: "/v1/secrets/" + id}, http.StatusOK).json(t)["expiration"]
			if got != tc.stored && got != tc.stored+"0000" { // SQLite keeps the microseconds: .250000
				t.Fatalf("expiration %q should be stored as %s, got %v", tc.expiration, tc.stored, got)
			}
		})
	}
	refused := map[string]string{
		"a compact year and month":   "299906",
		"a lower-case t":             "2999-06-01t12:00",
		"a 24h offset":               "2999-06-01T12:00:00+24:00",
		"a one-digit offset":         "2999-06-01T12:00:00+1",
		"February 29th of 2999":      "2999-02-29",
		"a leap second":              "2999-06-01T23:59:60",
		"text after the zone":        "2999-06-01T12:00:00Z junk",
		"a year past 9999 in UTC":    "9999-12-31T23:00:00-01:00", // the reference fails with 500 (OverflowError)
		"a fraction rounding to 1 s": "2999-06-01T12:00:00.99999999999999999999999999999",
	}
	for name, expiration := range refused {
		t.Run("refused: "+name, func(t *testing.T) {
			s := s.on(t)
			r := s.expect(admin, request{method: "POST", path: "/v1/secrets", body: `{"expiration": "` + expiration + `"}`},
				http.StatusBadRequest)
			if want := prefix + "Invalid date for 'expiration'. Invalid property: 'expiration'"; r.description(t) != want {
				t.Fatalf("want %q, got %s", want, r.body)
			}
		})
	}
}

// on returns the setup reporting to t, so that a subtest's failure is its own.
func (s *setup) on(t testing.TB) *setup {
	c := *s
	c.t = t
	return &c
}

func TestListDateFiltersUseTheSameParser(t *testing.T) {
	s := newSetup(t)
	p := as{project: "dates", roles: "admin"}
	s.createSecret(p, `{"name": "one"}`)
	// The test clock is fixed; every secret was created at s.clock.Now().
	created := s.clock.Now().UTC()
	total := func(t *testing.T, query string) any {
		t.Helper()
		return s.on(t).expect(p, request{method: "GET", path: "/v1/secrets?" + query}, http.StatusOK).json(t)["total"]
	}
	forms := map[string]string{
		"a %z offset":          created.Add(-time.Hour).Format("2006-01-02T15:04:05") + "-0100", // = created
		"an hour-only offset":  created.Add(time.Hour).Format("2006-01-02T15:04:05") + "+01",    // = created
		"a space instead of T": created.Format("2006-01-02 15:04:05"),
		"basic format":         created.Format("20060102T150405Z"),
	}
	for name, value := range forms {
		t.Run(name, func(t *testing.T) {
			if got := total(t, "created="+url.QueryEscape(value)); got != float64(1) {
				t.Fatalf("created=%s should match the secret, got total %v", value, got)
			}
			if got := total(t, "created=gt:"+url.QueryEscape(value)); got != float64(0) {
				t.Fatalf("created=gt:%s should match nothing, got total %v", value, got)
			}
		})
	}
	t.Run("an offset bound compares the instant it names", func(t *testing.T) {
		// 30 minutes after creation on the wall clock, 30 minutes before it as an instant. (The reference's
		// database drivers drop the offset and compare the wall clock.)
		value := created.Add(30*time.Minute).Format("2006-01-02T15:04:05") + "+01:00"
		if got := total(t, "created=gt:"+url.QueryEscape(value)); got != float64(1) {
			t.Fatalf("created=gt:%s is 30 minutes before creation, got total %v", value, got)
		}
	})
	t.Run("a bound beyond the year 9999 in UTC still compares", func(t *testing.T) {
		if got := total(t, "created=lt:"+url.QueryEscape("9999-12-31T23:00:00-05:00")); got != float64(1) {
			t.Fatalf("got total %v", got)
		}
	})
	for name, query := range map[string]string{
		"a blank before the date": "created=gt:" + url.QueryEscape(" 2020-01-01"),
		"a compact year-month":    "created=gt:202001",
		"a comma fraction (the filter list is split on commas)": "created=gt:" +
			url.QueryEscape("2020-01-01T00:00:00,5"),
	} {
		t.Run("refused: "+name, func(t *testing.T) {
			s := s.on(t)
			r := s.expect(p, request{method: "GET", path: "/v1/secrets?" + query}, http.StatusBadRequest)
			if r.description(t) != "URI provided invalid query string parameters." {
				t.Fatalf("unexpected body %s", r.body)
			}
		})
	}
}
