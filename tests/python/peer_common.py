"""What courier's Python interop peers share: configuration, the transport URL, JSON output.

Every peer speaks line-delimited JSON on stdout (one object a line, flushed at once) and logs to
stderr, so a Rust test reads its stdout line by line. Peers only ever talk to a broker on the
loopback interface.
"""

import argparse
import json
import os
import signal
import sys
import threading

from oslo_config import cfg
import oslo_messaging

DEFAULT_URL = "rabbit://guest:guest@127.0.0.1:5672/"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}

_stdout_lock = threading.Lock()


def emit(obj):
    """Writes one JSON line on stdout."""
    line = json.dumps(obj, ensure_ascii=True)
    with _stdout_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def arg_parser(description):
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--url",
        default=os.environ.get("COURIER_TRANSPORT_URL", DEFAULT_URL),
        help="transport URL (default: $COURIER_TRANSPORT_URL or %s)" % DEFAULT_URL,
    )
    parser.add_argument("--exchange", help="control exchange (default: openstack)")
    return parser


def setup(args):
    """Prepares the global cfg.CONF and returns the checked transport URL.

    oslo.messaging 18.3.1 registers some options (tracing) only on the global cfg.CONF, so
    transports must be built from it, never from a private ConfigOpts.
    """
    cfg.CONF([], project="courier-interop", default_config_files=[], default_config_dirs=[])
    if args.exchange:
        oslo_messaging.set_transport_defaults(control_exchange=args.exchange)
    url = oslo_messaging.TransportURL.parse(cfg.CONF, args.url)
    for host in url.hosts:
        if host.hostname not in LOOPBACK:
            sys.exit("refusing to talk to %r: courier's peers use 127.0.0.1 only" % host.hostname)
    return args.url


def stop_on_signal_or_eof(stop_event):
    """Sets stop_event on SIGTERM, SIGINT, or when stdin closes (the test that started us
    is gone or done)."""

    def on_signal(signum, frame):
        stop_event.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    def watch_stdin():
        for _ in sys.stdin:
            pass
        stop_event.set()

    threading.Thread(target=watch_stdin, daemon=True).start()


def describe_exception(exc):
    """The JSON a test asserts on for an exception a call raised."""
    if isinstance(exc, oslo_messaging.RemoteError):
        return {
            "type": "RemoteError",
            "exc_type": exc.exc_type,
            "value": exc.value,
            "message": str(exc),
        }
    return {
        "type": type(exc).__name__,
        "module": type(exc).__module__,
        "message": str(exc),
        "args": [a if isinstance(a, (str, int, float, bool, type(None))) else repr(a) for a in exc.args],
    }
