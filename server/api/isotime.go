package api

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// The reference parses every timestamp a client sends (a secret's expiration, the created/updated/expiration
// list filters) with oslo_utils.timeutils.parse_isotime, which is iso8601.parse_date of the Python iso8601
// package (1.x and 2.x share the parser). parseISOTime mirrors that function: the same forms are accepted and the
// same ones refused, so that a request the reference takes is taken here and vice versa.
//
// What parse_date accepts, in short:
//   - a date: YYYY, YYYY-M[M], YYYY-M[M]-D[D], YYYY-M[M]DD, YYYYMM-D[D], YYYYMMDD; but not YYYYMM alone;
//   - then optionally a time after 'T' or ' ': hh, hh[:]mm, hh[:]mm[:]s[s], with a fraction of any length after
//     '.' or ','; the minute may be missing when seconds follow ("T10:5" is 10:00:05);
//   - then optionally a zone: Z, ±hh, ±hh[:]mm; none means UTC;
//   - then the end of the string, or a single '\n' before it (Python's '$');
//   - the fields must make a valid datetime: years 1-9999, real calendar days, hours 0-23, minutes and seconds
//     0-59, and a zone offset strictly within ±24h (minutes up to 99 are accepted: +00:90 is 1h30).
//
// isoPattern is the package's ISO8601_REGEX in RE2 syntax. RE2 has no lookahead, so "(?P<month>[0-9]{2})(?!$)"
// (a compact month may not end the string) is checked after matching: the lookahead can only succeed when a
// day follows, so a match with a compact month and no day is exactly what Python refuses. Go's submatches
// follow the same leftmost-first preference as Python's backtracking engine, so ambiguous inputs split the
// same way ("2026-123" is January 23rd in both).
var isoPattern = regexp.MustCompile(`^([0-9]{4})` + // year
	`(?:(?:-([0-9]{1,2})|([0-9]{2}))` + // month, with or without a dash
	`(?:(?:-([0-9]{1,2})|([0-9]{2}))` + // day, with or without a dash
	`(?:[ T]([0-9]{2})(?::?([0-9]{2}))?` + // hour, minute
	`(?::?([0-9]{1,2})(?:[.,]([0-9]+))?)?` + // second, fraction
	`(Z|([-+])([0-9]{2}):?([0-9]{2})?)?` + // zone
	`)?)?)?\n?$`)

const (
	isoYear = 1 + iota
	isoMonthDash
	isoMonth
	isoDayDash
	isoDay
	isoHour
	isoMinute
	isoSecond
	isoFraction
	isoZone
	isoZoneSign
	isoZoneHour
	isoZoneMinute
)

// errISOTime is the single refusal; callers answer with their own message, as the reference does.
var errISOTime = errors.New("not an ISO 8601 timestamp")

// parseISOTime parses s as iso8601.parse_date does. The result keeps the offset it was given in (UTC when none).
func parseISOTime(s string) (time.Time, error) {
	m := isoPattern.FindStringSubmatch(s)
	if len(m) <= isoZoneMinute || (m[isoMonth] != "" && m[isoDay] == "" && m[isoDayDash] == "") {
		return time.Time{}, errISOTime
	}
	field := func(i int, def int) int {
		if m[i] == "" {
			return def
		}
		n, _ := strconv.Atoi(m[i]) // at most four ASCII digits
		return n
	}
	year := field(isoYear, 0)
	month := field(isoMonth, field(isoMonthDash, 1))
	day := field(isoDay, field(isoDayDash, 1))
	hour, minute, second := field(isoHour, 0), field(isoMinute, 0), field(isoSecond, 0)
	micro := fractionMicroseconds(m[isoFraction])
	// datetime() refuses what does not exist rather than normalising it (Go's time.Date would roll over).
	if year < 1 || month < 1 || month > 12 || day < 1 || day > daysIn(time.Month(month), year) ||
		hour > 23 || minute > 59 || second > 59 || micro > 999999 {
		return time.Time{}, errISOTime
	}
	loc := time.UTC
	if m[isoZoneSign] != "" {
		offset := field(isoZoneHour, 0)*60 + field(isoZoneMinute, 0)
		// datetime.timezone wants an offset strictly between -24h and +24h.
		if offset >= 24*60 {
			return time.Time{}, errISOTime
		}
		if m[isoZoneSign] == "-" {
			offset = -offset
		}
		if offset != 0 {
			loc = time.FixedZone(fmt.Sprintf("%s%02d:%02d", m[isoZoneSign], field(isoZoneHour, 0),
				field(isoZoneMinute, 0)), offset*60)
		}
	}
	return time.Date(year, time.Month(month), day, hour, minute, second, micro*1000, loc), nil
}

func daysIn(m time.Month, year int) int {
	return time.Date(year, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// fractionMicroseconds is int(Decimal("0." + digits) * Decimal("1000000.0")) as parse_date computes it: the
// product is rounded half-even to the 28 significant digits of Python's default decimal context, then truncated.
// The rounding only shows when a fraction has more than 28 significant digits, and it can carry: 0. followed by
// 29 nines is 1000000 microseconds, which datetime refuses. The digits are handled as text, so a long fraction
// costs a scan, never big-number arithmetic.
func fractionMicroseconds(digits string) int {
	lead := len(digits) - len(strings.TrimLeft(digits, "0"))
	sig := digits[lead:]
	const precision = 28
	if len(sig) > precision {
		kept, rest := []byte(sig[:precision]), sig[precision:]
		if roundsUp(kept[precision-1], rest) {
			i := precision - 1
			for ; i >= 0 && kept[i] == '9'; i-- {
				kept[i] = '0'
			}
			if i < 0 {
				// Every kept digit was 9: the fraction becomes 10^-lead exactly.
				if lead == 0 {
					return 1000000
				}
				if lead > 6 {
					return 0
				}
				return pow10(6 - lead)
			}
			kept[i]++
		}
		sig = string(kept) + strings.Repeat("0", min(len(rest), 6))
	}
	// The fraction's first six digits (with its leading zeros) are the microseconds.
	full := strings.Repeat("0", min(lead, 6)) + sig
	if len(full) < 6 {
		full += strings.Repeat("0", 6-len(full))
	}
	n, _ := strconv.Atoi(full[:6])
	return n
}

// roundsUp decides ROUND_HALF_EVEN for a kept last digit and the dropped digits.
func roundsUp(last byte, dropped string) bool {
	switch {
	case dropped[0] > '5':
		return true
	case dropped[0] < '5':
		return false
	case strings.Trim(dropped[1:], "0") != "":
		return true
	default:
		return (last-'0')%2 == 1
	}
}

func pow10(n int) int {
	p := 1
	for range n {
		p *= 10
	}
	return p
}
