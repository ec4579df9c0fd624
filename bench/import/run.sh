#!/usr/bin/env bash
# Measures bulk import and export through the real server and CLI on both
# engines: a generated NDJSON file of ROWS users (default 1,000,000) is
# imported with `roster import`, then exported with `roster export`; it
# prints rows/s for each and the server's peak RSS (VmHWM) after each.
# PostgreSQL runs in a throwaway cluster (bench/pgcluster).
#
#   bench/import/run.sh [ROWS]
set -euo pipefail
cd "$(dirname "$0")/../.."
rows=${1:-1000000}
work=$(mktemp -d)
server=""
cleanup() {
	if [ -n "$server" ]; then kill "$server" 2>/dev/null; wait "$server" 2>/dev/null; fi
	rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/roster" ./cmd/roster
go build -o "$work/pgcluster" ./bench/pgcluster
awk -v n="$rows" 'BEGIN { for (i = 0; i < n; i++) printf "{\"name\":\"User %d\",\"email\":\"user%d@example.com\"}\n", i, i }' >"$work/users.ndjson"
echo "file: $rows rows, $(du -h "$work/users.ndjson" | cut -f1)"

export JWT_SECRET=bench-secret-of-at-least-32-bytes-long
token=$("$work/roster" token --sub bench --role admin --ttl 1h)
port=18080

now() { date +%s.%N; }
rate() { awk -v n="$rows" -v a="$1" -v b="$2" 'BEGIN { printf "%.0f rows/s (%.1f s)", n / (b - a), b - a }'; }
peak() { awk '/VmHWM/ { printf "%.0f MB", $2 / 1024 }' "/proc/$server/status"; }

for engine in sqlite postgres; do
	if [ "$engine" = postgres ]; then
		# The cluster lives until its stdin closes (see bench/pgcluster).
		coproc PG { "$work/pgcluster"; }
		read -r db <&"${PG[0]}"
	else
		db="sqlite:$work/roster.db"
	fi
	"$work/roster" serve --addr "127.0.0.1:$port" --admin-addr "" --db "$db" --rate-limit 0 --log-format json \
		>"$work/serve-$engine.log" 2>&1 &
	server=$!
	until curl -sf "http://127.0.0.1:$port/health" >/dev/null; do sleep 0.1; done

	t0=$(now)
	ROSTER_TOKEN=$token "$work/roster" import --url "http://127.0.0.1:$port" "$work/users.ndjson" 2>"$work/import.err" || { cat "$work/import.err"; exit 1; }
	t1=$(now)
	echo "$engine import: $(rate "$t0" "$t1"), server peak RSS $(peak); $(tail -1 "$work/import.err")"

	t0=$(now)
	ROSTER_TOKEN=$token "$work/roster" export --url "http://127.0.0.1:$port" -o "$work/export.ndjson" 2>/dev/null
	t1=$(now)
	echo "$engine export: $(rate "$t0" "$t1"), server peak RSS $(peak); $(wc -l <"$work/export.ndjson") lines"

	kill "$server"
	wait "$server" || true
	server=""
	if [ "$engine" = postgres ]; then
		pg=$PG_PID
		eval "exec ${PG[1]}>&-"
		wait "$pg" || true
	fi
	port=$((port + 1))
done
