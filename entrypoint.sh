#!/bin/sh
# Fail fast on configuration Python would only discover later, then exec uvicorn
# so that SIGTERM from ECS reaches the server directly.
set -eu

# The same lists as the Python side's (src/app_env.py AppEnv and REGION_PATTERN, src/config.py
# LogLevel): tests/unit/test_entrypoint_lists.py keeps them equal.
ALLOWED="local development test staging production"
LOG_LEVELS="critical error warning info debug trace"
REGION_PATTERN='^[a-z]{2}(-[a-z]+)+-[0-9]+$'

fail() {
    printf 'entrypoint: %s\n' "$1" >&2
    exit 78 # EX_CONFIG
}

# one_of VALUE LIST: whether VALUE is exactly one of the words of LIST.
one_of() {
    for item in $2; do
        if [ "$1" = "$item" ]; then return 0; fi
    done
    return 1
}

suggest_env() {
    given=$(printf '%s' "$1" | tr '[:upper:]' '[:lower:]')
    case "$given" in
        prod | prd | live) echo production; return ;;
        stage | stg) echo staging; return ;;
        dev | develop) echo development; return ;;
        tst | testing) echo test; return ;;
        loc | localhost) echo local; return ;;
    esac
    for env in $ALLOWED; do
        case "$env" in "$given"*) echo "$env"; return ;; esac
        case "$given" in "$env"*) echo "$env"; return ;; esac
    done
}

APP_ENV="${APP_ENV:-local}"
if ! one_of "$APP_ENV" "$ALLOWED"; then
    nearest=$(suggest_env "$APP_ENV")
    if [ -n "$nearest" ]; then
        fail "APP_ENV='$APP_ENV' is not one of: $ALLOWED (did you mean '$nearest'?)"
    fi
    fail "APP_ENV='$APP_ENV' is not one of: $ALLOWED"
fi
export APP_ENV

if [ "$APP_ENV" = staging ] || [ "$APP_ENV" = production ]; then
    region="${AWS_REGION:-${AWS_DEFAULT_REGION:-}}"
    if [ -z "$region" ]; then
        fail "AWS_REGION is required when APP_ENV=$APP_ENV (for example AWS_REGION=us-east-1)"
    fi
    # grep matches line by line: a value with a newline ("us-east-1" then anything) must not pass.
    if [ "$region" != "${region%%[[:space:]]*}" ] || ! printf '%s' "$region" | grep -Eq "$REGION_PATTERN"; then
        fail "AWS_REGION='$region' is not an AWS region name (for example us-east-1)"
    fi
    export AWS_REGION="$region"
    # The replica's Region (empty: no failover), checked as AWS_REGION is.
    failover="${SECRETS_FAILOVER_REGION:-}"
    if [ -n "$failover" ] && { [ "$failover" != "${failover%%[[:space:]]*}" ] || ! printf '%s' "$failover" | grep -Eq "$REGION_PATTERN"; }; then
        fail "SECRETS_FAILOVER_REGION='$failover' is not an AWS region name (for example us-west-2)"
    fi
fi

PORT="${PORT:-8000}"
case "$PORT" in
    '' | *[!0-9]*) fail "PORT='$PORT' is not a port number" ;;
esac
if [ "$PORT" -lt 1 ] || [ "$PORT" -gt 65535 ]; then
    fail "PORT='$PORT' is not a port number from 1 to 65535"
fi
HOST="${HOST:-0.0.0.0}"
LOG_LEVEL=$(printf '%s' "${LOG_LEVEL:-info}" | tr '[:upper:]' '[:lower:]')
if ! one_of "$LOG_LEVEL" "$LOG_LEVELS"; then
    fail "LOG_LEVEL='$LOG_LEVEL' is not one of: $LOG_LEVELS"
fi
export LOG_LEVEL

cd "$(dirname "$0")"
# --no-proxy-headers: /health decides what to show on the socket's own peer address, and
# X-Forwarded-For from a client must never make it look like loopback.
exec "${PYTHON:-python}" -m uvicorn src.main:app \
    --host "$HOST" --port "$PORT" --log-level "$LOG_LEVEL" \
    --no-server-header --no-proxy-headers --timeout-graceful-shutdown 10
