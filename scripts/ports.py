"""Free local TCP ports for servers started side by side (the demo, the guide's check)."""

from __future__ import annotations

import socket


def free_ports(count: int) -> list[int]:
    """``count`` distinct free ports on 127.0.0.1.

    Every probe stays bound until all are chosen: a port released at once can
    be handed out again by the very next bind, and two servers told the same
    port leave one of them answering for both.
    """
    probes = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [int(probe.getsockname()[1]) for probe in probes]
    finally:
        for probe in probes:
            probe.close()
