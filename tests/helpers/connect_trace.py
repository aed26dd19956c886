"""Which network endpoints a process (and every thread and child of it) tried to reach, traced with
strace: connect(), sendto()/sendmsg() with an address, and opens of /etc/resolv.conf (a host-name
lookup starts there, before any packet). Used by the no-network tests: a capture, a render and a
Blender session must reach nothing but loopback.

strace is in the base image of these machines (Debian's package); without it the tests skip, and
fail in CI ($TALKING_HEAD_CI), where it must be there.
"""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

SYSCALLS = "connect,sendto,sendmsg,sendmmsg,openat,open"


@dataclass(frozen=True)
class Endpoint:
    syscall: str
    family: str  # AF_INET, AF_INET6, AF_UNIX, AF_NETLINK, ... or "resolv.conf"
    address: str
    port: int | None
    line: str

    @property
    def loopback(self) -> bool:
        if self.family in ("AF_UNIX", "AF_NETLINK", "AF_UNSPEC", "AF_LOCAL"):
            return True  # local IPC, the kernel's own sockets: nothing leaves the machine
        if self.family in ("AF_INET", "AF_INET6"):
            ip = ipaddress.ip_address(self.address)
            mapped = getattr(ip, "ipv4_mapped", None)
            return ip.is_loopback or bool(mapped and mapped.is_loopback)
        return False  # resolv.conf read, or a family we do not know: count it against the process


_INET = re.compile(r'sa_family=AF_INET, sin_port=htons\((\d+)\), sin_addr=inet_addr\("([\d.]+)"\)')
_INET6 = re.compile(r'sa_family=AF_INET6, sin6_port=htons\((\d+)\).*?inet_pton\(AF_INET6, "([0-9a-fA-F:.]+)"')
_FAMILY = re.compile(r"sa_family=(AF_\w+)")
_CALL = re.compile(r"^(?:\[pid\s+\d+\]\s+|\d+\s+)?(\w+)\(")


def parse(log: str) -> list[Endpoint]:
    """Endpoints from an strace -f log (one syscall per line)."""
    out = []
    for line in log.splitlines():
        m = _CALL.match(line)
        if not m:
            continue
        call = m.group(1)
        if call in ("openat", "open"):
            if "/etc/resolv.conf" in line:
                out.append(Endpoint(call, "resolv.conf", "/etc/resolv.conf", None, line))
            continue
        if call not in ("connect", "sendto", "sendmsg", "sendmmsg"):
            continue
        if (m4 := _INET.search(line)):
            out.append(Endpoint(call, "AF_INET", m4.group(2), int(m4.group(1)), line))
        elif (m6 := _INET6.search(line)):
            out.append(Endpoint(call, "AF_INET6", m6.group(2), int(m6.group(1)), line))
        elif (fam := _FAMILY.search(line)):
            out.append(Endpoint(call, fam.group(1), "", None, line))
        # sendto/sendmsg without an address go where the socket was connect()ed: already listed
    return out


def require_strace() -> str:
    exe = shutil.which("strace")
    if exe is None:
        if os.environ.get("TALKING_HEAD_CI"):
            pytest.fail("strace is missing (Debian package strace): the no-network tests must run in CI")
        pytest.skip("strace is not installed (apt-get install strace)")
    return exe


def run_traced(cmd: list[str], log: Path, timeout: float, **kwargs) -> tuple[subprocess.CompletedProcess,
                                                                              list[Endpoint]]:
    """Run ``cmd`` under strace -f; return its result and every endpoint it (or a child) used."""
    exe = require_strace()
    proc = subprocess.run([exe, "-f", "-qq", "-e", f"trace={SYSCALLS}", "-e", "signal=none",
                           "-o", str(log), *cmd], capture_output=True, text=True, timeout=timeout, **kwargs)
    text = log.read_text(errors="replace")
    assert "openat(" in text or "open(" in text, "strace recorded nothing: the trace did not work"
    return proc, parse(text)


def off_loopback(endpoints: list[Endpoint]) -> list[str]:
    return [e.line for e in endpoints if not e.loopback]
