package jdbc

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// connSpec is a parsed connection.url: which database and how to reach it
// with the Go driver. It holds the password: never print it.
type connSpec struct {
	kind   dialectKind
	pg     *pgx.ConnConfig
	my     *mysql.Config
	sqlite string // modernc.org/sqlite DSN
	// database is the database (PostgreSQL, MySQL) or file (SQLite) named
	// by the URL, for messages.
	database string
}

// Properties of JDBC URLs that the Go drivers have no use for (they tune
// the JDBC driver itself: statement caches, batch rewriting, logging).
// They are accepted so that Confluent configurations work unchanged.
var (
	pgIgnoredProps = []string{"reWriteBatchedInserts", "prepareThreshold", "preparedStatementCacheQueries",
		"preparedStatementCacheSizeMiB", "defaultRowFetchSize", "tcpKeepAlive", "socketTimeout", "stringtype",
		"binaryTransfer", "assumeMinServerVersion", "loggerLevel", "loggerFile", "logUnclosedConnections",
		"readOnly", "autosave", "cancelSignalTimeout", "sslfactory", "sslpassword", "gssEncMode", "protocolVersion"}
	myIgnoredProps = []string{"rewriteBatchedStatements", "useServerPrepStmts", "cachePrepStmts", "prepStmtCacheSize",
		"prepStmtCacheSqlLimit", "useUnicode", "characterEncoding", "autoReconnect", "useLegacyDatetimeCode",
		"useJDBCCompliantTimezoneShift", "nullCatalogMeansCurrent", "nullDatabaseMeansCurrent", "tinyInt1isBit",
		"serverTimezone", "connectionTimeZone", "forceConnectionTimeZoneToSession", "allowPublicKeyRetrieval",
		"zeroDateTimeBehavior", "useCursorFetch", "defaultFetchSize", "allowMultiQueries", "useAffectedRows",
		"trustServerCertificate", "enabledTLSProtocols", "permitMysqlScheme", "useBulkStmts", "maxQuerySizeToLog"}
)

func contains(list []string, s string) bool {
	for _, e := range list {
		if strings.EqualFold(e, s) {
			return true
		}
	}
	return false
}

// parseConnectionURL translates a JDBC URL (jdbc:postgresql://,
// jdbc:mysql://, jdbc:mariadb://, jdbc:sqlite:) or a PostgreSQL URL
// (postgres://) into the Go driver's configuration. user and password, when
// not empty, take precedence over the URL's.
func parseConnectionURL(raw, user, password string, loc *time.Location) (*connSpec, error) {
	s := strings.TrimSpace(raw)
	lower := strings.ToLower(s)
	switch {
	case strings.HasPrefix(lower, "jdbc:postgresql:"):
		return parsePostgresURL(s[len("jdbc:postgresql:"):], user, password)
	case strings.HasPrefix(lower, "postgres://"), strings.HasPrefix(lower, "postgresql://"):
		return parseNativePostgresURL(s, user, password)
	case strings.HasPrefix(lower, "jdbc:mysql:"):
		return parseMySQLURL(s[len("jdbc:mysql:"):], user, password, loc)
	case strings.HasPrefix(lower, "jdbc:mariadb:"):
		return parseMySQLURL(s[len("jdbc:mariadb:"):], user, password, loc)
	case strings.HasPrefix(lower, "jdbc:sqlite:"):
		return parseSQLiteURL(s[len("jdbc:sqlite:"):])
	}
	return nil, errors.New("unsupported URL: want jdbc:postgresql://host:port/database, jdbc:mysql://host:port/database, jdbc:mariadb://host:port/database, jdbc:sqlite:path or a postgres:// URL")
}

