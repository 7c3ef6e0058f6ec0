package store

import (
	"context"
	"fmt"
	"reflect"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/schema"
)

// timeLayout is how SQLAlchemy stores DateTime values on SQLite. The six
// fractional digits are always written so that text order equals time order,
// which the expiration and created_at range scans rely on. MariaDB parses the
// same literal into DATETIME (dropping the fraction).
const timeLayout = "2006-01-02 15:04:05.000000"

func init() {
	schema.RegisterSerializer("kmtime", timeSerializer{})
}

// timeSerializer stores time.Time and *time.Time model fields as naive UTC
// text in timeLayout and reads back text, []byte or time.Time, whichever the
// driver hands out.
type timeSerializer struct{}

// Scan implements schema.SerializerInterface.
func (timeSerializer) Scan(ctx context.Context, field *schema.Field, dst reflect.Value, dbValue any) error {
	if dbValue == nil {
		return field.Set(ctx, dst, nil)
	}
	t, err := parseDBTime(dbValue)
	if err != nil {
		return fmt.Errorf("column %s: %w", field.DBName, err)
	}
	if field.FieldType.Kind() == reflect.Pointer {
		return field.Set(ctx, dst, &t)
	}
	return field.Set(ctx, dst, t)
}

// Value implements schema.SerializerValuerInterface.
func (timeSerializer) Value(_ context.Context, _ *schema.Field, _ reflect.Value, fieldValue any) (any, error) {
	switch v := fieldValue.(type) {
	case time.Time:
		return formatTime(v), nil
	case *time.Time:
		if v == nil {
			return nil, nil
		}
		return formatTime(*v), nil
	case nil:
		return nil, nil
	default:
		return nil, fmt.Errorf("kmtime serializer: unsupported type %T", fieldValue)
	}
}

// formatTime renders t as a naive UTC timestamp the way SQLAlchemy stores it.
// Use it for every time bound passed to raw SQL: drivers would otherwise add a
// zone suffix that breaks text comparison on SQLite.
func formatTime(t time.Time) string {
	return t.UTC().Format(timeLayout)
}

var dbTimeLayouts = []string{
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999-07:00",
	"2006-01-02T15:04:05.999999999Z07:00",
}

// parseDBTime accepts the representations the SQLite and MySQL drivers return
// for DATETIME columns. Naive values are UTC.
func parseDBTime(v any) (time.Time, error) {
	var s string
	switch x := v.(type) {
	case time.Time:
		return x.UTC(), nil
	case string:
		s = x
	case []byte:
		s = string(x)
	default:
		return time.Time{}, fmt.Errorf("unsupported timestamp type %T", v)
	}
	if t, ok := parseNaive(s); ok {
		return t, nil
	}
	for _, layout := range dbTimeLayouts {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("unparsable timestamp %q", s)
}

// parseNaive reads the one form keymanager and SQLAlchemy write, "YYYY-MM-DD HH:MM:SS[.fraction]" (or with a
// 'T'), by hand: every timestamp of every row read passes here, and time.Parse was a tenth of a list's cost.
func parseNaive(s string) (time.Time, bool) {
	if len(s) < 19 || s[4] != '-' || s[7] != '-' || (s[10] != ' ' && s[10] != 'T') || s[13] != ':' || s[16] != ':' {
		return time.Time{}, false
	}
	num := func(from, to int) (int, bool) {
		n := 0
		for i := from; i < to; i++ {
			c := s[i]
			if c < '0' || c > '9' {
				return 0, false
			}
			n = n*10 + int(c-'0')
		}
		return n, true
	}
	year, ok1 := num(0, 4)
	month, ok2 := num(5, 7)
	day, ok3 := num(8, 10)
	hour, ok4 := num(11, 13)
	minute, ok5 := num(14, 16)
	sec, ok6 := num(17, 19)
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || !ok6 || month < 1 || month > 12 || day < 1 || day > 31 ||
		hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	nsec := 0
	if len(s) > 19 {
		digits := len(s) - 20
		if s[19] != '.' || digits < 1 || digits > 9 {
			return time.Time{}, false
		}
		frac, ok := num(20, len(s))
		if !ok {
			return time.Time{}, false
		}
		for range 9 - digits {
			frac *= 10
		}
		nsec = frac
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC)
	if t.Day() != day { // 31 February and the like
		return time.Time{}, false
	}
	return t, true
}

// dbTime is the precision the database keeps: MySQL/MariaDB DATETIME (no
// fractional seconds, as created by the reference schema) truncates to whole
// seconds, SQLite keeps microseconds. Repository code stores dbTime(now) so
// that the values it returns equal what a later read returns.
func dbTime(tx *gorm.DB, t time.Time) time.Time {
	t = t.UTC()
	if tx.Dialector.Name() == "mysql" {
		return t.Truncate(time.Second)
	}
	return t.Truncate(time.Microsecond)
}
