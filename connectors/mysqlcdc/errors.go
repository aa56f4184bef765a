package mysqlcdc

import (
	"errors"
	"fmt"

	gomysql "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-sql-driver/mysql"
)

// Server error numbers the connector explains (MySQL's and MariaDB's
// share them).
const (
	erDBAccessDenied     = 1044 // ER_DBACCESS_DENIED_ERROR
	erAccessDenied       = 1045 // ER_ACCESS_DENIED_ERROR: user or password
	erTableAccessDenied  = 1142 // ER_TABLEACCESS_DENIED_ERROR
	erColumnAccessDenied = 1143 // ER_COLUMNACCESS_DENIED_ERROR
	erSpecificAccess     = 1227 // ER_SPECIFIC_ACCESS_DENIED_ERROR: a global privilege
	erBinlogRead         = 1236 // ER_MASTER_FATAL_ERROR_READING_BINLOG: purged file, unknown GTID
	erNoPasswordDenied   = 1698 // ER_ACCESS_DENIED_NO_PASSWORD_ERROR
)

// serverErrorCode returns the server's error number carried by err (from
// database/sql's driver or from the binlog client), or 0.
func serverErrorCode(err error) uint16 {
	var se *mysql.MySQLError
	if errors.As(err, &se) {
		return se.Number
	}
	var be *gomysql.MyError
	if errors.As(err, &be) {
		return be.Code
	}
	return 0
}

// grantHint is the statement that grants what the connector needs.
const grantHint = "GRANT SELECT, RELOAD, SHOW DATABASES, REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO <user> (MariaDB 10.5+: REPLICATION CLIENT is BINLOG MONITOR)"

// explainServerError turns the errors no retry can fix (wrong credentials,
// missing privileges, a binlog position the server no longer has) into
// permanent errors that say what to do; other errors come back unchanged
// (the caller decides whether they are worth retrying). stage names what
// the connector was doing, for the message.
func (c *config) explainServerError(stage string, err error) (explained error, permanent bool) {
	return c.explain(stage, false, err)
}

// explainBinlogError is explainServerError for the replication connection,
// opened after the SQL connection accepted the same credentials: there the
// server's "access denied" (MariaDB answers COM_REGISTER_SLAVE so) means
// the REPLICATION SLAVE privilege is missing.
func (c *config) explainBinlogError(stage string, err error) (explained error, permanent bool) {
	return c.explain(stage, true, err)
}

func (c *config) explain(stage string, authenticated bool, err error) (error, bool) {
	code := serverErrorCode(err)
	if authenticated && code == erAccessDenied {
		return fmt.Errorf("mysql-cdc: %s: user %q may not read the binlog: it needs the REPLICATION SLAVE privilege (%s): %w", stage, c.user, grantHint, err), true
	}
	switch code {
	case erAccessDenied, erNoPasswordDenied:
		return fmt.Errorf("mysql-cdc: %s: the server refused user %q at %s:%d (check database.user and database.password): %w", stage, c.user, c.host, c.port, err), true
	case erSpecificAccess, erDBAccessDenied, erTableAccessDenied, erColumnAccessDenied:
		return fmt.Errorf("mysql-cdc: %s: user %q lacks a privilege the connector needs: %s: %w", stage, c.user, grantHint, err), true
	case erBinlogRead:
		return fmt.Errorf("mysql-cdc: %s: the server cannot send the binlog from the connector's position (its binlog files were purged, or the GTID set is not in them): "+
			"with snapshot.mode=when_needed the connector snapshots again; otherwise reset the connector's offsets to start over, and keep binlogs longer (binlog_expire_logs_seconds): %w", stage, err), true
	}
	return err, false
}