// splitProps splits "a=1&b=2" (and JDBC's ';'-separated form) into keys
// and values, unescaping them.
func splitProps(q string) ([][2]string, error) {
	var out [][2]string
	for _, part := range strings.FieldsFunc(q, func(r rune) bool { return r == '&' || r == ';' }) {
		k, v, _ := strings.Cut(part, "=")
		key, err := url.QueryUnescape(k)
		if err != nil {
			return nil, fmt.Errorf("property %q: %v", k, err)
		}
		val, err := url.QueryUnescape(v)
		if err != nil {
			return nil, fmt.Errorf("property %q: %v", key, err)
		}
		out = append(out, [2]string{key, val})
	}
	return out, nil
}

// splitHostPath splits "//host:port,host2/db?props" into hosts, database
// and properties. JDBC URLs may carry "user:password@" before the hosts
// (MySQL Connector/J accepts it).
func splitHostPath(rest string) (userinfo, hosts, database, props string, err error) {
	if !strings.HasPrefix(rest, "//") {
		// jdbc:postgresql:database
		database, props, _ = strings.Cut(rest, "?")
		return "", "", database, props, nil
	}
	rest = rest[2:]
	rest, props, _ = strings.Cut(rest, "?")
	hosts, database, _ = strings.Cut(rest, "/")
	if at := strings.LastIndex(hosts, "@"); at >= 0 {
		userinfo, hosts = hosts[:at], hosts[at+1:]
	}
	return userinfo, hosts, database, props, nil
}

