#!/usr/bin/env bash
# Prepares this machine for courier's interop tests, idempotently:
#
#   1. RabbitMQ answering on 127.0.0.1:5672 (installed from Debian's packages and started when
#      nothing listens there);
#   2. a TLS listener on 127.0.0.1:5671 whose server certificate (for 127.0.0.1 and localhost)
#      is signed by a throwaway CA; the tests read that CA at target/test-env/tls/ca.pem, and an
#      unrelated CA at target/test-env/tls/wrong-ca.pem;
#   3. a Python virtualenv at .venv with oslo.messaging 18.3.1 and oslo.context
#      (tests/python/requirements.txt), the real Python peers.
#
# Run it from anywhere: `scripts/test-env.sh && cargo test`. It prints what it did. It never
# restarts a broker whose TLS listener is already up, and tries to add the listener to a running
# broker before it falls back to restarting that broker. Everything listens on 127.0.0.1 only.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TLS_DIR="$ROOT/target/test-env/tls"
VENV="$ROOT/.venv"
REQUIREMENTS="$ROOT/tests/python/requirements.txt"
AMQP_PORT=5672
AMQPS_PORT=5671
# The broker's copy of the TLS material: the source of truth, since it outlives a work tree.
BROKER_TLS_DIR=/etc/rabbitmq/courier-test-tls
CONF_BEGIN="# BEGIN courier test-env, managed by scripts/test-env.sh"
CONF_END="# END courier test-env"

say() { printf 'test-env: %s\n' "$*"; }
die() {
    printf 'test-env: error: %s\n' "$*" >&2
    exit 1
}

as_root() {
    if [ "$(id -u)" = 0 ]; then
        "$@"
    elif command -v sudo >/dev/null; then
        sudo "$@"
    else
        die "needs root for: $* (run as root or install sudo)"
    fi
}

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_for_port PORT SECONDS
wait_for_port() {
    local deadline=$((SECONDS + $2))
    until listening "$1"; do
        [ "$SECONDS" -lt "$deadline" ] || return 1
        sleep 1
    done
}

# The main config file the broker reads (new-style sysctl format).
broker_config_file() {
    local file="${RABBITMQ_CONFIG_FILE:-}"
    if [ -z "$file" ] && [ -f /etc/rabbitmq/rabbitmq-env.conf ]; then
        file=$(sed -n 's/^[[:space:]]*\(export[[:space:]]\+\)\?CONFIG_FILE=//p' /etc/rabbitmq/rabbitmq-env.conf | tail -n1)
        file=${file//\"/}
    fi
    file=${file:-/etc/rabbitmq/rabbitmq.conf}
    case "$file" in *.conf) ;; *) file="$file.conf" ;; esac
    printf '%s\n' "$file"
}

start_broker() {
    say "starting RabbitMQ (rabbitmq-server -detached)"
    as_root rabbitmq-server -detached
    as_root timeout 180 rabbitmqctl await_startup >/dev/null || die "RabbitMQ did not finish starting (see /var/log/rabbitmq/)"
    wait_for_port "$AMQP_PORT" 60 || die "RabbitMQ started but nothing listens on 127.0.0.1:$AMQP_PORT"
}

# --- 1. the broker -------------------------------------------------------------------------

installed_broker=no
if ! command -v rabbitmq-server >/dev/null && ! [ -x /usr/sbin/rabbitmq-server ]; then
    say "installing rabbitmq-server from Debian's packages"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rabbitmq-server >/dev/null
    installed_broker=yes
fi
export PATH="$PATH:/usr/sbin:/sbin"

CONF=$(broker_config_file)
if [ ! -f "$CONF" ]; then
    # A fresh install has no config file and would listen on every interface: keep it local.
    say "writing $CONF (AMQP on 127.0.0.1:$AMQP_PORT only)"
    as_root mkdir -p "$(dirname "$CONF")"
    printf 'listeners.tcp.local = 127.0.0.1:%s\n' "$AMQP_PORT" | as_root tee "$CONF" >/dev/null
