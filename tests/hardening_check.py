#!/usr/bin/env python3
"""Checks that the binaries users run are built hardened (docs/sandbox.md): a position-independent
executable, full RELRO (a GNU_RELRO segment and BIND_NOW), stack canaries (__stack_chk_fail), and,
where the build fortifies, fortified libc calls (__*_chk). Reads each ELF file with readelf.

  hardening_check.py [--fortify] BINARY...
"""
import re
import subprocess
import sys


def readelf(*args):
    return subprocess.run(["readelf", "-W", *args], check=True, capture_output=True, text=True).stdout


def problems(binary, fortify):
    found = []
    if "DYN (Position-Independent Executable file)" not in readelf("-h", binary):
        found.append("not a position-independent executable (PIE)")
    if not re.search(r"^\s*GNU_RELRO\s", readelf("-l", binary), re.M):
        found.append("no GNU_RELRO segment (RELRO)")
    dynamic = readelf("-d", binary)
    if not re.search(r"\(FLAGS\)\s+.*BIND_NOW|\(FLAGS_1\)\s+Flags:.*\bNOW\b", dynamic):
        found.append("not linked with -z now (full RELRO needs BIND_NOW)")
    symbols = readelf("--dyn-syms", binary)
    if "__stack_chk_fail" not in symbols:
        found.append("no stack canaries (__stack_chk_fail is not referenced)")
    if fortify and not re.search(r"\b__\w+_chk@", symbols.replace("__stack_chk_fail@", "")):
        found.append("no fortified libc calls (__*_chk): built without _FORTIFY_SOURCE")
    return found


def main():
    args = sys.argv[1:]
    fortify = "--fortify" in args
    binaries = [a for a in args if a != "--fortify"]
    if not binaries:
        sys.exit(__doc__)
    failed = False
    for binary in binaries:
        found = problems(binary, fortify)
        for p in found:
            print(f"{binary}: {p}")
        if not found:
            print(f"{binary}: PIE, full RELRO, stack canaries" + (", fortified" if fortify else ""))
        failed |= bool(found)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