func parsePostgresURL(rest, user, password string) (*connSpec, error) {
	userinfo, hosts, database, props, err := splitHostPath(rest)
	if err != nil {
		return nil, err
	}
	if hosts == "" {
		hosts = "localhost"
	}
	db, err := url.PathUnescape(database)
	if err != nil {
		return nil, fmt.Errorf("database %q: %v", database, err)
	}
	pairs, err := splitProps(props)
	if err != nil {
		return nil, err
	}
	q := url.Values{}
	urlUser, urlPassword := "", ""
	if userinfo != "" {
		u, p, _ := strings.Cut(userinfo, ":")
		urlUser, _ = url.PathUnescape(u)
		urlPassword, _ = url.PathUnescape(p)
	}
	var unknown []string
	for _, kv := range pairs {
		k, v := kv[0], kv[1]
		switch {
		case k == "user":
			urlUser = v
		case k == "password":
			urlPassword = v
		case k == "ssl":
			if strings.EqualFold(v, "true") && !hasProp(pairs, "sslmode") {
				q.Set("sslmode", "verify-full")
			}
		case k == "sslmode", k == "sslrootcert", k == "sslcert", k == "sslkey", k == "options", k == "service",
			k == "target_session_attrs", k == "application_name", k == "search_path", k == "connect_timeout":
			q.Set(k, v)
		case k == "currentSchema":
			q.Set("search_path", v)
		case k == "ApplicationName":
			q.Set("application_name", v)
		case k == "connectTimeout", k == "loginTimeout":
			if !q.Has("connect_timeout") || k == "connectTimeout" {
				q.Set("connect_timeout", v)
			}
		case k == "targetServerType":
			switch strings.ToLower(v) {
			case "any":
				q.Set("target_session_attrs", "any")
			case "primary", "master":
				q.Set("target_session_attrs", "primary")
			case "secondary", "slave", "standby":
				q.Set("target_session_attrs", "standby")
			case "prefersecondary", "preferslave", "preferstandby":
				q.Set("target_session_attrs", "prefer-standby")
			default:
				return nil, fmt.Errorf("targetServerType %q is not supported (want any, primary, secondary or preferSecondary)", v)
			}
		case contains(pgIgnoredProps, k):
		default:
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		return nil, fmt.Errorf("unsupported PostgreSQL URL properties %s (supported: user, password, ssl, sslmode, sslrootcert, sslcert, sslkey, currentSchema, ApplicationName, connectTimeout, loginTimeout, targetServerType, options; ignored: %s)",
			strings.Join(unknown, ", "), strings.Join(pgIgnoredProps, ", "))
	}
	u := url.URL{Scheme: "postgres", Host: hosts, Path: "/" + db, RawQuery: q.Encode()}
	cfg, err := pgx.ParseConfig(u.String())
	if err != nil {
		return nil, err
	}
	setPGCredentials(cfg, urlUser, urlPassword, user, password)
	return &connSpec{kind: dialectPostgres, pg: cfg, database: cfg.Database}, nil
}

func hasProp(pairs [][2]string, key string) bool {
	for _, kv := range pairs {
		if kv[0] == key {
			return true
		}
	}
	return false
}

func setPGCredentials(cfg *pgx.ConnConfig, urlUser, urlPassword, user, password string) {
	if urlUser != "" {
		cfg.User = urlUser
	}
	if urlPassword != "" {
		cfg.Password = urlPassword
	}
	if user != "" {
		cfg.User = user
	}
	if password != "" {
		cfg.Password = password
	}
}

func parseNativePostgresURL(s, user, password string) (*connSpec, error) {
	cfg, err := pgx.ParseConfig(s)
	if err != nil {
		return nil, err
	}
	setPGCredentials(cfg, "", "", user, password)
	return &connSpec{kind: dialectPostgres, pg: cfg, database: cfg.Database}, nil
}

func parseMySQLURL(rest, user, password string, loc *time.Location) (*connSpec, error) {
	userinfo, hosts, database, props, err := splitHostPath(rest)
	if err != nil {
		return nil, err
	}
	if hosts == "" {
		hosts = "localhost"
	}
	if strings.Contains(hosts, ",") {
		return nil, errors.New("several hosts (failover, load balancing) are not supported: name one host")
	}
	host, port := hosts, "3306"
	if h, p, err := net.SplitHostPort(hosts); err == nil {
		host, port = h, p
	}
	cfg := mysql.NewConfig()
	cfg.Net = "tcp"
	cfg.Addr = net.JoinHostPort(strings.Trim(host, "[]"), port)
	if cfg.DBName, err = url.PathUnescape(database); err != nil {
		return nil, fmt.Errorf("database %q: %v", database, err)
	}
	if userinfo != "" {
		u, p, _ := strings.Cut(userinfo, ":")
		cfg.User, _ = url.PathUnescape(u)
		cfg.Passwd, _ = url.PathUnescape(p)
	}
	pairs, err := splitProps(props)
	if err != nil {
		return nil, err
	}
	var unknown []string
	tls, verify := "", ""
	for _, kv := range pairs {
		k, v := kv[0], kv[1]
		switch {
		case k == "user":
			cfg.User = v
		case k == "password":
			cfg.Passwd = v
		case strings.EqualFold(k, "useSSL"), k == "requireSSL":
			if strings.EqualFold(v, "true") {
				if tls == "" {
					tls = "skip-verify"
				}
			} else if k != "requireSSL" {
				tls = "false"
			}
		case k == "verifyServerCertificate":
			verify = strings.ToLower(v)
		case k == "sslMode", k == "sslmode":
			switch strings.ToLower(v) {
			case "disabled", "disable":
				tls = "false"
			case "preferred":
				tls = "preferred"
			case "required", "trust":
				tls = "skip-verify"
			case "verify_ca", "verify_identity", "verify-ca", "verify-full":
				tls = "true"
			default:
				return nil, fmt.Errorf("sslMode %q is not supported (want DISABLED, PREFERRED, REQUIRED, VERIFY_CA or VERIFY_IDENTITY)", v)
			}
		case k == "connectTimeout":
			ms, err := strconv.Atoi(v)
			if err != nil {
				return nil, fmt.Errorf("connectTimeout %q: want milliseconds", v)
			}
			cfg.Timeout = time.Duration(ms) * time.Millisecond
		case k == "socketTimeout":
			ms, err := strconv.Atoi(v)
			if err != nil {
				return nil, fmt.Errorf("socketTimeout %q: want milliseconds", v)
			}
			cfg.ReadTimeout = time.Duration(ms) * time.Millisecond
			cfg.WriteTimeout = cfg.ReadTimeout
		case contains(myIgnoredProps, k):
		default:
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return nil, fmt.Errorf("unsupported MySQL URL properties %s (supported: user, password, useSSL, requireSSL, verifyServerCertificate, sslMode, connectTimeout, socketTimeout; ignored: %s)",
			strings.Join(unknown, ", "), strings.Join(myIgnoredProps, ", "))
	}
	if tls == "skip-verify" && verify == "true" {
		tls = "true"
	}
	if tls != "" {
		cfg.TLSConfig = tls
	}
	if user != "" {
		cfg.User = user
	}
	if password != "" {
		cfg.Passwd = password
	}
	// Times are exchanged in db.timezone: DATETIME values are read and
	// written as wall-clock times there, and the session's time_zone is set
	// to it so that TIMESTAMP columns (stored in UTC) convert the same way.
	cfg.ParseTime = true
	cfg.Loc = loc
	cfg.Params = map[string]string{"time_zone": "'" + mysqlZone(loc) + "'"}
	if err := cfg.Apply(); err != nil {
		return nil, err
	}
	return &connSpec{kind: dialectMySQL, my: cfg, database: cfg.DBName}, nil
}

// mysqlZone names loc for MySQL's time_zone: UTC as an offset, which
// needs no time zone tables on the server, other zones by name (the server
// must have its time zone tables loaded: mariadb-tzinfo-to-sql).
func mysqlZone(loc *time.Location) string {
	if loc == nil || loc == time.UTC || loc.String() == "UTC" {
		return "+00:00"
	}
	return loc.String()
}

func parseSQLiteURL(rest string) (*connSpec, error) {
	path, props, _ := strings.Cut(rest, "?")
	if path == "" {
		return nil, errors.New("jdbc:sqlite: needs a file path (jdbc:sqlite:/var/lib/app.db)")
	}
	if props != "" {
		return nil, fmt.Errorf("jdbc:sqlite URL properties (%s) are not supported: set SQLite pragmas in the database", props)
	}
	path = strings.TrimPrefix(path, "file:")
	q := url.Values{}
	// Writers wait for each other rather than fail with SQLITE_BUSY, and
	// take the write lock when their transaction starts (no lock upgrade
	// deadlocks between a reader turned writer and another writer).
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_txlock", "immediate")
	dsn := "file:" + path + "?" + q.Encode()
	return &connSpec{kind: dialectSQLite, sqlite: dsn, database: path}, nil
}

// open opens a connection pool and checks that the database answers, trying
// attempts times with backoff in between (connection.attempts,
// connection.backoff.ms). A database that cannot be reached is a
// RetriableError for the worker to retry.
func (c *connSpec) open(ctx context.Context, attempts int, backoff time.Duration) (*sql.DB, error) {
	var db *sql.DB
	switch c.kind {
	case dialectPostgres:
		db = stdlib.OpenDB(*c.pg)
	case dialectMySQL:
		conn, err := mysql.NewConnector(c.my)
		if err != nil {
			return nil, err
		}
		db = sql.OpenDB(conn)
	case dialectSQLite:
		var err error
		if db, err = sql.Open("sqlite", c.sqlite); err != nil {
			return nil, err
		}
	}
	if attempts < 1 {
		attempts = 1
	}
	var err error
	for i := 0; i < attempts; i++ {
		if i > 0 {
			select {
			case <-ctx.Done():
				db.Close()
				return nil, ctx.Err()
			case <-time.After(backoff):
			}
		}
		pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err = db.PingContext(pctx)
		cancel()
		if err == nil {
			return db, nil
		}
	}
	db.Close()
	return nil, fmt.Errorf("connect to %s database %q (%d attempts): %w", c.kind, c.database, attempts, err)
}
