"""A real oslo.messaging RPC server for courier's interop tests.

    rpc_server.py --topic T --server S [--url URL] [--exchange E]

Prints {"event": "ready", ...} once it consumes, then {"event": "handled", "method": ...,
"server": ..., "payload": ..., "ctxt": ...} as each method starts, so casts and fanouts are
observable. Stops gracefully on SIGTERM, SIGINT or when stdin closes, printing
{"event": "stopped"}.

Endpoints (null namespace, version 1.0): echo(payload), fail() raising
ValueError('bad things', 42), slow(seconds), context(), whoami().
Endpoint (namespace "py", version 2.1): which().
"""

import threading
import time

from oslo_config import cfg
import oslo_messaging

import peer_common


class Interop(object):
    target = oslo_messaging.Target(version="1.0")

    def __init__(self, server):
        self.server = server

    def _handled(self, method, ctxt, payload=None):
        peer_common.emit(
            {"event": "handled", "server": self.server, "method": method, "payload": payload, "ctxt": ctxt}
        )

    def echo(self, ctxt, payload):
        self._handled("echo", ctxt, payload)
        return payload

    def fail(self, ctxt):
        self._handled("fail", ctxt)
        raise ValueError("bad things", 42)

    def slow(self, ctxt, seconds):
        self._handled("slow", ctxt, seconds)
        time.sleep(seconds)
        return seconds

    def context(self, ctxt):
        self._handled("context", ctxt)
        return ctxt

    def whoami(self, ctxt):
        self._handled("whoami", ctxt)
        return self.server


class Namespaced(object):
    target = oslo_messaging.Target(namespace="py", version="2.1")

    def which(self, ctxt):
        return "py-2.1"


def main():
    parser = peer_common.arg_parser(__doc__)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--server", required=True)
    args = parser.parse_args()
    url = peer_common.setup(args)

    transport = oslo_messaging.get_rpc_transport(cfg.CONF, url=url)
    target = oslo_messaging.Target(topic=args.topic, server=args.server)
    server = oslo_messaging.get_rpc_server(
        transport, target, [Interop(args.server), Namespaced()], executor="threading"
    )
    stop = threading.Event()
    peer_common.stop_on_signal_or_eof(stop)
    server.start()
    peer_common.emit({"event": "ready", "topic": args.topic, "server": args.server})
    stop.wait()
    server.stop()
    server.wait()
    transport.cleanup()
    peer_common.emit({"event": "stopped"})


if __name__ == "__main__":
    main()
