"""What bench/enum/run.py and bench/enum/resolver.py share: running commands, installing a
Debian package a script needs, free ports, ENUM names and waiting for a condition."""

import shutil, socket, subprocess, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ORIGIN = "e164.arpa"


def sh(*args, **kw):
    return subprocess.run(args, check=True, text=True, capture_output=True, **kw).stdout


def need(tool, package):
    if shutil.which(tool) is None:
        subprocess.run(["apt-get", "install", "-y", "-qq", package], check=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def enum_name(number):
    return ".".join(reversed(str(number))) + "." + ORIGIN


def wait_for(what, cond, limit, step=0.1):
    """Polls `cond` every `step` seconds for up to `limit`; the seconds it took, or exits."""
    start = time.time()
    while time.time() - start < limit:
        if cond():
            return time.time() - start
        time.sleep(step)
    sys.exit(f"timed out waiting for {what}")
