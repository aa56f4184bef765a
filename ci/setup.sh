#!/usr/bin/env bash
# ci/setup.sh installs everything Sluice's tests need on a fresh Debian 12
# machine. CI runs it (as root) before the tests; developers may run it too.
#
# It is idempotent and non-interactive: each section checks whether its tool
# is already present and only then installs it. Add new sections at the end,
# following the same pattern (a header comment, a "need_*" check, an install).
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive

# Run privileged commands directly as root, through sudo otherwise.
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	SUDO="sudo"
fi

# apt_install installs Debian packages quietly, running "apt-get update" at
# most once per invocation of this script (and only when something is missing).
APT_UPDATED=0
apt_install() {
	if [ "$APT_UPDATED" -eq 0 ]; then
		$SUDO apt-get update -qq >/dev/null
		APT_UPDATED=1
	fi
	$SUDO apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# --- Section: kcat (librdkafka CLI) ------------------------------------------
# Used by internal/broker's interop test to check that a librdkafka-based
# client can list metadata, produce and consume in a group against
# `sluice broker`.
if ! command -v kcat >/dev/null 2>&1; then
	echo "ci/setup.sh: installing kcat"
	apt_install kcat
fi

# --- Section: PostgreSQL and MariaDB servers ----------------------------------
# Used by internal/testdb: the database connectors' tests start real servers
# from the system binaries on random loopback ports (PostgreSQL with
# wal_level=logical, MariaDB with a row-based binlog). Nothing is started
# here: installing the packages starts no service (no systemd).
if ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 && ! command -v pg_ctl >/dev/null 2>&1; then
	echo "ci/setup.sh: installing postgresql"
	apt_install postgresql
fi
if ! command -v mariadbd >/dev/null 2>&1 && [ ! -x /usr/sbin/mariadbd ]; then
	echo "ci/setup.sh: installing mariadb-server"
	apt_install mariadb-server mariadb-client
fi

# --- Add further sections below this line ------------------------------------

# --- Section: Confluent's Python Schema Registry client -----------------------
# Used by internal/registry's TestConfluentPythonClient: Confluent's own
# client (confluent_kafka.schema_registry, which needs requests) does a
# register / look-up / compatibility / delete round trip against the embedded
# registry. The test runs Debian's /usr/bin/python3.
if ! /usr/bin/python3 -c "import confluent_kafka.schema_registry" >/dev/null 2>&1; then
	echo "ci/setup.sh: installing python3-confluent-kafka"
	apt_install python3-confluent-kafka python3-requests
fi

echo "ci/setup.sh: done"
