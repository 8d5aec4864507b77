"""``kg serve`` under load on loopback: steps of 1, 8, 32, 128 clients, the saturation point, a soak.

Usage::

    .venv/bin/python benchmarks/load.py --store /work/real-full                 # 1, 8, 32, 128 × 25 s
    .venv/bin/python benchmarks/load.py --store /work/real-full --soak 600      # then 10 min at saturation
    .venv/bin/python benchmarks/load.py --store /work/real-full --steps 1,8 --seconds 10 --no-overload

The load generator is locust (``benchmarks/load_users.py``, run headless, one process per step):
gevent clients with a real HTTP/1.1 connection each, no think time, over a mix of half SPARQL
(portal SELECTs and DESCRIBE by POST, stored queries of ``/queries/{name}``), half GraphQL
(occupation, search, lists), with codes drawn from the served graph. The server is ``kg serve``
started here, as deployed (uvicorn, its pool of query worker processes, access log off as by default), on the
store opened read-only, with the per-client rate limit off (every locust client comes from
127.0.0.1: the steps measure capacity, not the limiter) and admission control as configured
(``--max-inflight``, default the setting's 64).

Per step: throughput (valid answers per second), latency p50/p95/p99 of valid answers, the
answers shed by admission control (503 + Retry-After), errors (anything else: 5xx without
Retry-After, a 200 whose body is not a result, a refused connection, a 60 s hang), the server's
RSS (the app process and its query workers) and whether it still answers ``/health`` after the
step. Ratios are to the one-client step (the natural comparator: the same server unloaded).
The saturation point is the first step reaching 90 % of the best throughput.

``--overload`` (default on) then starts a second server with the rate limit on (its defaults) and
sends 128 clients, each with its own ``X-Forwarded-For`` as behind a reverse proxy: every answer
must be a result, a 429 or a 503, the refusals with ``Retry-After``. ``--soak SECONDS`` runs the
saturation step's number of clients in a closed loop, as in the steps (so the soak runs at the
saturation throughput: whatever the server gives them, compared with the step's figure of the
same run), sampling RSS every 2 s, and reports errors and the RSS slope; ``--soak-rps`` paces
them to a rate instead (a paced client falls behind its rate when an answer takes longer than
its interval). Results: a table on stdout, the summary in ``--out`` (JSON, read by
``scripts/reliability_report.py``), the raw samples under ``var/load/``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psutil

ROOT = Path(__file__).resolve().parents[1]
USERS = Path(__file__).with_name("load_users.py")
RAW = ROOT / "var" / "load"
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "load.json"
KG = str(Path(sys.executable).with_name("kg"))
SHED = (429, 503)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """``kg serve`` in a subprocess on a free loopback port; RSS sampled from a thread."""

    def __init__(self, store: Path, env: dict[str, str], log: Path) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        log.parent.mkdir(parents=True, exist_ok=True)
        self.log = log.open("wb")
        self.proc = subprocess.Popen(
            [KG, "serve", "--store", str(store), "--host", "127.0.0.1", "--port", str(self.port)],
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.rss: list[tuple[float, float, float]] = []  # (time, app MiB, app + workers MiB)
        self._sampling = threading.Event()

    def wait_ready(self, timeout: float = 300) -> float:
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"kg serve exited with {self.proc.returncode}: see {self.log.name}")
            if self.healthy(2):
                return time.monotonic() - started
            time.sleep(0.5)
        raise RuntimeError("kg serve did not answer /health in time")

    def healthy(self, timeout: float = 5) -> bool:
        try:
            return httpx.get(self.url + "/health", timeout=timeout).status_code == 200
        except httpx.HTTPError:
            return False

    def memory(self) -> tuple[float, float]:
        """RSS in MiB of the app process, and of it with every descendant (forkserver, workers)."""
        try:
            main = psutil.Process(self.proc.pid)
            own = main.memory_info().rss
            total = own
            for child in main.children(recursive=True):
                with contextlib.suppress(psutil.NoSuchProcess):
                    total += child.memory_info().rss
        except psutil.NoSuchProcess:
            return 0.0, 0.0
        return own / 2**20, total / 2**20

    def sample(self, every: float) -> threading.Thread:
        """Start sampling RSS every ``every`` s until :meth:`stop_sampling`."""
        self._sampling.clear()

        def loop() -> None:
            while not self._sampling.is_set():
                self.rss.append((time.time(), *self.memory()))
                self._sampling.wait(every)

        thread = threading.Thread(target=loop, daemon=True)
        thread.start()
        return thread

    def stop_sampling(self, thread: threading.Thread) -> None:
        self._sampling.set()
        thread.join()

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def discover(url: str) -> list[str]:
    """ROME 4.0 codes of the served graph that have skills (the clients draw from them)."""
    query = (
        "SELECT DISTINCT ?code WHERE { ?o a pas:Occupation ; pas:code ?code ; pas:hasSkill ?s } "
        "ORDER BY ?code"
    )
    response = httpx.post(
        url + "/sparql", data={"query": query}, headers={"accept": "application/json"}, timeout=120
    )
    response.raise_for_status()
    codes = [b["code"]["value"] for b in response.json()["results"]["bindings"]]
    if not codes:
        raise RuntimeError("the served graph has no ROME occupation with skills: load a real build")
    return codes[:: max(1, len(codes) // 60)]  # ~60 spread over the referential


def warm_up(url: str) -> float:
    """Wait until the GraphQL search index is built (it builds in the background on first use)."""
    started = time.monotonic()
    query = {"query": '{ search(text: "boulanger", first: 3) { code } }'}
    while time.monotonic() - started < 600:
        body = httpx.post(url + "/graphql", json=query, timeout=600).json()
        if body.get("data") and body["data"]["search"]:
            return time.monotonic() - started
        time.sleep(2)
    raise RuntimeError("the search index was not ready after 10 minutes")


def run_locust(url: str, users: int, seconds: int, plan: dict[str, Any], name: str) -> dict[str, Any]:
    """One locust run; its raw samples."""
    RAW.mkdir(parents=True, exist_ok=True)
    samples = RAW / f"{name}.json"
    samples.unlink(missing_ok=True)
    env = {**os.environ, "PASSERELLES_LOAD_PLAN": json.dumps({**plan, "samples": str(samples)})}
    command = [
        sys.executable, "-m", "locust", "-f", str(USERS), "--headless", "--only-summary",
        "-u", str(users), "-r", str(users), "-t", f"{seconds}s", "--host", url,
        "--stop-timeout", "70", "--loglevel", "ERROR", "--skip-log-setup",
    ]  # fmt: skip
    with (RAW / f"{name}.locust.log").open("wb") as log:
        subprocess.run(
            command, env=env, stdout=log, stderr=subprocess.STDOUT, check=False, timeout=seconds + 200
        )
    if not samples.is_file():
        raise RuntimeError(f"locust wrote no samples: see {RAW / (name + '.locust.log')}")
    data: dict[str, Any] = json.loads(samples.read_text(encoding="utf-8"))
    return data


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def summarise(raw: dict[str, Any], seconds: float) -> dict[str, Any]:
    """Throughput, percentiles (ms), outcomes by status, per operation counts."""
    samples = raw["samples"]
    valid = [s for s in samples if s[2] == 200 and s[5]]
    shed = [s for s in samples if s[2] in SHED]
    shed_without = [s for s in shed if not s[4]]
    errors = [s for s in samples if not (s[2] == 200 and s[5]) and s[2] not in SHED]
    span = max((s[0] + s[3] for s in samples), default=seconds) - min((s[0] for s in samples), default=0)
    span = max(span, 1e-9)
    latencies = [s[3] * 1000 for s in valid]
    statuses: dict[str, int] = {}
    for s in samples:
        key = str(s[2]) + ("" if s[2] != 200 or s[5] else " (invalid body)")
        statuses[key] = statuses.get(key, 0) + 1
    per_op: dict[str, dict[str, float]] = {}
    for name in sorted({s[1] for s in samples}):
        mine = [s[3] * 1000 for s in valid if s[1] == name]
        per_op[name] = {
            "valid": len(mine),
            "p50_ms": round(_pct(mine, 50), 1) if mine else None,  # type: ignore[dict-item]
            "p95_ms": round(_pct(mine, 95), 1) if mine else None,  # type: ignore[dict-item]
        }
    return {
        "requests": len(samples),
        "seconds": round(span, 1),
        "throughput_rps": round(len(valid) / span, 1),
        "p50_ms": round(_pct(latencies, 50), 1),
        "p95_ms": round(_pct(latencies, 95), 1),
        "p99_ms": round(_pct(latencies, 99), 1),
        "max_ms": round(max(latencies, default=0), 1),
        "shed": len(shed),
        "shed_without_retry_after": len(shed_without),
        "errors": len(errors),
        "error_rate": round(len(errors) / max(1, len(samples)), 5),
        "statuses": statuses,
        "operations": per_op,
    }


def rss_of(server: Server, since: float) -> dict[str, float]:
    window = [r for r in server.rss if r[0] >= since]
    if not window:
        return {"app_mib": 0.0, "total_mib": 0.0, "total_max_mib": 0.0}
    return {
        "app_mib": round(window[-1][1], 1),
        "total_mib": round(window[-1][2], 1),
        "total_max_mib": round(max(r[2] for r in window), 1),
    }


def slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (x, y) points (y per unit of x).

    >>> slope([(0, 1.0), (1, 3.0), (2, 5.0)])
    2.0
    """
    if len(points) < 2:
        return 0.0
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den if den else 0.0


