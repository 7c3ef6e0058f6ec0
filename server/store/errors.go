package store

import (
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"syscall"

	"github.com/go-sql-driver/mysql"
	sqlite3 "github.com/mattn/go-sqlite3"
)

// MySQL server error numbers the store branches on.
const (
	mysqlDuplicateEntry     = 1062
	mysqlTooManyConnections = 1040
	mysqlUserConnections    = 1203
	mysqlLockWaitTimeout    = 1205
	mysqlDeadlock           = 1213
	mysqlServerShutdown     = 1053
	mysqlNoReferencedRow    = 1216
	mysqlNoReferencedRow2   = 1452
)

// classify wraps driver errors that callers branch on with the package's
// sentinels and returns other errors unchanged.
func classify(err error) error {
	if err == nil || errors.Is(err, ErrUnavailable) || errors.Is(err, ErrConflict) || errors.Is(err, ErrNotFound) {
		return err
	}
	if isUnavailable(err) {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if isUniqueViolation(err) {
		return fmt.Errorf("%w: %w", ErrConflict, err)
	}
	return err
}

func isUnavailable(err error) bool {
	if errors.Is(err, driver.ErrBadConn) || errors.Is(err, mysql.ErrInvalidConn) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) {
		return true
	}
	var myErr *mysql.MySQLError
	if errors.As(err, &myErr) {
		switch myErr.Number {
		case mysqlTooManyConnections, mysqlUserConnections, mysqlLockWaitTimeout, mysqlDeadlock, mysqlServerShutdown:
			return true
		}
		return false
	}
	var liteErr sqlite3.Error
	if errors.As(err, &liteErr) {
		return liteErr.Code == sqlite3.ErrBusy || liteErr.Code == sqlite3.ErrLocked
	}
	var netErr net.Error
	return errors.As(err, &netErr)
}

func isUniqueViolation(err error) bool {
	var myErr *mysql.MySQLError
	if errors.As(err, &myErr) {
		return myErr.Number == mysqlDuplicateEntry
	}
	var liteErr sqlite3.Error
	if errors.As(err, &liteErr) {
		return liteErr.ExtendedCode == sqlite3.ErrConstraintUnique ||
			liteErr.ExtendedCode == sqlite3.ErrConstraintPrimaryKey
	}
	return false
}

// isForeignKeyViolation reports whether err is a row pointing at a parent that does not exist.
func isForeignKeyViolation(err error) bool {
	var myErr *mysql.MySQLError
	if errors.As(err, &myErr) {
		return myErr.Number == mysqlNoReferencedRow || myErr.Number == mysqlNoReferencedRow2
	}
	var liteErr sqlite3.Error
	if errors.As(err, &liteErr) {
		return liteErr.ExtendedCode == sqlite3.ErrConstraintForeignKey
	}
	return false
}

// isRetryable reports whether a MySQL transaction failed only because of
// lock contention and may simply be run again.
func isRetryable(err error) bool {
	if errors.Is(err, errProjectRace) {
		return true
	}
	var myErr *mysql.MySQLError
	if errors.As(err, &myErr) {
		return myErr.Number == mysqlDeadlock || myErr.Number == mysqlLockWaitTimeout
	}
	return false
}
