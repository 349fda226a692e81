"""A small nova-style compute service, the Python side of courier's porting guide (docs/porting.md).

    nova_compute.py server --topic T --server S [--url URL]
    nova_compute.py client --topic T --calls N [--url URL]

`server` serves ComputeManager on the topic as server S, like nova-compute, printing
{"event": "ready"} once it consumes and {"event": "handled", "server": S, "method": M} as each
method starts. It stops on SIGTERM, SIGINT or when stdin closes.

`client` makes N calls through ComputeAPI (nova's rpcapi.py style: a client class whose methods
prepare() the RPCClient and call by name), cycling through the methods, and checks each result
against the reference implementation called in-process. It prints {"event": "result", ...} per
call and {"event": "done", "calls": N, "ok": K, "mismatches": [...], "errors": [...]} at the end.
"""

import sys
import threading

from oslo_config import cfg
import oslo_messaging

import peer_common


class ComputeManager(object):
    """The endpoint being ported: what nova-compute serves (much reduced)."""

    target = oslo_messaging.Target(version="5.1")

    def __init__(self, host):
        self.host = host

    def _handled(self, method):
        peer_common.emit({"event": "handled", "server": self.host, "method": method})

    def get_console_output(self, context, instance, tail_length):
        self._handled("get_console_output")
        lines = ["[%s] boot line %d" % (instance["uuid"], n) for n in range(10)]
        if tail_length is not None:
            lines = lines[-tail_length:] if tail_length else []
        return "\n".join(lines)

    def get_instance_diagnostics(self, context, instance):
        self._handled("get_instance_diagnostics")
        return {
            "uuid": instance["uuid"],
            "state": "running",
            "cpu_count": instance["vcpus"],
            "memory_mb": instance["memory_mb"],
            "nic_count": len(instance.get("networks", [])),
        }

    def reserve_block_device_name(self, context, instance, device, volume_id):
        self._handled("reserve_block_device_name")
        return device or "/dev/vd%s" % "bcdefgh"[len(volume_id) % 7]

    def reboot_instance(self, context, instance, reboot_type):
        self._handled("reboot_instance")


class ComputeAPI(object):
    """The client API, as nova's compute/rpcapi.py writes it."""

    def __init__(self, transport, topic):
        target = oslo_messaging.Target(topic=topic, version="5.0")
        self.client = oslo_messaging.get_rpc_client(transport, target, version_cap="5.1")

    def get_console_output(self, ctxt, instance, tail_length):
        cctxt = self.client.prepare(version="5.0")
        return cctxt.call(ctxt, "get_console_output", instance=instance, tail_length=tail_length)

    def get_instance_diagnostics(self, ctxt, instance):
        cctxt = self.client.prepare(version="5.0")
        return cctxt.call(ctxt, "get_instance_diagnostics", instance=instance)

    def reserve_block_device_name(self, ctxt, instance, device, volume_id):
        cctxt = self.client.prepare(version="5.1", timeout=30)
        return cctxt.call(
            ctxt, "reserve_block_device_name", instance=instance, device=device, volume_id=volume_id
        )


def instance_for(n):
    return {
        "uuid": "inst-%04d" % n,
        "vcpus": 1 + n % 8,
        "memory_mb": 512 * (1 + n % 4),
        "networks": ["net-%d" % k for k in range(n % 3)],
    }


def call_plan(n):
    """The n-th call: (method, kwargs), cycling through the methods with varied arguments."""
    instance = instance_for(n)
    which = n % 3
    if which == 0:
        return "get_console_output", {"instance": instance, "tail_length": [None, 0, 3, 20][n % 4]}
    if which == 1:
        return "get_instance_diagnostics", {"instance": instance}
    return "reserve_block_device_name", {
        "instance": instance,
        "device": None if n % 2 else "/dev/vdz",
        "volume_id": "vol-" + "x" * (n % 11),
    }


def serve(args, url):
    transport = oslo_messaging.get_rpc_transport(cfg.CONF, url=url)
    target = oslo_messaging.Target(topic=args.topic, server=args.server)
    server = oslo_messaging.get_rpc_server(
        transport, target, [ComputeManager(args.server)], executor="threading"
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


def drive(args, url):
    transport = oslo_messaging.get_rpc_transport(cfg.CONF, url=url)
    api = ComputeAPI(transport, args.topic)
    reference = ComputeManager("reference")
    reference._handled = lambda method: None
    ctxt = {"user": "porting-guide", "project_id": "demo", "request_id": "req-porting"}
    ok, mismatches, errors = 0, [], []
    for n in range(args.calls):
        method, kwargs = call_plan(n)
        expected = getattr(reference, method)(ctxt, **kwargs)
        try:
            result = getattr(api, method)(ctxt, **kwargs)
        except Exception as exc:  # every failure is reported to the test
            errors.append({"n": n, "method": method, "error": peer_common.describe_exception(exc)})
            continue
        if result == expected:
            ok += 1
        else:
            mismatches.append({"n": n, "method": method, "expected": expected, "got": result})
        peer_common.emit({"event": "result", "n": n, "method": method, "result": result})
    peer_common.emit(
        {"event": "done", "calls": args.calls, "ok": ok, "mismatches": mismatches, "errors": errors}
    )
    transport.cleanup()


def main():
    parser = peer_common.arg_parser(__doc__)
    parser.add_argument("role", choices=["server", "client"])
    parser.add_argument("--topic", required=True)
    parser.add_argument("--server", default="py-compute")
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()
    url = peer_common.setup(args)
    if args.role == "server":
        serve(args, url)
    else:
        drive(args, url)


if __name__ == "__main__":
    sys.exit(main())
