#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""ism-bench apps: real servers and their own clients under ism-run,
against the same programs over plain TCP loopback, in one run.

    bench/apps.py BUILD_DIR [--json] [--seconds N]

Figures (each program pair twice: both ends under ism-run against a
private ismd, then both ends plain):
  redis-benchmark GET and SET ops/s, 50 clients, -P 1 and -P 16;
  iperf3 one stream, bits/s received;
  nginx, a 612-byte page, requests/s from wrk (1 thread, 8 connections).
Ratios: redis_p1_vs_tcp (GET and SET together), redis_p16_vs_tcp,
iperf3_vs_tcp, nginx_vs_tcp.  As root, each pair again with the server
in one network namespace and the client in another, joined by a veth
pair (tests/helpers/netns.py; figures suffixed _netns): the same ratios
suffixed _netns, and netns_vs_samens_redis_p1, _iperf3, _nginx (ism
across namespaces / ism in one) with netns_vs_samens their geometric
mean.  A note says how many connections of each ism run were on shared
memory (ism-run -v).  Printed as text, or with --json as one
object like ism-bench's: {"suite": "apps", "figures": {...},
"ratios": {...}}.  A program that is not installed is left out, with a
note.  Every server is private (free loopback port, its own directory)
and stopped at the end.  Only the ratios of one run mean anything.
"""
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "tests", "helpers"))
import netns as netns_helper  # noqa: E402 (tests/helpers/netns.py)
from ports import free_port, wait_port  # noqa: E402

procs = []
notes = []


def spawn(argv, env, **kw):
    p = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True,
                         **kw)
    procs.append(p)
    return p


def stop(p):
    try:
        os.killpg(p.pid, signal.SIGTERM)
        p.wait(timeout=10)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        pass
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        p.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


def run(argv, env, timeout=300):
    return subprocess.run(argv, env=env, capture_output=True, text=True,
                          timeout=timeout, start_new_session=True)


# Waits for a port from the client's namespace.
PROBE = """
import socket, sys, time
end = time.monotonic() + float(sys.argv[3])
while time.monotonic() < end:
    s = socket.socket()
    try:
        s.connect((sys.argv[1], int(sys.argv[2])))
        sys.exit(0)
    except OSError:
        time.sleep(0.05)
    finally:
        s.close()
sys.exit(1)
"""


class Pair:
    """How to start programs: under ism-run, or plain; in the host's
    namespace, or the server in @sides[0]'s and the client in
    @sides[1]'s (netns.Side) of @nets."""

    def __init__(self, ism_run, env, ism, d, nets=None, sides=None):
        self.name = ("ism" if ism else "tcp") + ("_netns" if nets else "")
        self.log = os.path.join(d, self.name + ".log")
        self.pre = [ism_run, "-v", "--log", self.log] if ism else []
        self.env = env if ism else dict(env, ISM_RUN="off")
        self.nets, self.sides = nets, sides
        self.addr = sides[0].addr if sides else "127.0.0.1"

    def argv(self, argv, server=False):
        """@argv for a client, or for a server."""
        if not self.nets:
            return self.pre + argv
        return self.nets.wrap(self.sides[0 if server else 1].ns,
                              self.pre + argv)

    def wait_port(self, port):
        if not self.nets:
            return wait_port(port)
        return subprocess.run(
            self.nets.wrap(self.sides[1].ns, [sys.executable, "-c", PROBE,
                                              self.addr, str(port), "20"]),
            timeout=60).returncode == 0

    def paths(self):
        """(connections on shared memory, all) from ism-run's log."""
        try:
            with open(self.log) as f:
                lines = f.read().splitlines()
        except OSError:
            return None
        return (sum(1 for x in lines if x.endswith(": shm")),
                sum(1 for x in lines if x.endswith(": shm") or
                    ": tcp (" in x))


def redis(pair, d, n):
    rdir = tempfile.mkdtemp(prefix="redis.", dir=d)
    port = free_port()
    srv = spawn(pair.argv(["redis-server", "--port", str(port), "--bind",
                           pair.addr, "--protected-mode", "no", "--save", "",
                           "--appendonly", "no", "--dir", rdir,
                           "--daemonize", "no"], True), pair.env)
    out = {}
    try:
        if not pair.wait_port(port):
            raise RuntimeError("redis-server did not start")
        for pipe, reqs in ((1, n), (16, n * 8)):
            r = run(pair.argv(["redis-benchmark", "-h", pair.addr, "-p",
                               str(port), "-c",
                               "50", "-P", str(pipe), "-n", str(reqs),
                               "-t", "get,set", "--csv"]), pair.env)
            for line in r.stdout.splitlines():
                cols = [c.strip('"') for c in line.split(",")]
                if len(cols) >= 2 and cols[0] in ("GET", "SET"):
                    out["redis_p%d_%s_ops" % (pipe, cols[0].lower())] = \
                        float(cols[1])
    finally:
        stop(srv)
    return out


