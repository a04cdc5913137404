"""A throwaway multi-node Ray cluster on 127.0.0.1 for tests and benchmarks, scoped by its processes
and its temp dir.

Never `ray stop`: that kills every Ray process on the host, other test runs' and users' included.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import psutil

RAY = os.path.join(os.path.dirname(sys.executable), "ray")
# Env for the ray CLI processes AND the driver:
#  RAY_AUTH_MODE=disabled: once ~/.ray/auth_token exists (any local ray.init() writes it), `ray start`
#    silently enables token auth, but ray.init(address=...) does not send the token -> InvalidAuthToken.
#  RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S=0: SIGTERM to `ray start --block` otherwise drains up to 30 s.
RAY_ENV = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled",
           "RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S": "0"}
OBJ_STORE_MIN = 78_643_200  # 75 MiB: the minimum ray accepts


def on_cores(cores):
    """A Popen preexec_fn that puts the child (and all it starts) on ``cores``; None leaves it unpinned."""
    return None if cores is None else lambda: os.sched_setaffinity(0, cores)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_started(proc, log_path, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(log_path, errors="replace") as f:
            if "Ray runtime started" in f.read():
                return
        if proc.poll() is not None:
            break
        time.sleep(0.2)
    with open(log_path, errors="replace") as f:
        raise RuntimeError(f"ray start failed (rc={proc.poll()}):\n{f.read()[-3000:]}")


def _kill_tree(procs, temp_dir, timeout=10):
    """SIGTERM the `ray start --block` processes, then SIGKILL anything left of their trees.
    Ray worker processes (ray::*) setpgid themselves, so killpg alone misses them: collect descendants."""
    tree = set()
    for p in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            pp = psutil.Process(p.pid)
            tree |= {pp, *pp.children(recursive=True)}
    for p in reversed(procs):                       # worker nodes first, head last
        with contextlib.suppress(ProcessLookupError):
            p.send_signal(signal.SIGTERM)
    for p in reversed(procs):
        with contextlib.suppress(subprocess.TimeoutExpired):
            p.wait(timeout=timeout)
    # anything still alive in the recorded tree, or naming our temp dir on its command line
    for q in psutil.process_iter(["cmdline"]):
        with contextlib.suppress(psutil.Error):
            if temp_dir in " ".join(q.info["cmdline"] or []):
                tree.add(q)
    alive = [q for q in tree if q.is_running() and q.status() != psutil.STATUS_ZOMBIE]
    for q in alive:
        with contextlib.suppress(psutil.Error):
            q.kill()
    psutil.wait_procs(alive, timeout=5)
    for p in procs:
        with contextlib.suppress(Exception):
            p.wait(timeout=5)
    return alive


@contextlib.contextmanager
def ray_cluster(num_nodes=2, cpus_per_node=1, object_store=OBJ_STORE_MIN, pin=None):
    """Yields (address, info); info has 'temp_dir', 'procs', 'leftovers' (filled at exit).

    ``pin``: a set of CPU cores for each node (head first). Every process a node starts (raylet, GCS on
    the head, workers, actors) inherits its node's cores, so nodes on one host behave like separate
    machines of that many cores instead of sharing every core of the host."""
    if pin is not None and len(pin) != num_nodes:
        raise ValueError("pin needs one set of cores per node")
    port = free_port()
    # short path: Ray puts unix sockets under <temp>/session_<date>_<pid>/sockets/..., AF_UNIX max 107 chars
    temp_dir = tempfile.mkdtemp(prefix="ray", dir="/tmp")
    env = {**os.environ, **RAY_ENV}
    common = [f"--num-cpus={cpus_per_node}", f"--object-store-memory={object_store}", "--block",
              "--disable-usage-stats"]
    procs = []
    info = {"temp_dir": temp_dir, "procs": procs, "leftovers": None}
    try:
        for i in range(num_nodes):
            if i == 0:
                cmd = [RAY, "start", "--head", f"--port={port}", "--include-dashboard=false",
                       f"--temp-dir={temp_dir}", *common]
            else:   # extra nodes inherit the head's temp dir via the GCS on the same host
                cmd = [RAY, "start", f"--address=127.0.0.1:{port}", *common]
            log = os.path.join(temp_dir, f"start_{i}.log")
            with open(log, "w") as out:
                p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env,
                                     stdin=subprocess.DEVNULL, start_new_session=True,
                                     preexec_fn=on_cores(None if pin is None else set(pin[i])))
            procs.append(p)
            _wait_started(p, log)
        yield f"127.0.0.1:{port}", info
    finally:
        info["leftovers"] = _kill_tree(procs, temp_dir)
        shutil.rmtree(temp_dir, ignore_errors=True)