def saturation(steps: list[dict[str, Any]]) -> dict[str, Any]:
    """The first step reaching 90 % of the best throughput: where adding clients stops paying."""
    best = max(s["throughput_rps"] for s in steps)
    first = next(s for s in steps if s["throughput_rps"] >= 0.9 * best)
    return {"users": first["users"], "throughput_rps": first["throughput_rps"], "best_rps": best}


def print_steps(steps: list[dict[str, Any]]) -> None:
    base = steps[0]
    head = (
        f"{'clients':>7} {'answers/s':>9} {'×1':>5} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'p50 ×1':>6} "
        f"{'shed':>6} {'errors':>6} {'err %':>6} {'RSS MiB':>8} {'max':>6} {'health':>6}"
    )
    print(head)
    print("-" * len(head))
    for s in steps:
        scale, slower = s["throughput_rps"] / base["throughput_rps"], s["p50_ms"] / base["p50_ms"]
        rss, health = s["rss"], "ok" if s["healthy_after"] else "DOWN"
        print(
            f"{s['users']:>7} {s['throughput_rps']:>9.1f} {scale:>5.1f} {s['p50_ms']:>8.0f} "
            f"{s['p95_ms']:>8.0f} {s['p99_ms']:>8.0f} {slower:>6.1f} {s['shed']:>6} {s['errors']:>6} "
            f"{100 * s['error_rate']:>6.2f} {rss['total_mib']:>8.0f} {rss['total_max_mib']:>6.0f} {health:>6}"
        )