def iperf3(pair, secs):
    port = free_port()
    srv = spawn(pair.argv(["iperf3", "-s", "-1", "-B", pair.addr, "-p",
                           str(port)], True), pair.env)
    try:
        if not pair.wait_port(port):
            raise RuntimeError("iperf3 -s did not start")
        # (wait_port's probe is the one-off server's first client: a
        # fresh one takes the test)
        stop(srv)
        srv = spawn(pair.argv(["iperf3", "-s", "-1", "-B", pair.addr,
                               "-p", str(port)], True), pair.env)
        time.sleep(0.3)
        r = run(pair.argv(["iperf3", "-c", pair.addr, "-p", str(port),
                           "-t", str(secs), "-J"]), pair.env)
        doc = json.loads(r.stdout)
        return {"iperf3_bits_per_s":
                doc["end"]["sum_received"]["bits_per_second"]}
    finally:
        stop(srv)


NGINX_CONF = """daemon off;
master_process on;
worker_processes 1;
%(user)s
pid %(d)s/nginx.pid;
error_log %(d)s/error.log;
events { worker_connections 512; }
http {
    access_log off;
    client_body_temp_path %(d)s/body;
    proxy_temp_path %(d)s/proxy;
    fastcgi_temp_path %(d)s/fastcgi;
    uwsgi_temp_path %(d)s/uwsgi;
    scgi_temp_path %(d)s/scgi;
    keepalive_requests 1000000;
    server { listen %(addr)s:%(port)d; root %(d)s; }
}
"""


def nginx(pair, d, secs):
    nd = tempfile.mkdtemp(prefix="nginx.", dir=d)
    port = free_port()
    with open(os.path.join(nd, "index.html"), "wb") as f:
        f.write(b"x" * 612)
    with open(os.path.join(nd, "nginx.conf"), "w") as f:
        f.write(NGINX_CONF % {"d": nd, "port": port, "addr": pair.addr,
                              "user": "user root root;" if os.getuid() == 0
                              else ""})
    srv = spawn(pair.argv(["nginx", "-p", nd, "-c",
                           os.path.join(nd, "nginx.conf"), "-e",
                           os.path.join(nd, "error.log")], True), pair.env)
    try:
        if not pair.wait_port(port):
            raise RuntimeError("nginx did not start")
        r = run(pair.argv(["wrk", "-t", "1", "-c", "8", "-d",
                           "%ds" % secs, "http://%s:%d/index.html"
                           % (pair.addr, port)]), pair.env)
        if "Socket errors" in r.stdout or "Non-2xx" in r.stdout:
            raise RuntimeError("wrk: " + r.stdout)
        for line in r.stdout.splitlines():
            if line.startswith("Requests/sec:"):
                return {"nginx_req_per_s": float(line.split()[1])}
        raise RuntimeError("wrk: " + r.stdout + r.stderr)
    finally:
        stop(srv)


