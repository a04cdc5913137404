"""`nuchter scan --ray`: the same dataset as a local scan, on a local Ray runtime and on a real
two-node cluster (a head and a worker node on 127.0.0.1, one CPU each)."""

from __future__ import annotations

import os

import pytest
from typer.testing import CliRunner

from nuchter.cli.main import app
from tests.test_crawl import read_dataset, write_jsonl, write_warc

try:
    import ray
    import ray.data  # noqa: F401
except ImportError:  # pragma: no cover - CI installs it (.[test]); there the test must run
    if os.environ.get("NUCHTER_REQUIRE_RAY"):
        raise
    pytest.skip("Ray is not installed (pip install 'nuchter[ray]')", allow_module_level=True)

runner = CliRunner()


@pytest.fixture()
def ray_env(monkeypatch):
    """Ray settings as a user's cluster would have them, and no runtime left behind for the next test."""
    from tests.ray_cluster import RAY_ENV

    for key, value in RAY_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    yield
    ray.shutdown()


@pytest.fixture()
def crawl(tmp_path):
    write_warc(tmp_path / "crawl.warc.gz", 200)
    write_jsonl(tmp_path / "posts.jsonl", 100)
    (tmp_path / "kapot.parquet").write_bytes(b"no parquet")
    return [str(tmp_path / "crawl.warc.gz"), str(tmp_path / "posts.jsonl"), str(tmp_path / "kapot.parquet")]


def local_scan(paths, model, out):
    result = runner.invoke(app, ["scan", *paths, "--out", str(out), "--format", "parquet", "--model", str(model)])
    assert result.exit_code == 0, result.output
    return read_dataset(out)


def test_ray_scan_on_a_local_runtime_equals_a_local_scan(tmp_path, tiny_linear, crawl, ray_env):
    expected = local_scan(crawl, tiny_linear, tmp_path / "local")
    result = runner.invoke(app, ["scan", *crawl, "--ray", "--out", str(tmp_path / "ray"), "--format", "parquet",
                                 "--model", str(tiny_linear), "--part-size", "64"])
    assert result.exit_code == 0, result.output
    sentences, documents = read_dataset(tmp_path / "ray")
    assert (sentences, documents) == expected
    assert len(documents) == 301 and len(sentences) > 900
    broken = [d for d in documents if d["path"].endswith("kapot.parquet")]
    assert broken and broken[0]["status"].startswith("skipped: cannot read")

    # resuming a finished dataset scores nothing again
    again = runner.invoke(app, ["scan", *crawl, "--ray", "--out", str(tmp_path / "ray"), "--format", "parquet",
                                "--model", str(tiny_linear), "--resume"])
    assert again.exit_code == 0, again.output
    assert "resuming: 301 documents already done" in again.output
    assert read_dataset(tmp_path / "ray") == expected


def test_two_node_cluster_scans_a_crawl_as_a_local_scan_does(tmp_path, tiny_linear, crawl, ray_env):
    from tests.ray_cluster import ray_cluster

    expected = local_scan(crawl, tiny_linear, tmp_path / "local")
    with ray_cluster(num_nodes=2, cpus_per_node=1) as (address, _):
        # two scoring actors of one CPU each on two nodes of one CPU each: one actor per node
        result = runner.invoke(app, ["scan", *crawl, "--ray-address", address, "--workers", "2", "--out",
                                     str(tmp_path / "cluster"), "--format", "parquet", "--model", str(tiny_linear)])
        assert result.exit_code == 0, result.output
        assert "Ray: 2 CPUs in the cluster" in result.output
        assert len([n for n in ray.nodes() if n["Alive"]]) == 2
        ray.shutdown()
    assert read_dataset(tmp_path / "cluster") == expected


def test_an_unreachable_cluster_is_one_clear_line(tmp_path, tiny_linear, ray_env):
    from tests.ray_cluster import free_port

    (tmp_path / "a.txt").write_text("Een zin.", encoding="utf-8")
    result = runner.invoke(app, ["scan", str(tmp_path / "a.txt"), "--ray-address", f"127.0.0.1:{free_port()}",
                                 "--out", str(tmp_path / "o"), "--format", "parquet", "--model", str(tiny_linear)])
    assert result.exit_code == 1
    assert "cannot reach a Ray cluster at 127.0.0.1:" in result.output


def test_ray_address_from_the_environment_only_with_ray(tmp_path, tiny_linear, ray_env, monkeypatch):
    """RAY_ADDRESS (Ray's own convention) picks the cluster for --ray; it never turns a local scan into a Ray one."""
    from tests.ray_cluster import free_port

    (tmp_path / "a.txt").write_text("Een zin.", encoding="utf-8")
    monkeypatch.setenv("RAY_ADDRESS", f"127.0.0.1:{free_port()}")
    local = runner.invoke(app, ["scan", str(tmp_path / "a.txt"), "--out", str(tmp_path / "o.jsonl"), "--model", str(tiny_linear)])
    assert local.exit_code == 0, local.output
    distributed = runner.invoke(app, ["scan", str(tmp_path / "a.txt"), "--ray", "--out", str(tmp_path / "o"),
                                      "--format", "parquet", "--model", str(tiny_linear)])
    assert distributed.exit_code == 1 and "cannot reach a Ray cluster at 127.0.0.1:" in distributed.output


def test_a_scoring_actor_killed_mid_scan_is_restarted_and_nothing_is_lost(tmp_path, tiny_linear, ray_env):
    """SIGKILL a scoring actor as soon as it has started: Ray restarts it and retries its work, and the
    dataset is still every document once, as a local scan writes it."""
    import json
    import signal
    import subprocess
    import sys
    import time

    import psutil

    crawl = tmp_path / "posts.jsonl"
    with open(crawl, "w", encoding="utf-8") as handle:
        for i in range(3000):
            handle.write(json.dumps({"url": f"https://forum.test/{i}", "text": f"Bericht {i}. Kurkuma geneest alles. "
                                     "Het bewijs is beperkt. Bestel nu!"}) + "\n")
    expected = local_scan([str(crawl)], tiny_linear, tmp_path / "local")
    scan = subprocess.Popen([sys.executable, "-m", "nuchter", "scan", str(crawl), "--ray", "--workers", "1", "--out",
                             str(tmp_path / "ray"), "--format", "parquet", "--model", str(tiny_linear)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ})
    killed = None
    deadline = time.monotonic() + 120
    while killed is None and scan.poll() is None and time.monotonic() < deadline:
        for process in psutil.process_iter(["cmdline"]):
            try:
                if "MapBatches(Scorer)" in " ".join(process.info["cmdline"] or []):
                    process.send_signal(signal.SIGKILL)
                    killed = process.pid
                    break
            except psutil.Error:
                continue
        time.sleep(0.01)
    output, _ = scan.communicate(timeout=300)
    assert killed is not None, "no scoring actor was seen while the scan ran"
    assert scan.returncode == 0, output
    assert read_dataset(tmp_path / "ray") == expected
