#!/bin/sh
# Entrypoint of the Council images (web, migrate, CPU and GPU workers).
# Checks what a container most often gets wrong, then runs the command it was given:
#   - the *_FILE secrets must be readable by this (non-root) user; Compose bind-mounts
#     secret files with the host file's owner and mode, so a host file with mode 600
#     is unreadable here;
#   - COUNCIL_DATA_DIR must be writable (converted model cache, SQLite when no Postgres).
set -eu

for var in SECRET_KEY_FILE DATABASE_PASSWORD_FILE; do
    eval "path=\${$var:-}"
    if [ -n "$path" ] && [ ! -r "$path" ]; then
        echo "council: $var=$path is missing or not readable by uid $(id -u)." >&2
        echo "council: on the host, create it (docker/init-secrets.sh) and make it readable: chmod 644 <file>" >&2
        exit 78  # EX_CONFIG
    fi
done

data_dir="${COUNCIL_DATA_DIR:-./data}"
if ! mkdir -p "$data_dir" 2>/dev/null || [ ! -w "$data_dir" ]; then
    echo "council: warning: COUNCIL_DATA_DIR=$data_dir is not writable by uid $(id -u);" \
         "the converted-model cache (and SQLite, without DATABASE_URL) will fail." >&2
fi

if [ "$#" -eq 0 ]; then
    set -- daphne -b 0.0.0.0 -p 8000 council.asgi:application
fi
exec "$@"