def main():
    args = sys.argv[1:]
    as_json = "--json" in args
    secs = 3
    if "--seconds" in args:
        secs = int(args[args.index("--seconds") + 1])
    build = [a for a in args if not a.startswith("--") and
             not a.isdigit()][0]
    ismd = os.environ.get("ISMD", os.path.join(build, "ismd", "ismd"))
    ism_run = os.path.join(build, "preload", "ism-run")
    d = tempfile.mkdtemp(prefix="ism-bench-apps.")
    env = dict(os.environ, ISM_SOCKET=os.path.join(d, "ism.sock"))
    env.pop("LD_PRELOAD", None)
    spawn([ismd, "--socket", os.path.join(d, "ism.sock"),
           "--state-dir", os.path.join(d, "state")], env)
    figures, ratios = {}, {}
    nets = None
    # a SIGTERM still removes the namespaces
    signal.signal(signal.SIGTERM, lambda sig, frame: sys.exit(
        "ism-bench apps: SIGTERM"))
    try:
        end = time.monotonic() + 20
        while not os.path.exists(os.path.join(d, "ism.sock")):
            if time.monotonic() > end:
                raise SystemExit("ism-bench apps: ismd did not start")
            time.sleep(0.05)
        pairs = [Pair(ism_run, env, True, d), Pair(ism_run, env, False, d)]
        why = netns_helper.available()
        if why is None:
            try:
                nets = netns_helper.Netns("ismb")
                sides = nets.veth_pair()
                pairs += [Pair(ism_run, env, True, d, nets, sides),
                          Pair(ism_run, env, False, d, nets, sides)]
            except (RuntimeError, OSError, subprocess.TimeoutExpired) as e:
                notes.append("netns: failed: setting up: %s" % e)
        else:
            notes.append("netns: left out (%s)" % why)
        suites = (("redis", ("redis-server", "redis-benchmark"),
                   lambda p: redis(p, d, 20000 * secs)),
                  ("iperf3", ("iperf3",), lambda p: iperf3(p, secs)),
                  ("nginx", ("nginx", "wrk"), lambda p: nginx(p, d, secs)))
        got = {}
        for name, progs, fn in suites:
            missing = [p for p in progs if not shutil.which(p)]
            if missing:
                notes.append("%s: left out (%s not installed)" %
                             (name, " ".join(missing)))
                continue
            for pair in pairs:
                try:
                    for k, v in fn(pair).items():
                        got[(k, pair.name)] = v
                        figures["%s_%s" % (k, pair.name)] = v
                except (RuntimeError, ValueError, KeyError,
                        subprocess.TimeoutExpired) as e:
                    notes.append("%s %s: failed: %s" %
                                 (name, pair.name, str(e)[:200]))

        def ratio(name, keys, sfx="", vs=("ism", "tcp")):
            a = [got.get((k, vs[0] + sfx)) for k in keys]
            b = [got.get((k, vs[1] + sfx)) for k in keys]
            if all(a) and all(b):
                ratios[name] = sum(a) / sum(b)
        ratio("redis_p1_vs_tcp", ["redis_p1_get_ops", "redis_p1_set_ops"])
        ratio("redis_p16_vs_tcp", ["redis_p16_get_ops", "redis_p16_set_ops"])
        ratio("iperf3_vs_tcp", ["iperf3_bits_per_s"])
        ratio("nginx_vs_tcp", ["nginx_req_per_s"])
        ratio("redis_p1_vs_tcp_netns", ["redis_p1_get_ops",
                                        "redis_p1_set_ops"], "_netns")
        ratio("redis_p16_vs_tcp_netns", ["redis_p16_get_ops",
                                         "redis_p16_set_ops"], "_netns")
        ratio("iperf3_vs_tcp_netns", ["iperf3_bits_per_s"], "_netns")
        ratio("nginx_vs_tcp_netns", ["nginx_req_per_s"], "_netns")
        ratio("netns_vs_samens_redis_p1", ["redis_p1_get_ops",
                                           "redis_p1_set_ops"], "",
              ("ism_netns", "ism"))
        ratio("netns_vs_samens_iperf3", ["iperf3_bits_per_s"], "",
              ("ism_netns", "ism"))
        ratio("netns_vs_samens_nginx", ["nginx_req_per_s"], "",
              ("ism_netns", "ism"))
        each = [v for k, v in ratios.items()
                if k.startswith("netns_vs_samens_")]
        if each:
            ratios["netns_vs_samens"] = math.exp(
                sum(math.log(v) for v in each) / len(each))
        for pair in pairs:
            n = pair.paths() if pair.pre else None
            if n:
                notes.append("%s: %d of %d connection ends on shared "
                             "memory" % ((pair.name,) + n))
            if n and pair.nets and n[0] * 2 < n[1]:
                notes.append("netns: ism across namespaces ran mostly on "
                             "TCP: its ratios do not measure shared memory")
    finally:
        for p in procs:
            if p.poll() is None:
                stop(p)
        if nets:
            for e in nets.close():
                notes.append("netns: failed: cleanup: " + e)
        shutil.rmtree(d, ignore_errors=True)
    notes.append("load average %s" % " ".join(
        open("/proc/loadavg").read().split()[:3]))
    if as_json:
        print(json.dumps({"suite": "apps", "figures": figures,
                          "ratios": ratios, "notes": notes}))
    else:
        print("apps: figures")
        for k, v in figures.items():
            print("  %-36s %14.1f" % (k, v))
        print("apps: ratios (same run)")
        for k, v in ratios.items():
            print("  %-36s %8.3f" % (k, v))
        for n in notes:
            print("  note: " + n)
    # a program that is not installed is a note; one that failed is not
    return 1 if any(": failed:" in n for n in notes) else 0


if __name__ == "__main__":
    sys.exit(main())