def print_soak(soak: dict[str, Any], seconds: int) -> None:
    how = f"paced to {soak['target_rps']}/s" if soak["paced"] else "closed loop"
    versus = f" ({soak['ratio_to_saturation']}× the saturation step's {soak['saturation_rps']}/s)"
    versus = versus if soak["saturation_rps"] else ""
    print(
        f"\nsoak {seconds} s, {soak['users']} clients {how}: "
        f"{soak['throughput_rps']} answers/s{versus}, p95 {soak['p95_ms']} ms, errors {soak['errors']}, "
        f"shed {soak['shed']}; RSS {soak['rss_start_mib']} → {soak['rss_end_mib']} MiB "
        f"(max {soak['rss_max_mib']}), slope {soak['rss_slope_mib_per_min']} MiB/min "
        f"(second half {soak['rss_slope_second_half_mib_per_min']}); held: {soak['held']}"
    )
    for m in soak["minutes"]:
        print(
            f"  minute {m['minute']:>2}: {m['answers_per_s']:>6}/s, errors {m['errors']}, "
            f"RSS {m['rss_mib']} MiB"
        )


def _commit() -> str:
    out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    return out.stdout.strip()


def run_steps(args: argparse.Namespace, plan: dict[str, Any], server: Server) -> list[dict[str, Any]]:
    steps = []
    for users in args.steps:
        since = time.time()
        raw = run_locust(server.url, users, args.seconds, plan, f"step-{users}")
        step = {"users": users, **summarise(raw, args.seconds), "rss": rss_of(server, since)}
        step["healthy_after"] = server.proc.poll() is None and server.healthy()
        steps.append(step)
        print(
            f"  {users} clients: {step['throughput_rps']} answers/s, p95 {step['p95_ms']} ms, "
            f"shed {step['shed']}, errors {step['errors']} {step['statuses']}",
            flush=True,
        )
        time.sleep(2)  # let queued work drain before the next step
    return steps


