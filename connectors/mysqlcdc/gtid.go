package mysqlcdc

import (
	"fmt"
	"strings"

	gomysql "github.com/go-mysql-org/go-mysql/mysql"
)

// gtidSource is the source of a GTID that gtid.source.includes/excludes
// match: a MySQL server UUID ("3e11fa47-71ca-11e1-9e33-c80aa9429562:23"),
// a MariaDB domain id ("0-1-42" → "0").
func gtidSource(mariadb bool, gtid string) string {
	if mariadb {
		d, _, _ := strings.Cut(gtid, "-")
		return d
	}
	u, _, _ := strings.Cut(gtid, ":")
	return strings.ToLower(strings.TrimSpace(u))
}

// splitGTIDSet splits a GTID set text into its per-source parts
// ("uuid:1-5:7", or MariaDB's "0-1-42").
func splitGTIDSet(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// restartGTIDs is the GTID set to start reading from after a restart: the
// offset's set for the sources the connector follows, and the server's
// own for the sources it skips (so the server does not send their
// transactions again), as Debezium does.
func restartGTIDs(mariadb bool, offsetSet, serverSet string, f *filters) (string, error) {
	flavor := gomysql.MySQLFlavor
	if mariadb {
		flavor = gomysql.MariaDBFlavor
	}
	if !f.gtidFiltered() {
		return offsetSet, nil
	}
	var parts []string
	for _, p := range splitGTIDSet(offsetSet) {
		if f.gtidSource(gtidSource(mariadb, p)) {
			parts = append(parts, p)
		}
	}
	for _, p := range splitGTIDSet(serverSet) {
		if !f.gtidSource(gtidSource(mariadb, p)) {
			parts = append(parts, p)
		}
	}
	set, err := gomysql.ParseGTIDSet(flavor, strings.Join(parts, ","))
	if err != nil {
		return "", fmt.Errorf("mysql-cdc: GTID set %q: %w", strings.Join(parts, ","), err)
	}
	return set.String(), nil
}
