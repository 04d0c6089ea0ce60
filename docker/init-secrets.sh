#!/bin/sh
# Create the files that compose.yaml mounts as secrets, once, with random values:
#   secrets/postgres_password   the Postgres password (POSTGRES_PASSWORD_FILE, DATABASE_PASSWORD_FILE)
#   secrets/django_secret_key   Django's SECRET_KEY (SECRET_KEY_FILE)
# Existing files are kept. Run from the repository root: sh docker/init-secrets.sh
#
# The files are mode 644 in a mode 700 folder: Compose (without Swarm) bind-mounts a
# secret file as it is on the host, and the containers run as non-root users
# (council uid 10001, postgres uid 999) that must be able to read it.
set -eu

dir="${1:-secrets}"
mkdir -p "$dir"
chmod 700 "$dir"

random() {
    # $1 bytes of randomness, URL-safe base64 (no '/', '+', '=' to trip a URL or a shell)
    head -c "$1" /dev/urandom | base64 | tr -d '\n/+='
}

for pair in postgres_password:32 django_secret_key:64; do
    name="${pair%%:*}"
    bytes="${pair##*:}"
    file="$dir/$name"
    if [ -s "$file" ]; then
        echo "kept    $file"
    else
        random "$bytes" > "$file"
        echo "created $file"
    fi
    chmod 644 "$file"
done
