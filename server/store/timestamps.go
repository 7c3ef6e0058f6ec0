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
	for _, layout := range dbTimeLayouts {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("unparsable timestamp %q", s)
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
