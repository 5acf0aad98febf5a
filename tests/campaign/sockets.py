"""The sockets of a local Ray's processes, for the loopback-only tests.

:func:`off_loopback_sockets` walks this process, its descendants and every process whose
command line names the Ray session directory (and their descendants), and lists each
TCP/UDP socket of theirs with an address off loopback: a listening or bound socket on
another interface (or on all of them: the IPv4 or IPv6 wildcard), or a connection to another
host. Unix sockets are not network sockets and are left out.
"""

from __future__ import annotations

import ipaddress
import os

import psutil

__all__ = ["off_loopback_sockets", "ray_processes"]


def _is_loopback(ip: str) -> bool:
    address = ipaddress.ip_address(ip.split("%", 1)[0])
    mapped = getattr(address, "ipv4_mapped", None)  # ::ffff:127.0.0.1
    return address.is_loopback or (mapped is not None and mapped.is_loopback)


def ray_processes(session_dir: str | None = None) -> dict[int, psutil.Process]:
    """This process, its descendants, and the processes of the Ray session (by pid)."""
    import ray

    if session_dir is None:
        session_dir = ray._private.worker._global_node.get_session_dir_path()
    me = psutil.Process(os.getpid())
    found = {me.pid: me}
    roots = [me]
    for process in psutil.process_iter(["cmdline"]):
        if any(session_dir in part for part in process.info["cmdline"] or ()):
            roots.append(process)
    for root in roots:
        found[root.pid] = root
        try:
            found.update({child.pid: child for child in root.children(recursive=True)})
        except psutil.Error:
            continue
    return found


def off_loopback_sockets(session_dir: str | None = None) -> list[str]:
    """``"pid name: kind laddr -> raddr"`` for each socket of the Ray processes whose local
    or remote address is not loopback (empty when the local Ray is loopback only)."""
    bad = []
    for pid, process in sorted(ray_processes(session_dir).items()):
        try:
            name = " ".join(process.cmdline())[:80] or process.name()
            connections = process.net_connections(kind="inet")
        except psutil.Error:  # ended meanwhile
            continue
        for conn in connections:
            kind = "udp" if conn.type == 2 else "tcp"
            ips = [conn.laddr.ip] + ([conn.raddr.ip] if conn.raddr else [])
            if not all(_is_loopback(ip) for ip in ips):
                remote = f" -> {conn.raddr.ip}:{conn.raddr.port}" if conn.raddr else ""
                bad.append(f"{pid} {name}: {kind} {conn.status} "
                           f"{conn.laddr.ip}:{conn.laddr.port}{remote}")
    return bad