fi
if [ "$installed_broker" = yes ] && ! grep -q '^NODENAME=' /etc/rabbitmq/rabbitmq-env.conf 2>/dev/null; then
    say "keeping the new broker's Erlang distribution on 127.0.0.1"
    as_root tee -a /etc/rabbitmq/rabbitmq-env.conf >/dev/null <<'EOF'
NODENAME=rabbit@localhost
ERL_EPMD_ADDRESS=127.0.0.1
export ERL_FLAGS="-kernel inet_dist_use_interface {127,0,0,1}"
EOF
fi

if listening "$AMQP_PORT"; then
    say "RabbitMQ already answers on 127.0.0.1:$AMQP_PORT"
else
    if [ "$installed_broker" = yes ]; then
        # The package's post-install may have started a broker with the old settings.
        as_root rabbitmqctl stop >/dev/null 2>&1 || true
    fi
    start_broker
fi

# --- 2. TLS --------------------------------------------------------------------------------

# cert_ok CERT CA: the certificate verifies against the CA and is valid for another day.
cert_ok() {
    [ -s "$1" ] && [ -s "$2" ] &&
        openssl x509 -in "$1" -noout -checkend 86400 >/dev/null 2>&1 &&
        openssl verify -CAfile "$2" "$1" >/dev/null 2>&1
}

# make_ca DIR NAME CN: a self-signed CA, DIR/NAME.pem and DIR/NAME-key.pem.
make_ca() {
    openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 \
        -keyout "$1/$2-key.pem" -out "$1/$2.pem" -subj "/O=courier tests/CN=$3" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
}

if ! as_root test -r "$BROKER_TLS_DIR/server-key.pem" ||
    ! as_root bash -c "$(declare -f cert_ok); cert_ok '$BROKER_TLS_DIR/server.pem' '$BROKER_TLS_DIR/ca.pem'"; then
    say "generating a throwaway CA and a server certificate for 127.0.0.1/localhost"
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    make_ca "$work" ca "courier test CA"
    openssl req -new -newkey rsa:2048 -nodes -sha256 -keyout "$work/server-key.pem" \
        -out "$work/server.csr" -subj "/O=courier tests/CN=localhost" 2>/dev/null
    cat >"$work/server.ext" <<'EOF'
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
EOF
    openssl x509 -req -sha256 -days 3650 -in "$work/server.csr" -CA "$work/ca.pem" \
        -CAkey "$work/ca-key.pem" -CAcreateserial -extfile "$work/server.ext" \
        -out "$work/server.pem" 2>/dev/null
    as_root mkdir -p "$BROKER_TLS_DIR"
    as_root cp "$work/ca.pem" "$work/server.pem" "$work/server-key.pem" "$BROKER_TLS_DIR/"
    if id rabbitmq >/dev/null 2>&1; then
        as_root chown -R rabbitmq:rabbitmq "$BROKER_TLS_DIR"
    fi
    as_root chmod 0755 "$BROKER_TLS_DIR"
    as_root chmod 0600 "$BROKER_TLS_DIR/server-key.pem"
    rm -rf "$work"
    trap - EXIT
fi

mkdir -p "$TLS_DIR"
as_root cat "$BROKER_TLS_DIR/ca.pem" >"$TLS_DIR/ca.pem.new"
if cmp -s "$TLS_DIR/ca.pem.new" "$TLS_DIR/ca.pem"; then
    rm "$TLS_DIR/ca.pem.new"
else
    mv "$TLS_DIR/ca.pem.new" "$TLS_DIR/ca.pem"
    say "wrote $TLS_DIR/ca.pem"
fi
if ! [ -s "$TLS_DIR/wrong-ca.pem" ]; then
    make_ca "$TLS_DIR" wrong-ca "courier unrelated CA"
    say "wrote $TLS_DIR/wrong-ca.pem (a CA that signed nothing the broker serves)"
fi

