"""Run a command under a seccomp filter built the way systemd builds a unit's.

Usage: ``python3 seccomp_exec.py ALLOW_FILE COMMAND...`` (Debian's python3 with the
python3-seccomp package; the filter survives the exec into COMMAND).

* ALLOW_FILE lists the system calls the unit's ``SystemCallFilter=`` allows (expanded by
  ``systemd-analyze syscall-filter``); any other call fails with EPERM, as
  ``SystemCallErrorNumber=EPERM`` makes it.
* ``MemoryDenyWriteExecute=yes``: mmap with PROT_WRITE|PROT_EXEC, mprotect and
  pkey_mprotect adding PROT_EXEC, and shmat with SHM_EXEC fail.
* ``RestrictAddressFamilies=`` (the families given by ``$SECCOMP_FAMILIES``, names
  such as AF_UNIX): socket() with another family fails.
* ``NoNewPrivileges=yes``.

Not emulated: the user, mounts, devices and namespaces, which need systemd itself.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import sys

import seccomp  # type: ignore[import-not-found]  # Debian's python3-seccomp

PROT_WRITE = 0x2
PROT_EXEC = 0x4
SHM_EXEC = 0o100000
GUARDED = ("mmap", "mprotect", "pkey_mprotect", "shmat", "socket")


def build(allowed: list[str], families: list[int]) -> seccomp.SyscallFilter:
    """The filter: allowed calls pass, the rest fail with EPERM."""
    rules = seccomp.SyscallFilter(defaction=seccomp.ERRNO(errno.EPERM))
    for name in allowed:
        if name in GUARDED:
            continue
        with contextlib.suppress(RuntimeError, ValueError, OSError):
            rules.add_rule(seccomp.ALLOW, name)  # fails for calls this architecture lacks
    write_exec = PROT_WRITE | PROT_EXEC
    for prot in (0, PROT_WRITE, PROT_EXEC):
        rules.add_rule(seccomp.ALLOW, "mmap", seccomp.Arg(2, seccomp.MASKED_EQ, write_exec, prot))
    for name in ("mprotect", "pkey_mprotect"):
        rules.add_rule(seccomp.ALLOW, name, seccomp.Arg(2, seccomp.MASKED_EQ, PROT_EXEC, 0))
    rules.add_rule(seccomp.ALLOW, "shmat", seccomp.Arg(2, seccomp.MASKED_EQ, SHM_EXEC, 0))
    for family in families:
        rules.add_rule(seccomp.ALLOW, "socket", seccomp.Arg(0, seccomp.EQ, family))
    rules.set_attr(seccomp.Attr.CTL_NNP, 1)
    return rules


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as listing:
        allowed = listing.read().split()
    names = os.environ.get("SECCOMP_FAMILIES", "AF_UNIX AF_INET AF_INET6").split()
    build(allowed, [int(getattr(socket, name)) for name in names]).load()
    os.execvp(sys.argv[2], sys.argv[2:])


if __name__ == "__main__":
    main()