def run_overload(args: argparse.Namespace, plan: dict[str, Any]) -> dict[str, Any]:
    """128 clients against the rate limit (each with its own forwarded address) and admission control."""
    server = Server(
        args.store, {"PASSERELLES_MAX_INFLIGHT": str(args.max_inflight)}, RAW / "server-overload.log"
    )
    try:
        server.wait_ready()
        warm_up(server.url)  # as for the steps: overload, not a server still building its search index
        thread = server.sample(1.0)
        raw = run_locust(server.url, args.overload_users, args.overload_seconds,
                         {**plan, "per_client_identity": True}, "overload")  # fmt: skip
        server.stop_sampling(thread)
        out = {
            "users": args.overload_users,
            **summarise(raw, args.overload_seconds),
            "rss": rss_of(server, 0),
        }
        out["healthy_after"] = server.proc.poll() is None and server.healthy()
        out["settings"] = "rate limit on (defaults: 120/min, burst 30 per client), max in-flight "
        out["settings"] += str(args.max_inflight)
        return out
    finally:
        server.stop()


def run_soak(
    args: argparse.Namespace,
    plan: dict[str, Any],
    server: Server,
    users: int,
    rate: float,
    saturation_rps: float,
) -> dict[str, Any]:
    """``users`` clients for ``args.soak`` seconds, closed loop (``rate`` 0) or paced to ``rate``."""
    server.rss.clear()
    thread = server.sample(2.0)
    started = time.time()
    raw = run_locust(server.url, users, args.soak, {**plan, "rate_per_user": rate / users}, "soak")
    server.stop_sampling(thread)
    out = {
        "users": users,
        "paced": rate > 0,
        "target_rps": round(rate, 1),
        "saturation_rps": saturation_rps,
        **summarise(raw, args.soak),
    }
    out["ratio_to_saturation"] = round(out["throughput_rps"] / saturation_rps, 2) if saturation_rps else None
    points = [((t - started) / 60, total) for t, _, total in server.rss]
    half = [p for p in points if p[0] >= points[-1][0] / 2] if points else []
    minutes: list[dict[str, float]] = []
    for minute in range(int(args.soak // 60) + 1):
        window = [s for s in raw["samples"] if minute * 60 <= s[0] < (minute + 1) * 60]
        ok = [s for s in window if s[2] == 200 and s[5]]
        rss = [p[1] for p in points if minute <= p[0] < minute + 1]
        if window:
            minutes.append(
                {
                    "minute": minute,
                    "answers_per_s": round(len(ok) / 60, 1),
                    "errors": sum(1 for s in window if not (s[2] == 200 and s[5]) and s[2] not in SHED),
                    "rss_mib": round(statistics.median(rss), 1) if rss else 0.0,
                }
            )
    out.update(
        {
            "rss_start_mib": round(points[0][1], 1) if points else 0.0,
            "rss_end_mib": round(points[-1][1], 1) if points else 0.0,
            "rss_max_mib": round(max(p[1] for p in points), 1) if points else 0.0,
            "rss_slope_mib_per_min": round(slope(points), 3),
            "rss_slope_second_half_mib_per_min": round(slope(half), 3),
            "rss_samples": len(points),
            "minutes": minutes,
            "healthy_after": server.proc.poll() is None and server.healthy(),
        }
    )
    out["held"] = bool(
        out["errors"] == 0 and out["healthy_after"] and out["rss_slope_second_half_mib_per_min"] < 1.0
    )
    return out


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--store", type=Path, default=Path("/work/real-full"))
    parser.add_argument("--steps", type=lambda s: [int(x) for x in s.split(",")], default=[1, 8, 32, 128])
    parser.add_argument("--seconds", type=int, default=25, help="duration of each step")
    parser.add_argument("--max-inflight", type=int, default=64, help="admission control bound of the server")
    parser.add_argument("--soak", type=int, default=0, help="soak seconds at the saturation throughput")
    parser.add_argument("--soak-users", type=int, default=0, help="with --soak-rps: skip the steps")
    parser.add_argument(
        "--soak-rps", type=float, default=0.0, help="pace the soak's clients to this rate (else closed loop)"
    )
    parser.add_argument("--overload", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--overload-users", type=int, default=128)
    parser.add_argument("--overload-seconds", type=int, default=20)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    command = " ".join([".venv/bin/python", "benchmarks/load.py", *sys.argv[1:]])
    env = {"PASSERELLES_RATE_LIMIT": "0", "PASSERELLES_MAX_INFLIGHT": str(args.max_inflight)}
    server = Server(args.store, env, RAW / "server.log")
    result: dict[str, Any] = json.loads(args.out.read_text(encoding="utf-8")) if args.out.is_file() else {}
    try:
        ready = server.wait_ready()
        print(f"kg serve on {server.url} ({args.store}) ready in {ready:.0f} s", flush=True)
        plan = {"codes": discover(server.url)}
        print(f"search index ready in {warm_up(server.url):.0f} s; {len(plan['codes'])} codes", flush=True)
        thread = server.sample(1.0)
        date = f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
        meta = {
            "date": date,
            "commit": _commit(),
            "command": command,
            "store": str(args.store),
            "cpus": os.cpu_count(),
            "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        }
        if not (args.soak and args.soak_users and args.soak_rps):
            steps = run_steps(args, plan, server)
            sat = saturation(steps)
            print()
            print_steps(steps)
            print(f"\nsaturation: {sat['users']} clients, {sat['throughput_rps']} answers/s "
                  f"(best {sat['best_rps']})")  # fmt: skip
            result.update({"steps": steps, "saturation": sat, "steps_run": meta})
        server.stop_sampling(thread)
        if args.soak:
            users = args.soak_users or result["saturation"]["users"]
            same_run = not (args.soak_users and args.soak_rps)
            peak = float(result["saturation"]["throughput_rps"]) if same_run else 0.0
            soak = run_soak(args, plan, server, users, args.soak_rps, peak)
            soak["run"] = {**meta, "date": f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"}
            result["soak"] = soak
            print_soak(soak, args.soak)
    finally:
        server.stop()
    if args.overload and not (args.soak_users and args.soak_rps):
        overload = run_overload(args, plan)
        result["overload"] = overload
        print(
            f"\noverload ({overload['settings']}): {overload['users']} clients, "
            f"statuses {overload['statuses']}, refusals without Retry-After "
            f"{overload['shed_without_retry_after']}, errors {overload['errors']}, "
            f"healthy after: {overload['healthy_after']}"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