tls_block() {
    cat <<EOF
$CONF_BEGIN
listeners.ssl.local = 127.0.0.1:$AMQPS_PORT
ssl_options.cacertfile = $BROKER_TLS_DIR/ca.pem
ssl_options.certfile = $BROKER_TLS_DIR/server.pem
ssl_options.keyfile = $BROKER_TLS_DIR/server-key.pem
ssl_options.verify = verify_none
ssl_options.fail_if_no_peer_cert = false
$CONF_END
EOF
}

current_block=$(sed -n "\%^$CONF_BEGIN\$%,\%^$CONF_END\$%p" "$CONF")
if [ "$current_block" != "$(tls_block)" ]; then
    say "configuring the TLS listener in $CONF"
    tmp=$(mktemp)
    sed "\%^$CONF_BEGIN\$%,\%^$CONF_END\$%d" "$CONF" >"$tmp"
    tls_block >>"$tmp"
    as_root cp "$tmp" "$CONF"
    rm -f "$tmp"
fi

if listening "$AMQPS_PORT"; then
    say "the TLS listener already answers on 127.0.0.1:$AMQPS_PORT"
else
    # The config above holds from the broker's next start; add the same listener to the
    # running broker now (and to its settings, so a `stop_app`/`start_app` keeps it) so that
    # other users of the broker are not disturbed by a restart.
    say "adding the TLS listener 127.0.0.1:$AMQPS_PORT to the running broker"
    as_root rabbitmqctl eval "
        Opts = [{cacertfile, \"$BROKER_TLS_DIR/ca.pem\"}, {certfile, \"$BROKER_TLS_DIR/server.pem\"},
                {keyfile, \"$BROKER_TLS_DIR/server-key.pem\"}, {verify, verify_none},
                {fail_if_no_peer_cert, false}],
        ok = application:set_env(rabbit, ssl_options, Opts),
        ok = application:set_env(rabbit, ssl_listeners, [{\"127.0.0.1\", $AMQPS_PORT}]),
        rabbit_networking:start_ssl_listener({\"127.0.0.1\", $AMQPS_PORT}, Opts, 1)." >/dev/null 2>&1 || true
    if ! wait_for_port "$AMQPS_PORT" 10; then
        say "restarting RabbitMQ to load its TLS configuration"
        as_root rabbitmqctl stop >/dev/null
        start_broker
        wait_for_port "$AMQPS_PORT" 60 || die "no TLS listener on 127.0.0.1:$AMQPS_PORT after a restart (see /var/log/rabbitmq/)"
    fi
fi

verify_out=$(openssl s_client -connect "127.0.0.1:$AMQPS_PORT" -CAfile "$TLS_DIR/ca.pem" \
    -verify_return_error -verify_ip 127.0.0.1 </dev/null 2>&1) ||
    die "the listener on 127.0.0.1:$AMQPS_PORT does not present a certificate from $TLS_DIR/ca.pem:
$(printf '%s\n' "$verify_out" | grep -i -m3 'verify\|error')"
say "TLS on 127.0.0.1:$AMQPS_PORT verifies against $TLS_DIR/ca.pem"

# --- 3. the Python peers -------------------------------------------------------------------

stamp="$VENV/.courier-requirements"
if [ -x "$VENV/bin/python" ] && cmp -s "$REQUIREMENTS" "$stamp" &&
    "$VENV/bin/python" -c 'import oslo_messaging, oslo_context' 2>/dev/null; then
    say "the virtualenv $VENV is ready ($("$VENV/bin/python" -c 'import importlib.metadata as m; print("oslo.messaging", m.version("oslo.messaging"))'))"
else
    if ! [ -x "$VENV/bin/python" ]; then
        say "creating the virtualenv $VENV"
        python3 -m venv "$VENV"
    fi
    say "installing $(grep -v '^#' "$REQUIREMENTS" | xargs) into $VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQUIREMENTS"
    cp "$REQUIREMENTS" "$stamp"
fi

say "ready: amqp://127.0.0.1:$AMQP_PORT, amqps://127.0.0.1:$AMQPS_PORT, $VENV/bin/python"
