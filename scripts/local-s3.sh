#!/usr/bin/env bash
# local-s3.sh - run a real S3-compatible server (moto's) on 127.0.0.1.
#
# For rulec's remote-path tests (tests/e2e/test_s3.py), and for trying `s3://`
# inputs and outputs without a cloud account. moto comes with rulec's test extras
# (pip install -e '.[test]').
#
# Usage:
#   scripts/local-s3.sh start    start the server (a no-op when it already runs)
#                                and wait until it answers. The LAST line of
#                                stdout is `export RULEC_TEST_S3=http://...`:
#                                  eval "$(scripts/local-s3.sh start | tail -1)"
#                                Point fsspec at it with
#                                  export FSSPEC_S3_ENDPOINT_URL=$RULEC_TEST_S3
#                                  export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
#   scripts/local-s3.sh stop     stop it (by recorded PID only).
#   scripts/local-s3.sh status   exit 0 when it answers, 3 when not.
#
# Environment knobs:
#   LOCAL_S3_DIR    state directory: pid, port and log files (default /tmp/rulec-s3)
#   LOCAL_S3_PORT   port (default 5123)
set -euo pipefail

dir=${LOCAL_S3_DIR:-/tmp/rulec-s3}
port=${LOCAL_S3_PORT:-5123}
python=${PYTHON:-python}
url="http://127.0.0.1:$port"

answers() {
    "$python" - "$1" <<'EOF' >/dev/null 2>&1
import sys, urllib.request
urllib.request.urlopen(sys.argv[1] + "/moto-api/", timeout=1).read()
EOF
}

case "${1:-}" in
start)
    mkdir -p "$dir"
    if ! answers "$url"; then
        if ! "$python" -c "import moto.server" 2>/dev/null; then
            echo "local-s3: moto is not installed: pip install 'moto[server]' (or pip install -e '.[test]')" >&2
            exit 1
        fi
        nohup "$python" -m moto.server -H 127.0.0.1 -p "$port" >"$dir/server.log" 2>&1 &
        echo $! >"$dir/pid"
        echo "$port" >"$dir/port"
        for _ in $(seq 1 150); do
            if answers "$url"; then break; fi
            if ! kill -0 "$(cat "$dir/pid")" 2>/dev/null; then
                echo "local-s3: the server exited; see $dir/server.log" >&2
                exit 1
            fi
            sleep 0.1
        done
        answers "$url" || { echo "local-s3: no answer from $url after 15 s" >&2; exit 1; }
        echo "local-s3: moto S3 server on $url (pid $(cat "$dir/pid"))" >&2
    fi
    echo "export RULEC_TEST_S3=$url"
    ;;
stop)
    if [[ -f $dir/pid ]]; then
        kill "$(cat "$dir/pid")" 2>/dev/null || true
        rm -f "$dir/pid"
    fi
    ;;
status)
    if answers "$url"; then echo "local-s3: $url answers"; exit 0; fi
    echo "local-s3: $url does not answer"
    exit 3
    ;;
*)
    echo "usage: $0 start|stop|status" >&2
    exit 2
    ;;
esac
