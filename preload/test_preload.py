#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""ism-run under unmodified programs, against a private ismd.

    test_preload.py ISMD ISMCTL ISM_RUN T_PLAIN [sanitized]

Each case runs a server and a client (t_plain, which knows nothing of
ism; t_slowread, peers that write after POLLOUT with blocking calls
while one of them stops reading; and the real programs that are
installed: socat, python3's http.server + curl, redis-server +
redis-cli, nginx, iperf3; as root, the same across two network
namespaces, and through a DNAT rule), checks every byte against what
was sent (or against the same run without ism-run), and checks from
ism-run's log and `ismctl streams` which connections moved onto shared
memory.  Then the fallbacks: a peer not under ism-run, ISM_RUN=off, no
ismd.  A program that is not installed is skipped with a line saying
so; the whole test skips (77) only if nothing could run.  Every process
is started in its own session and killed and reaped at the end, also on
failure.  ISM_PRELOAD_ONLY="netns redis ..." runs only those groups
(plain slowread socat http redis nginx iperf3 hostile liar netns).
"""
import errno
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "tests", "helpers"))
import netns as netns_helper  # noqa: E402 (tests/helpers/netns.py)
import ports  # noqa: E402
from ports import free_port  # noqa: E402

ISMD, ISMCTL, ISM_RUN, T_PLAIN = sys.argv[1:5]
T_SLOWREAD = os.path.join(os.path.dirname(T_PLAIN), "t_slowread")
SANITIZED = len(sys.argv) > 5 and sys.argv[5] != "none"

procs = []
failures = []
ran = 0


def log(msg):
    print("preload: " + msg, flush=True)


def fail(msg):
    failures.append(msg)
    log("FAIL: " + msg)


def base_env(d):
    env = dict(os.environ)
    env["ISM_SOCKET"] = os.path.join(d, "ism.sock")
    env.pop("ISM_RUN", None)
    env.pop("LD_PRELOAD", None)
    if SANITIZED:
        # The shim is instrumented: the sanitizer runtimes must be loaded
        # first in programs that are not (ism-run keeps them first).
        libs = []
        for lib in ("libasan.so", "libubsan.so"):
            p = subprocess.run(["cc", "-print-file-name=" + lib],
                               capture_output=True, text=True).stdout.strip()
            if os.path.isabs(p) and os.path.exists(p):
                libs.append(p)
        env["LD_PRELOAD"] = ":".join(libs)
        # Third-party programs leak at exit by design.
        env["ASAN_OPTIONS"] = "detect_leaks=0:abort_on_error=1"
    return env


def spawn(argv, env, stdout=subprocess.DEVNULL, stderr=None, cwd=None,
          stdin=subprocess.DEVNULL):
    p = subprocess.Popen(argv, env=env, stdout=stdout, stderr=stderr,
                         stdin=stdin, cwd=cwd, start_new_session=True)
    procs.append(p)
    return p


def reap(p, timeout=30):
    """Wait for p; kill its whole session if it overstays."""
    try:
        return p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill(p)
        return None


def kill(p):
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        p.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


def stop(p):
    """SIGTERM the session (a server), then make sure it is gone."""
    try:
        os.killpg(p.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    try:
        p.wait(timeout=10)
    except subprocess.TimeoutExpired:
        kill(p)
    # Its forked children (same session) too.
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def wait_for(cond, what, secs=20):
    end = time.monotonic() + secs
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.02)
    fail("timed out waiting for " + what)
    return False


def read(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def count(path, word):
    return sum(1 for line in read(path).splitlines()
               if line.rstrip().endswith(": " + word) or
               line.rstrip().endswith("(" + word + ")"))


def run_ism(argv, logf, verbose=True):
    return [ISM_RUN] + (["-v", "--log", logf] if verbose else []) + argv


def wait_port(port, secs=20):
    return wait_for(lambda: ports.port_open(port), "port %d" % port, secs)


# ---- t_plain: the calls real programs make ----

def plain_case(d, env, smode, clients, n_shm, label, server_ism=True,
               client_ism=True, want_word="shm", wrap=()):
    global ran
    ran += 1
    nfail = len(failures)
    slog = os.path.join(d, label + ".srv.log")
    clog = os.path.join(d, label + ".cli.log")
    argv = [T_PLAIN, "server", smode, str(len(clients))]
    srv = spawn(list(wrap) + (run_ism(argv, slog) if server_ism else argv),
                env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    line = srv.stdout.readline().strip()
    if not line.isdigit():
        fail("%s: the server printed no port (%r, %s)" %
             (label, line, srv.stderr.read() if srv.poll() is not None
              else "running"))
        kill(srv)
        return
    port = line
    cl = []
    for cmode, nbytes in clients:
        argv = [T_PLAIN, "client", cmode, port, str(nbytes)]
        cl.append((cmode, spawn(run_ism(argv, clog) if client_ism else argv,
                                env, stderr=subprocess.PIPE)))
    for cmode, p in cl:
        rc = reap(p, 120)
        if rc != 0:
            fail("%s: client %s exited %s: %s" %
                 (label, cmode, rc, p.stderr.read().decode().strip()))
    rc = reap(srv, 60)
    if rc != 0:
        fail("%s: server exited %s: %s" %
             (label, rc, srv.stderr.read().decode().strip()))
    if server_ism:
        got = count(slog, want_word)
        if got != n_shm:
            fail("%s: server log has %d '%s' connections, want %d:\n%s" %
                 (label, got, want_word, n_shm, read(slog)))
    if client_ism:
        got = count(clog, want_word)
        if got != n_shm:
            fail("%s: client log has %d '%s' connections, want %d:\n%s" %
                 (label, got, want_word, n_shm, read(clog)))
    if len(failures) == nfail:
        log("%s: ok" % label)


def port_server(argv, env, label, what="the server"):
    """Start argv (which prints its port first) with stdout and stderr
    piped: (process, port), or (None, None) after a failure."""
    srv = spawn(argv, env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    port = srv.stdout.readline().strip()
    if not port.isdigit():
        fail("%s: %s printed no port (%r)" % (label, what, port))
        kill(srv)
        return None, None
    return srv, port


def idle_case(d, env):
    """A server with a connection open and quiet sleeps in the kernel:
    the shim's spin before a sleep ends (no busy loop)."""
    global ran
    ran += 1
    nfail = len(failures)
    slog = os.path.join(d, "idle.srv.log")
    clog = os.path.join(d, "idle.cli.log")
    srv, port = port_server(run_ism([T_PLAIN, "server", "epoll", "1"], slog),
                            env, "idle")
    if not srv:
        return
    cli = spawn(run_ism([T_PLAIN, "client", "idle", port, "1000"], clog),
                env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if cli.stdout.readline().strip() != b"idle":
        fail("idle: the client did not get its first echo")
    else:
        time.sleep(0.3)

        def ticks():
            with open("/proc/%d/stat" % srv.pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return int(fields[11]) + int(fields[12])
        t0 = ticks()
        time.sleep(1.5)
        used = ticks() - t0
        # 1.5 s is 150 ticks at 100 Hz: a loop that never sleeps takes
        # most of them even on a loaded machine.
        if used > 15:
            fail("idle: the server used %d ticks of CPU in 1.5 s with a "
                 "quiet connection" % used)
    for name, p in (("client", cli), ("server", srv)):
        rc = reap(p, 60)
        if rc != 0:
            fail("idle: %s exited %s: %s" %
                 (name, rc, p.stderr.read().decode().strip()))
    if count(slog, "shm") != 1:
        fail("idle: the connection is not on shared memory:\n" +
             read(slog))
    if len(failures) == nfail:
        log("idle: ok")


SINK = r'''
import socket
l = socket.socket()
l.bind(("127.0.0.1", 0))
l.listen(1)
print(l.getsockname()[1], flush=True)
c, _ = l.accept()
n = 0
while True:
    try:
        b = c.recv(1 << 20)
    except OSError as e:
        print(n, e.errno, flush=True)
        break
    if not b:
        print(n, 0, flush=True)
        break
    n += len(b)
'''


def short_write_case(d, env, total=8 << 20):
    """An edge-triggered writer that got a short write waits for
    EPOLLOUT while the reader empties the ring: the edge must come (the
    look that finds the room must not eat the kick that said so)."""
    global ran
    ran += 1
    nfail = len(failures)
    slog = os.path.join(d, "short.srv.log")
    clog = os.path.join(d, "short.cli.log")
    srv, port = port_server(run_ism(["python3", "-c", SINK], slog), env,
                            "short-write", "the sink")
    if not srv:
        return
    w = spawn(run_ism([T_PLAIN, "writer", port, str(total)], clog), env,
              stderr=subprocess.PIPE)
    rc = reap(w, 120)
    if rc != 0:
        fail("short-write: writer exited %s: %s" %
             (rc, w.stderr.read().decode().strip()))
        kill(srv)  # (its report would never come)
        return
    got = srv.stdout.readline().strip()
    if reap(srv, 60) != 0 or got != b"%d 0" % total:
        fail("short-write: the sink got %r bytes of %d: %s" %
             (got, total, srv.stderr.read().decode().strip()[-400:]))
    if count(slog, "shm") != 1 or count(clog, "shm") != 1:
        fail("short-write: not on shared memory:\n%s\n%s" %
             (read(slog), read(clog)))
    if len(failures) == nfail:
        log("short-write: ok")


def fork_leak_case(d, env, n=20):
    """A forking server's parent closes each connection its child serves:
    its copy must go with the close (ism_stream_forget), not pile up until
    exit (7 fds and a ring mapping per connection before)."""
    global ran
    ran += 1
    nfail = len(failures)
    slog = os.path.join(d, "fork-leak.srv.log")
    clog = os.path.join(d, "fork-leak.cli.log")
    srv, port = port_server(run_ism([T_PLAIN, "server", "fork", str(n)],
                                    slog), env, "fork-leak")
    if not srv:
        return
    for _ in range(n):
        c = spawn(run_ism([T_PLAIN, "client", "block", port, "1000"], clog),
                  env, stderr=subprocess.PIPE)
        rc = reap(c, 60)
        if rc != 0:
            fail("fork-leak: client exited %s: %s" %
                 (rc, c.stderr.read().decode().strip()))
    rc = reap(srv, 60)
    err = srv.stderr.read().decode()
    m = re.search(r"kept (-?\d+) fds (-?\d+) maps", err)
    if rc != 0 or not m:
        fail("fork-leak: server exited %s: %s" % (rc, err.strip()))
    elif int(m.group(1)) >= n - 1 or int(m.group(2)) >= n - 1:
        fail("fork-leak: the parent kept %s fds and %s mappings after %d "
             "connections its children served" % (m.group(1), m.group(2), n))
    if count(slog, "shm") != n:
        fail("fork-leak: %d of %d connections on shared memory:\n%s" %
             (count(slog, "shm"), n, read(slog)))
    if len(failures) == nfail:
        log("fork-leak: ok (%s fds, %s mappings kept after %d connections)" %
            (m.group(1), m.group(2), n))


def plain_cases(d, env):
    mib = 1 << 20
    plain_case(d, env, "poll", [("block", mib), ("nb", mib), ("dup", mib),
                                ("peek", 300000)], 4, "poll")
    plain_case(d, env, "epoll", [("nb", mib)] * 4, 4, "epoll-lt")
    # stdio (fdopen, fwrite, fread, fileno) and dprintf on the socket.
    plain_case(d, env, "poll", [("stdio", mib), ("dprintf", 20000)], 2,
               "stdio")
    # Deleted and added again on every turn (redis's ae does that).
    plain_case(d, env, "epollre", [("nb", mib), ("block", mib),
                                   ("peek", 100000)], 3, "epoll-readd")
    # A loop that never sleeps (every connection always writable, and
    # waited on for that) must still hear of every connection's bytes.
    plain_case(d, env, "epollbusy", [("nb", mib), ("block", 70000),
                                     ("peek", 100000)], 3, "epoll-busy")
    plain_case(d, env, "pollbusy", [("nb", mib), ("block", 70000)], 2,
               "poll-busy")
    plain_case(d, env, "epollet", [("nb", mib), ("block", mib),
                                   ("nb", 1), ("peek", 100000)], 4,
               "epoll-et")
    plain_case(d, env, "select", [("nb", mib), ("block", 70000)], 2,
               "select")
    # A child per connection; the parent closes its copy at once.
    plain_case(d, env, "fork", [("block", mib), ("nb", mib),
                                ("block", 1000)], 3, "fork-server")
    fork_leak_case(d, env)
    idle_case(d, env)
    short_write_case(d, env)
    # As in a pod: the server in mount, pid, ipc and uts namespaces of
    # its own (ismd's socket reaches it through the copied mounts), the
    # same network namespace: the connections move (docs/containers.md).
    if os.geteuid() == 0 and shutil.which("unshare"):
        plain_case(d, env, "poll", [("block", mib), ("nb", 70000)], 2,
                   "pod", wrap=("unshare", "--mount", "--pid", "--ipc",
                                "--uts", "--fork", "--kill-child"))
    else:
        log("SKIPPED: pod (needs root and unshare)")
    # Fallbacks: the peer is not under ism-run; the same bytes over TCP.
    plain_case(d, env, "poll", [("nb", mib), ("block", mib)], 2,
               "server-not-ism", server_ism=False, want_word="peer not ism")
    plain_case(d, env, "epoll", [("nb", mib)], 1, "client-not-ism",
               client_ism=False, want_word="peer not ism")
    off = dict(env, ISM_RUN="off")
    plain_case(d, off, "poll", [("nb", mib), ("peek", 5000)], 0,
               "ISM_RUN=off")
    noismd = dict(env, ISM_SOCKET=os.path.join(d, "nobody.sock"))
    plain_case(d, noismd, "epollet", [("nb", mib)], 0, "no-ismd")
    if "unreachable" not in read(os.path.join(d, "no-ismd.cli.log")):
        fail("no-ismd: the client's log does not say ismd is unreachable")
    unreachable_case(env)


def unreachable_case(env):
    """ism-run says so before running a program the shim cannot reach
    (statically linked: ism-guest is), and only then."""
    guest = os.path.join(os.path.dirname(os.path.dirname(ISM_RUN)),
                         "guest", "ism-guest")
    for argv, want in (([guest, "--help"], True), (["true"], False)):
        if not os.path.exists(argv[0]) and want:
            log("SKIPPED: unreachable (no %s)" % argv[0])
            continue
        r = subprocess.run([ISM_RUN] + argv, env=env, capture_output=True,
                           timeout=60)
        said = b"statically linked: the shim cannot reach it" in r.stderr
        if said != want:
            fail("unreachable: ism-run %s: %s the warning: %r" %
                 (argv[0], "without" if want else "with", r.stderr[-300:]))


# ---- t_slowread: a reader that stops while the other side writes ----

def slowread_case(d, env, mode, ism=True):
    """The client sends 4 MiB without reading, then reads the server's
    4 MiB; the server reads all the time and writes after POLLOUT with
    blocking calls, as socat does.  A POLLOUT with a nearly full ring
    blocked the server's write, hence its reading, hence the client's
    write: both hung (the server's write failed with ECONNRESET when the
    hung client was killed)."""
    global ran
    ran += 1
    nfail = len(failures)
    label = "slowread-%s%s" % (mode, "" if ism else "-tcp")
    slog = os.path.join(d, label + ".srv.log")
    clog = os.path.join(d, label + ".cli.log")
    nbytes = str(4 << 20)
    argv = [T_SLOWREAD, "server", mode, nbytes]
    srv = spawn(run_ism(argv, slog) if ism else argv, env,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    port = srv.stdout.readline().strip().decode()
    if not port.isdigit():
        fail("%s: the server printed no port" % label)
        kill(srv)
        return
    argv = [T_SLOWREAD, "client", mode, port, nbytes]
    cli = spawn(run_ism(argv, clog) if ism else argv, env,
                stderr=subprocess.PIPE)
    # A hang is the failure this looks for: bounded, then killed.
    for who, p in (("client", cli), ("server", srv)):
        rc = reap(p, 120)
        if rc != 0:
            fail("%s: %s %s: %s" % (
                label, who, "hung" if rc is None else "exited %d" % rc,
                p.stderr.read().decode().strip()))
    if ism and (count(slog, "shm") != 1 or count(clog, "shm") != 1):
        fail("%s: not on shared memory:\n%s%s" % (label, read(slog),
                                                   read(clog)))
    if len(failures) == nfail:
        log("%s: ok" % label)


def slowread_cases(d, env):
    for mode in ("poll", "select", "epoll"):
        slowread_case(d, env, mode)
    slowread_case(d, env, "poll", ism=False)  # the program itself, on TCP


# ---- real programs ----

PROBES = {"socat": ["socat", "-V"], "curl": ["curl", "--version"],
          "python3": ["python3", "-c", "pass"],
          "redis-server": ["redis-server", "--version"],
          "redis-cli": ["redis-cli", "--version"],
          "nginx": ["nginx", "-v"], "iperf3": ["iperf3", "--version"],
          "wrk": ["sh", "-c", "wrk -v 2>&1 | grep -q Copyright"]}
ENV = {}


def have(*progs):
    missing = [p for p in progs if not shutil.which(p)]
    if missing:
        log("SKIPPED: %s not installed" % " ".join(missing))
        return False
    if not SANITIZED:
        return True
    # The sanitizer build preloads the ASan runtime into programs that
    # were not built with it; some do not survive that (curl deadlocks in
    # setlocale() with only libasan preloaded, no shim).
    for p in progs:
        try:
            r = subprocess.run(PROBES.get(p, [p, "--version"]), env=ENV,
                               capture_output=True, timeout=20)
            ok = r.returncode == 0
        except subprocess.TimeoutExpired:
            ok = False
        if not ok:
            log("SKIPPED: %s does not run with the sanitizer "
                "runtime preloaded (without the shim either)" % p)
            return False
    return True


def socat_case(d, env):
    global ran
    if not have("socat"):
        return
    ran += 1
    nfail = len(failures)
    data = os.urandom(3 << 20)
    src = os.path.join(d, "socat.in")
    with open(src, "wb") as f:
        f.write(data)
    slog = os.path.join(d, "socat.srv.log")
    clog = os.path.join(d, "socat.cli.log")
    port = free_port()
    srv = spawn(run_ism(["socat", "TCP-LISTEN:%d,bind=127.0.0.1,reuseaddr"
                         % port, "EXEC:cat"], slog), env)
    if not wait_for(lambda: "listening" in read(slog), "socat to listen"):
        kill(srv)
        return
    # The client's output goes to a file, then into a pipe: a consumer
    # that stops reading now and then, while both directions are full
    # (socat writes after select() says writable, with blocking calls;
    # see slowread_case).
    outs = [os.path.join(d, "socat.out"), None]
    for out in outs:
        with open(src, "rb") as fin:
            fout = open(out, "wb") if out else subprocess.PIPE
            try:
                r = subprocess.run(
                    run_ism(["socat", "-t", "10", "-",
                             "TCP:127.0.0.1:%d" % port], clog),
                    env=env, stdin=fin, stdout=fout,
                    stderr=subprocess.PIPE, timeout=60,
                    start_new_session=True)
            except subprocess.TimeoutExpired:
                fail("socat: the client hung (output to %s)" %
                     (out or "a pipe"))
                continue
            finally:
                if out:
                    fout.close()
        got = read_bytes(out) if out else r.stdout
        if r.returncode != 0 or got != data:
            fail("socat: echo of %d bytes into %s: rc %d, %d bytes back, "
                 "%s" % (len(data), out or "a pipe", r.returncode,
                         len(got), "equal" if got == data else "different"))
        # The server serves one connection: the next needs another.
        if out is not outs[-1]:
            stop(srv)
            srv = spawn(run_ism(["socat", "TCP-LISTEN:%d,bind=127.0.0.1,"
                                 "reuseaddr" % port, "EXEC:cat"], slog),
                        env)
            wait_for(lambda: read(slog).count("listening") >= 2,
                     "socat to listen again")
    if count(slog, "shm") != len(outs) or count(clog, "shm") != len(outs):
        fail("socat: not on shared memory:\n%s%s" % (read(slog),
                                                     read(clog)))
    stop(srv)
    if len(failures) == nfail:
        log("socat: ok")


def http_case(d, env):
    global ran
    if not have("curl", "python3"):
        return
    ran += 1
    nfail = len(failures)
    www = os.path.join(d, "www")
    os.mkdir(www)
    body = os.urandom(2 << 20)
    with open(os.path.join(www, "f.bin"), "wb") as f:
        f.write(body)
    slog = os.path.join(d, "http.srv.log")
    clog = os.path.join(d, "http.cli.log")
    port = free_port()
    srv = spawn(run_ism(["python3", "-m", "http.server", str(port),
                         "--bind", "127.0.0.1"], slog), env, cwd=www,
                stderr=subprocess.DEVNULL)
    if not wait_for(lambda: "listening" in read(slog), "http.server"):
        kill(srv)
        return
    url = "http://127.0.0.1:%d/f.bin" % port
    for i in range(3):
        r = subprocess.run(run_ism(["curl", "-sS", "--max-time", "60", url],
                                   clog), env=env, capture_output=True,
                           timeout=120, start_new_session=True)
        if r.returncode != 0 or r.stdout != body:
            fail("http: GET %d: rc %d, %d bytes (%s)" %
                 (i, r.returncode, len(r.stdout), r.stderr.decode()))
    # The same without ism-run, against the same server: plain TCP.
    r = subprocess.run(["curl", "-sS", "--max-time", "60", url],
                       env=dict(env, LD_PRELOAD=""), capture_output=True,
                       timeout=120)
    if r.returncode != 0 or r.stdout != body:
        fail("http: GET without ism-run: rc %d" % r.returncode)
    if count(clog, "shm") != 3 or count(slog, "shm") != 3 or \
       count(slog, "peer not ism") != 1:
        fail("http: paths:\n%s%s" % (read(slog), read(clog)))
    stop(srv)
    if len(failures) == nfail:
        log("http.server + curl: ok")


def redis_case(d, env):
    global ran
    if not have("redis-server", "redis-cli"):
        return
    ran += 1
    nfail = len(failures)
    rdir = os.path.join(d, "redis")
    os.mkdir(rdir)
    slog = os.path.join(d, "redis.srv.log")
    clog = os.path.join(d, "redis.cli.log")
    port = free_port()
    srv = spawn(run_ism(["redis-server", "--port", str(port), "--bind",
                         "127.0.0.1", "--save", "", "--appendonly", "no",
                         "--dir", rdir, "--daemonize", "no"], slog), env)
    if not wait_for(lambda: "listening" in read(slog), "redis-server"):
        kill(srv)
        return
    wait_port(port)
    script = "".join("SET key:%d %s\nGET key:%d\nINCRBY n %d\n" %
                     (i, "v" * (1 + i * 37 % 5000), i, i) for i in range(200))
    script += "LRANGE nothing 0 -1\nGET n\n"
    outs = []
    for under in (True, False):
        argv = ["redis-cli", "-p", str(port)]
        r = subprocess.run(run_ism(argv, clog) if under else argv,
                           env=env if under else dict(env, LD_PRELOAD=""),
                           input=script.encode(), capture_output=True,
                           timeout=120, start_new_session=True)
        if r.returncode != 0:
            fail("redis: redis-cli rc %d: %s" % (r.returncode, r.stderr))
        outs.append(r.stdout)
    # INCRBY n adds the same again: the second run's counters are
    # shifted by the first's total; compare everything else.
    a = outs[0].decode().splitlines()
    b = outs[1].decode().splitlines()
    total = sum(range(200))
    # (redis-cli prints an empty line for the empty LRANGE)
    if len(a) != len(b) or len(a) < 3 * 200 + 2:
        fail("redis: %d and %d reply lines" % (len(a), len(b)))
    else:
        for i, (x, y) in enumerate(zip(a, b)):
            if i % 3 == 2 and i < 600 or i == len(a) - 1:
                if int(y) - int(x) != total:
                    fail("redis: counter line %d: %s then %s" % (i, x, y))
                    break
            elif x != y:
                fail("redis: reply %d differs: %r %r" % (i, x, y))
                break
    # A connection held open shows up in ismctl streams as shm.
    holder = spawn(run_ism(["redis-cli", "-p", str(port)], clog), env,
                   stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    holder.stdin.write(b"PING\n")
    holder.stdin.flush()
    if holder.stdout.readline().strip() != b"PONG":
        fail("redis: no PONG")
    r = subprocess.run([ISMCTL, "--json", "streams"], env=env,
                       capture_output=True, timeout=30)
    try:
        doc = json.loads(r.stdout)
    except ValueError:
        doc = None
        fail("redis: ismctl --json streams: %r" % r.stdout[:200])
    if doc is not None:
        text = json.dumps(doc)
        if '"shm"' not in text or str(port) not in text:
            fail("redis: ismctl streams shows no shm stream on port %d: %s"
                 % (port, text[:400]))
    holder.stdin.close()
    reap(holder)
    if shutil.which("redis-benchmark"):
        r = subprocess.run(run_ism(["redis-benchmark", "-p", str(port), "-q",
                                    "-n", "2000", "-c", "8", "-t",
                                    "set,get"], clog),
                           env=env, capture_output=True, timeout=300,
                           start_new_session=True)
        if r.returncode != 0 or b"GET" not in r.stdout:
            fail("redis: redis-benchmark rc %d" % r.returncode)
    if count(slog, "shm") < 3:
        fail("redis: server log:\n" + read(slog))
    stop(srv)
    if len(failures) == nfail:
        log("redis: ok")


def ismctl_streams(env):
    r = subprocess.run([ISMCTL, "--json", "streams"], env=env,
                       capture_output=True, timeout=30)
    try:
        return json.dumps(json.loads(r.stdout))
    except ValueError:
        return ""


def shm_on_port(env, port, want):
    """ismctl streams lists at least @want streams on shared memory whose
    addresses name @port."""
    try:
        doc = json.loads(ismctl_streams(env) or "null")
    except ValueError:
        return False
    rows = doc.get("streams", doc) if isinstance(doc, dict) else doc
    if not isinstance(rows, list):
        return False
    n = sum(1 for row in rows if isinstance(row, dict) and
            json.dumps(row).count('"shm"') and (":%d" % port) in
            json.dumps(row))
    return n >= want


def records_on_port(env, port):
    """The roles of ismd's stream records with @port in an address."""
    try:
        doc = json.loads(ismctl_streams(env) or "null")
    except ValueError:
        return None
    if not isinstance(doc, dict) or not isinstance(doc.get("streams"), list):
        return None
    return [row.get("role") for row in doc["streams"]
            if isinstance(row, dict) and
            any(str(row.get(k, "")).endswith(":%d" % port)
                for k in ("local", "remote"))]


NGINX_CONF = """daemon off;
master_process on;
worker_processes 1;
%(user)s
pid %(d)s/nginx.pid;
error_log %(d)s/error.log info;
events { worker_connections 512; }
http {
    access_log off;
    client_body_temp_path %(d)s/tmp/body;
    proxy_temp_path %(d)s/tmp/proxy;
    fastcgi_temp_path %(d)s/tmp/fastcgi;
    uwsgi_temp_path %(d)s/tmp/uwsgi;
    scgi_temp_path %(d)s/tmp/scgi;
    sendfile on;
    keepalive_requests 100000;
    server { listen %(addr)s:%(port)d; root %(d)s/www; }
}
"""

# A keep-alive client for nginx_case, run under ism-run: one connection
# held open (ismctl looks at it), then many connections, sequential and
# concurrent, every body compared.
HTTP_CLIENT = r"""
import http.client, sys, threading
port, n_seq, n_thr, per_thr = (int(a) for a in sys.argv[1:5])
want = open(sys.argv[5], "rb").read()
host = sys.argv[6] if len(sys.argv) > 6 else "127.0.0.1"
def get(c, path="/small.bin"):
    c.request("GET", path)
    r = c.getresponse()
    b = r.read()
    if r.status != 200 or b != want:
        raise SystemExit("bad reply: %d, %d bytes" % (r.status, len(b)))
held = http.client.HTTPConnection(host, port)
get(held)
print("held", flush=True)
sys.stdin.readline()
for i in range(200):
    get(held)
held.close()
for i in range(n_seq):
    c = http.client.HTTPConnection(host, port)
    get(c)
    c.close()
errs = []
def worker():
    try:
        for i in range(per_thr):
            c = http.client.HTTPConnection(host, port)
            get(c)
            get(c)
            c.close()
    except BaseException as e:
        errs.append(repr(e))
ts = [threading.Thread(target=worker) for i in range(n_thr)]
for t in ts:
    t.start()
for t in ts:
    t.join()
if errs:
    raise SystemExit("threads: " + errs[0])
print("done", flush=True)
"""


def nginx_case(d, env):
    """nginx (master + a worker, epoll edge-triggered, sendfile) serving
    curl (bodies byte-exact against the same GETs without ism-run, and
    100 requests on one keep-alive connection), a Python client (a held
    connection that ismctl streams shows on shared memory; 1000
    connections one after the other and 50 at a time) and wrk (no
    socket errors: wrk sizes its event loop by its connection count, so
    the shim's own fds must not push the application's up)."""
    global ran
    if not have("nginx", "python3"):
        return
    curl = have("curl")
    ran += 1
    nfail = len(failures)
    nd = os.path.join(d, "nginx")
    for sub in ("www", "tmp"):
        os.makedirs(os.path.join(nd, sub))
    bodies = {"small.bin": os.urandom(612), "big.bin": os.urandom(3 << 20),
              "odd.bin": os.urandom((1 << 20) + 4093)}
    for name, body in bodies.items():
        with open(os.path.join(nd, "www", name), "wb") as f:
            f.write(body)
    port = free_port()
    user = "user root root;" if os.getuid() == 0 else ""
    with open(os.path.join(nd, "nginx.conf"), "w") as f:
        f.write(NGINX_CONF % {"d": nd, "port": port, "user": user,
                              "addr": "127.0.0.1"})
    slog = os.path.join(d, "nginx.srv.log")
    clog = os.path.join(d, "nginx.cli.log")
    srv = spawn(run_ism(["nginx", "-p", nd, "-c",
                         os.path.join(nd, "nginx.conf"), "-e",
                         os.path.join(nd, "error.log")], slog), env,
                stderr=subprocess.DEVNULL)
    if not wait_for(lambda: "listening" in read(slog), "nginx") or \
       not wait_port(port):
        fail("nginx: %s" % read(os.path.join(nd, "error.log"))[-2000:])
        stop(srv)
        return
    base = "http://127.0.0.1:%d/" % port
    for name, body in bodies.items() if curl else ():
        for under in (True, False):
            argv = ["curl", "-sS", "--max-time", "60", base + name]
            r = subprocess.run(run_ism(argv, clog) if under else argv,
                               env=env if under else
                               dict(env, LD_PRELOAD=""),
                               capture_output=True, timeout=120,
                               start_new_session=True)
            if r.returncode != 0 or r.stdout != body:
                fail("nginx: GET %s %s ism-run: rc %d, %d of %d bytes%s" %
                     (name, "under" if under else "without", r.returncode,
                      len(r.stdout), len(body),
                      "" if len(r.stdout) != len(body) else " (differ)"))
    # 100 requests on one connection: each waits for the previous reply,
    # and nginx reads once and waits for the next edge.
    argv = ["curl", "-sS", "--max-time", "60"] + \
        [base + "small.bin"] * 100
    r = subprocess.run(run_ism(argv, clog), env=env, capture_output=True,
                       timeout=120, start_new_session=True) if curl else None
    if r and (r.returncode != 0 or r.stdout != bodies["small.bin"] * 100):
        fail("nginx: 100 GETs on one connection: rc %d, %d bytes" %
             (r.returncode, len(r.stdout)))
    # Many connections; one held while ismctl looks.
    small = os.path.join(nd, "www", "small.bin")
    cli = spawn(run_ism(["python3", "-c", HTTP_CLIENT, str(port), "1000",
                         "50", "4", small], clog), env,
                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE)
    if cli.stdout.readline().strip() != b"held":
        fail("nginx: the Python client did not get its first reply")
    elif not shm_on_port(env, port, 2):
        fail("nginx: ismctl streams shows no connection on port %d on "
             "shared memory: %s" % (port, ismctl_streams(env)[:600]))
    try:
        cli.stdin.close()
    except OSError:
        pass
    if reap(cli, 300) != 0:
        fail("nginx: the Python client: %s" %
             cli.stderr.read().decode()[-600:])
    got = count(clog, "shm")
    # curl's, curl's 100 GETs, the held one, one by one, by threads
    want = (3 + 1 if curl else 0) + 1 + 1000 + 50 * 4
    if got != want:
        fail("nginx: %d client connections on shared memory, want %d" %
             (got, want))
    if have("wrk"):
        r = subprocess.run(run_ism(["wrk", "-t", "1", "-c", "8", "-d", "1s",
                                    base + "small.bin"], clog),
                           env=env, capture_output=True, timeout=120,
                           start_new_session=True)
        out = r.stdout.decode()
        reqs = [int(w) for line in out.splitlines() if "requests in" in line
                for w in line.split()[:1]]
        if r.returncode != 0 or "Socket errors" in out or "Non-2xx" in out \
           or not reqs or reqs[0] < 100:
            fail("nginx: wrk under ism-run: rc %d:\n%s" % (r.returncode, out))
    stop(srv)
    if "[alert]" in read(os.path.join(nd, "error.log")) or \
       "[crit]" in read(os.path.join(nd, "error.log")):
        fail("nginx: error.log:\n" + read(os.path.join(nd, "error.log"))[-2000:])
    if len(failures) == nfail:
        log("nginx: ok")


def iperf3_json(r, what):
    try:
        doc = json.loads(r.stdout)
        return doc["end"]["sum_sent"]["bytes"], \
            doc["end"]["sum_received"]["bytes"]
    except (ValueError, KeyError, TypeError):
        fail("iperf3: %s: rc %d, no result: %s %s" %
             (what, r.returncode, r.stdout[-300:], r.stderr[-300:]))
        return None


def iperf3_case(d, env):
    """iperf3, both directions, under ism-run and without: every byte
    sent is received; its control and data connections on shared memory
    (logs and ismctl streams); a client killed with SIGKILL mid-transfer
    leaves the server with an error, not a hang."""
    global ran
    if not have("iperf3"):
        return
    ran += 1
    nfail = len(failures)
    slog = os.path.join(d, "iperf3.srv.log")
    clog = os.path.join(d, "iperf3.cli.log")
    nbytes = 64 << 20
    port = free_port()
    srv = spawn(run_ism(["iperf3", "-s", "-B", "127.0.0.1", "-p", str(port)],
                        slog), env, stderr=subprocess.DEVNULL)
    if not wait_for(lambda: "listening" in read(slog), "iperf3 -s") or \
       not wait_port(port):
        stop(srv)
        return
    # wait_port()'s probe was a client to iperf3, which then listens
    # anew: a client connecting before that is reset, as on TCP.
    if not wait_for(lambda: read(slog).count("listening") >= 2,
                    "iperf3 -s to listen again"):
        stop(srv)
        return
    results = {}
    listens = 2
    for under in (True, False):
        for rev in ([], ["-R"]):
            # iperf3 listens anew after each test: a client before that
            # is told "the server is busy"
            wait_for(lambda: read(slog).count("listening") >= listens,
                     "iperf3 -s to listen again")
            listens += 1
            argv = ["iperf3", "-c", "127.0.0.1", "-p", str(port), "-n",
                    str(nbytes), "-J"] + rev
            r = subprocess.run(run_ism(argv, clog) if under else argv,
                               env=env if under else
                               dict(env, LD_PRELOAD=""),
                               capture_output=True, timeout=120,
                               start_new_session=True)
            res = iperf3_json(r, "%s%s" % ("ism-run" if under else "tcp",
                                            " -R" if rev else ""))
            if res is not None:
                results[(under, bool(rev))] = res
                # (iperf3's receiver may stop counting at the control
                # message that ends the test, before the last bytes; a
                # reverse test's sender may send past -n to the end of
                # the block it is on: 64 MiB + 128 KiB was seen)
                if not nbytes <= res[0] <= nbytes + (1 << 20) or \
                   not 0 < res[1] <= res[0]:
                    fail("iperf3: %s%s: sent %d, received %d" % (
                        "ism-run" if under else "tcp", " -R" if rev else "",
                        res[0], res[1]))
    # control + data, both directions, on shared memory; the same
    # through TCP without ism-run, and wait_port()'s probe
    if count(clog, "shm") != 4 or count(slog, "shm") != 4 or \
       count(slog, "peer not ism") != 5:
        fail("iperf3: paths:\n%s%s" % (read(slog), read(clog)))
    # A running test, seen by ismctl; then its client killed.
    wait_for(lambda: read(slog).count("listening") >= listens,
             "iperf3 -s to listen again")
    cli = spawn(run_ism(["iperf3", "-c", "127.0.0.1", "-p", str(port), "-t",
                         "60"], clog), env, stderr=subprocess.DEVNULL)
    if not wait_for(lambda: shm_on_port(env, port, 2),
                    "ismctl streams to show iperf3 on shared memory"):
        log("streams: " + ismctl_streams(env)[:600])
    kill(cli)
    # The server notices and takes the next test.
    argv = ["iperf3", "-c", "127.0.0.1", "-p", str(port), "-n", "8M", "-J"]
    ok = False
    for attempt in range(20):
        r = subprocess.run(run_ism(argv, clog), env=env, capture_output=True,
                           timeout=120, start_new_session=True)
        if r.returncode == 0:
            ok = True
            break
        time.sleep(0.5)  # "the server is busy" until it noticed
    if not ok:
        fail("iperf3: the server did not recover from a killed client: "
             "%s" % r.stdout[-300:])
    if srv.poll() is not None:
        fail("iperf3: the server exited %s" % srv.returncode)
    stop(srv)
    if len(failures) == nfail:
        log("iperf3: ok")


# ---- hostile and careless programs (t_hostile), lying peers (t_liar) ----

T_HOSTILE = os.path.join(os.path.dirname(T_PLAIN), "t_hostile")
T_LIAR = os.path.join(os.path.dirname(T_PLAIN), "t_liar")


class HServer:
    """t_hostile server MODE under ism-run: its lines go to a file."""

    def __init__(self, d, env, mode, label):
        self.out = os.path.join(d, label + ".out")
        self.log = os.path.join(d, label + ".srv.log")
        self.p = spawn(run_ism([T_HOSTILE, "server", mode], self.log), env,
                       stdin=subprocess.PIPE,
                       stdout=open(self.out, "w"), stderr=subprocess.PIPE)
        self.port = None
        if wait_for(lambda: self.lines(), "t_hostile server " + mode):
            self.port = int(self.lines()[0])

    def lines(self):
        return read(self.out).splitlines()

    def wait_lines(self, prefix, n, what):
        return wait_for(lambda: len([x for x in self.lines()
                                     if x.startswith(prefix)]) >= n, what,
                        60)

    def finish(self):
        """Close its stdin; (served, errors, fds) from its last line."""
        try:
            self.p.stdin.close()
        except OSError:
            pass
        rc = reap(self.p, 60)
        end = [x for x in self.lines() if x.startswith("end ")]
        if rc != 0 or not end:
            fail("t_hostile server: rc %s, %s" %
                 (rc, self.p.stderr.read().decode()[-400:]))
            return None
        w = end[-1].split()
        return int(w[2]), int(w[4]), int(w[6])


def progress(path):
    try:
        with open(path, "rb") as f:
            b = f.read(8)
        return int.from_bytes(b, "little") if len(b) == 8 else 0
    except FileNotFoundError:
        return 0


def hostile_cases(d, env):
    global ran
    ran += 1
    nfail = len(failures)
    clog = os.path.join(d, "hostile.cli.log")

    def client(args, timeout=300):
        r = subprocess.run(run_ism([T_HOSTILE, "client"] + args, clog),
                           env=env, capture_output=True, timeout=timeout,
                           start_new_session=True)
        if r.returncode != 0:
            fail("hostile: client %s: rc %d: %s" % (
                " ".join(args[:1] + args[2:]), r.returncode,
                r.stderr.decode()[-400:]))
        return r.stdout.decode()

    # An fd closed while another thread waits on it (poll, read,
    # epoll_wait in turn); 1000 connections one by one, 200 by 50.
    # (the closing client resets connections whose echo it did not
    # read, as TCP does: errors are the server's to see there)
    for label, runs, want_err in (
            ("closepoll", [["closepoll", "150"]], None),
            ("many", [["many", "1000", "1"], ["many", "200", "50"]], 0)):
        echo = HServer(d, env, "echo", "hostile-" + label)
        if echo.port is None:
            return
        for args in runs:
            client(args[:1] + [str(echo.port)] + args[1:])
        want = 150 if label == "closepoll" else 1200
        # ismd holds no record of them any more: the listener's only.
        wait_for(lambda: records_on_port(env, echo.port) == ["listen"],
                 "ismd to forget %s's connections (%s)" %
                 (label, records_on_port(env, echo.port)[:8]))
        end = echo.finish()
        if end and (end[0] != want or end[2] != 0 or
                    want_err is not None and end[1] != want_err):
            fail("hostile: %s: echo server: served %d, errors %d, fds "
                 "left %d; want %d, %s, 0" % ((label,) + end + (
                     want, want_err)) + "\n" + "\n".join(
                         x for x in echo.lines() if x.startswith("lsfd ")))
        if count(echo.log, "shm") != want:
            fail("hostile: %s: %d server connections on shared memory, "
                 "want %d" % (label, count(echo.log, "shm"), want))

    # fork + both processes writing to one stream: the one that writes
    # first owns it, the other gets a clean error; the sink sees whole
    # records of one writer, in order, and every one it wrote.
    sink = HServer(d, env, "sink", "hostile-sink")
    source = HServer(d, env, "source", "hostile-source")
    if sink.port is None or source.port is None:
        return
    for n, first in enumerate(("both", "child")):
        out = client(["forkwrite", str(sink.port), first])
        wrote = {w.split()[0]: int(w.split()[1]) for w in out.splitlines()
                 if len(w.split()) == 3}
        if not sink.wait_lines("sink ", n + 1, "the sink's line"):
            continue
        w = [x for x in sink.lines() if x.startswith("sink ")][n].split()
        if w[2] != "records" or w[5] != "ok" or w[6] != "eof" or \
           int(w[3]) != wrote.get("P") or int(w[4]) != wrote.get("C") or \
           max(int(w[3]), int(w[4])) != 100 or \
           (first == "child" and int(w[4]) != 100):
            fail("hostile: forkwrite %s: the client says %s, the sink %s"
                 % (first, wrote, " ".join(w)))

    # kill -9 of the sender mid-transfer: the sink gets every byte the
    # sender's writes returned, then EOF or ECONNRESET.
    prog = os.path.join(d, "hostile.progress")
    cli = spawn(run_ism([T_HOSTILE, "client", "send", str(sink.port), prog],
                        clog), env, stderr=subprocess.PIPE)
    if wait_for(lambda: progress(prog) >= 8 << 20, "the sender"):
        kill(cli)
        sent = progress(prog)
        if sink.wait_lines("sink ", 3, "the sink to see the sender die"):
            w = [x for x in sink.lines() if x.startswith("sink ")][2].split()
            got = int(w[1])
            if w[2] != "pattern" or w[5] != "ok" or \
               w[6] not in ("eof", "ECONNRESET") or \
               not sent <= got <= sent + 65536:
                fail("hostile: sender killed after %d bytes: the sink %s"
                     % (sent, " ".join(w)))
    kill(cli)
    # kill -9 of the receiver: the source's write fails, cleanly.
    os.unlink(prog)
    cli = spawn(run_ism([T_HOSTILE, "client", "recv", str(source.port),
                         prog], clog), env, stderr=subprocess.PIPE)
    if wait_for(lambda: progress(prog) >= 8 << 20, "the receiver"):
        kill(cli)
        got = progress(prog)
        if source.wait_lines("source ", 1, "the source to see the "
                             "receiver die"):
            w = [x for x in source.lines()
                 if x.startswith("source ")][0].split()
            if int(w[1]) < got or w[2] not in ("EPIPE", "ECONNRESET"):
                fail("hostile: receiver killed after %d bytes: the source "
                     "%s" % (got, " ".join(w)))
    kill(cli)
    for srv, n in ((sink, 3), (source, 1)):
        end = srv.finish()
        if end and (end[0] != n or end[2] != 0):
            fail("hostile: %s: served %d, fds left %d" %
                 (srv.out, end[0], end[2]))
    if len(failures) == nfail:
        log("hostile (close under a waiter, 1350 connections, fork + two "
            "writers, kill -9 either side): ok")
    bypass_case(d, env)


# Writes past the shim (a raw write(2), as Go, io_uring or a static
# helper would) between two of its own sends.
BYPASS_CLIENT = r'''
import ctypes, socket, sys
libc = ctypes.CDLL(None, use_errno=True)
c = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
c.sendall(b"a" * 1000)
raw = sys.argv[2] == "raw"
if raw and libc.syscall(1, c.fileno(), b"xyz", 3) != 3:
    sys.exit("raw write failed")
c.sendall(b"b" * 1000)
c.close()
'''


def bypass_case(d, env):
    """Bytes a program writes past the shim land on the idle TCP
    connection, where the other side never reads: its end of stream
    must be an error, not a clean EOF after silently losing them."""
    global ran
    ran += 1
    nfail = len(failures)
    for mode, want in (("raw", "2000 %d" % errno.ECONNRESET),
                       ("shim", "2000 0")):
        slog = os.path.join(d, "bypass-%s.srv.log" % mode)
        clog = os.path.join(d, "bypass-%s.cli.log" % mode)
        srv, port = port_server(run_ism(["python3", "-c", SINK],
                                        slog), env, "bypass", "the sink")
        if not srv:
            return
        cli = spawn(run_ism(["python3", "-c", BYPASS_CLIENT, port, mode],
                            clog), env, stderr=subprocess.PIPE)
        if reap(cli, 60) != 0:
            fail("bypass %s: client: %s" %
                 (mode, cli.stderr.read().decode().strip()[-400:]))
            kill(srv)  # (it may never have been connected to)
            continue
        got = srv.stdout.readline().decode().strip()
        reap(srv, 60)
        if got != want:
            fail("bypass %s: the sink said %r, not %r" % (mode, got, want))
        if count(slog, "shm") < 1 or count(clog, "shm") != 1:
            fail("bypass %s: not on shared memory:\n%s\n%s" %
                 (mode, read(slog), read(clog)))
        if (mode == "raw") != ("past ism" in read(slog)):
            fail("bypass %s: the sink's log:\n%s" % (mode, read(slog)))
    if len(failures) == nfail:
        log("bypass (bytes written past the shim: an error, not lost): ok")


LIES = ("magic", "version", "kind", "reserved", "host", "peer", "token",
        "status", "short")


def liar_cases(d, env):
    """A libism peer that lies in its handshake messages, against
    programs under ism-run: every byte intact (the connection falls back
    to TCP) or a clean error, and the program keeps serving."""
    global ran
    ran += 1
    nfail = len(failures)
    clog = os.path.join(d, "liar.cli.log")
    # A lying client against a server under ism-run.
    echo = HServer(d, dict(env, ISM_RUN_HANDSHAKE_MS="1000"), "echo",
                   "liar-echo")
    if echo.port is None:
        return
    for lie in ("none",) + LIES:
        r = subprocess.run([T_LIAR, "client", str(echo.port), lie],
                           env=env, capture_output=True, timeout=60)
        if r.returncode != 0:
            fail("liar: client lying about %s: rc %d: %s %s" %
                 (lie, r.returncode, r.stdout.decode(),
                  r.stderr.decode()[-300:]))
        elif lie == "none" and b"connect: shm" not in r.stdout:
            fail("liar: an honest libism client is not on shared memory: "
                 "%s" % r.stdout.decode())
    r = subprocess.run(run_ism([T_HOSTILE, "client", "many",
                                str(echo.port), "20", "4"], clog),
                       env=env, capture_output=True, timeout=120,
                       start_new_session=True)
    if r.returncode != 0:
        fail("liar: the server under ism-run stopped serving: %s" %
             r.stderr.decode()[-300:])
    end = echo.finish()
    if end and (end[0] != len(LIES) + 1 + 20 or end[2] != 0):
        fail("liar: server: served %d, errors %d, fds left %d" % end)
    if count(echo.log, "shm") != 1 + 20:
        fail("liar: server paths:\n" + read(echo.log))
    # A lying server against a client under ism-run: the client's
    # connect falls back to TCP; its echo is exact.
    for lie in ("none",) + tuple("offer-" + x for x in LIES) + \
            tuple("confirm-" + x for x in LIES if x != "token"):
        out = os.path.join(d, "liar-%s.out" % lie)
        srv = spawn([T_LIAR, "server", lie], env, stdout=open(out, "w"),
                    stderr=subprocess.PIPE)
        if not wait_for(lambda: read(out).strip(), "t_liar server"):
            stop(srv)
            continue
        port = read(out).split()[0]
        before = count(clog, "shm")
        r = subprocess.run(run_ism([T_HOSTILE, "client", "many", port, "3",
                                    "1"], clog),
                           env=env, capture_output=True, timeout=120,
                           start_new_session=True)
        if r.returncode != 0:
            fail("liar: server lying about %s: the client under ism-run: "
                 "rc %d: %s" % (lie, r.returncode,
                                r.stderr.decode()[-300:]))
        # the first connection falls back; the next two are honest
        want = 3 if lie == "none" else 2
        if count(clog, "shm") - before != want:
            fail("liar: server lying about %s: %d on shared memory, want "
                 "%d" % (lie, count(clog, "shm") - before, want))
        stop(srv)
    if len(failures) == nfail:
        log("liar (%d lies each way): ok" % len(LIES))


def echoed(what, cli, out, data):
    """The socat client @cli ends, and wrote back (to @out) all of @data."""
    rc = reap(cli, 60)
    got = read_bytes(out)
    if rc != 0 or got != data:
        fail("%s: rc %s, %d of %d bytes back, %s" %
             (what, rc, len(got), len(data),
              "equal" if got == data else "different"))


# ---- across network namespaces (tests/helpers/netns.py) ----
#
# Servers in one namespace, their clients in another, joined by a veth
# pair: both under ism-run with the one ISM_SOCKET of the ismd started
# above in the host's namespace (namespaces made by root belong to its
# user namespace, as ismd's cross-namespace match requires).  Then
# kube-proxy's shape, a service address that a node namespace DNATs to
# the server pod's: with a second ismd in the node's namespace, which
# reads the translation from conntrack there, on shared memory; with the
# host's ismd, which cannot, TCP, "other host or namespace"; bytes intact
# both ways.  Every namespace (and with it every link, bridge and nft
# table) goes at the end of the group, also on failure; main() removes
# it again on SIGTERM (a meson timeout).

NETS = []  # the netns group's, removed by netns_close()


def xns_argv(side, argv, logf=None):
    """@argv in @side's namespace, under ism-run when @logf is given."""
    return NETS[0].wrap(side.ns, run_ism(argv, logf) if logf else argv)


def xns_env(env, under):
    return env if under else dict(env, LD_PRELOAD="")


def xns_shm(env, port, label, want=2):
    """ismctl streams shows @want ends of connections to @port on shared
    memory while they are open."""
    if not wait_for(lambda: shm_on_port(env, port, want),
                    "%s: ismctl streams to show %d ends on shared memory"
                    % (label, want), 10):
        log("streams: " + ismctl_streams(env)[:800])


def xns_paths(label, slog, clog, n_shm, n_plain, exact=False):
    """@n_shm connections (at least, unless @exact) on shared memory in
    both logs, none fallen back, and @n_plain from clients not under
    ism-run that the server saw as such."""
    shm = (count(clog, "shm"), count(slog, "shm"))
    plain = count(slog, "peer not ism")
    if exact:
        bad = shm != (n_shm, n_shm) or plain != n_plain
    else:
        bad = min(shm) < n_shm or plain < n_plain
    if bad or ": tcp (" in read(clog):
        fail("%s: paths (want %s%d shm, %d peer not ism):\n%s%s" %
             (label, "" if exact else ">= ", n_shm, n_plain, read(slog),
              read(clog)))


def xns_listening(slog, n, what):
    return wait_for(lambda: read(slog).count("listening") >= n, what)


def xns_socat(d, env, s, c):
    """A file through socat's echo (EXEC:cat), byte-exact both ways,
    under ism-run and without; ismctl looks while it is half sent."""
    global ran
    if not have("socat"):
        return
    ran += 1
    nfail = len(failures)
    port = 5101
    data = os.urandom(2 << 20)
    slog = os.path.join(d, "xns-socat.srv.log")
    clog = os.path.join(d, "xns-socat.cli.log")
    for i, under in enumerate((True, False)):
        srv = spawn(xns_argv(s, ["socat", "TCP-LISTEN:%d,bind=%s,reuseaddr"
                                 % (port, s.addr), "EXEC:cat"], slog), env)
        if not xns_listening(slog, i + 1, "xns-socat: socat to listen"):
            stop(srv)
            return
        out = os.path.join(d, "xns-socat.out%d" % i)
        with open(out, "wb") as fout:
            cli = spawn(xns_argv(c, ["socat", "-t", "10", "-",
                                     "TCP:%s:%d" % (s.addr, port)],
                                 clog if under else None),
                        xns_env(env, under), stdin=subprocess.PIPE,
                        stdout=fout, stderr=subprocess.PIPE)
        try:
            cli.stdin.write(data[:1 << 20])
            cli.stdin.flush()
            if under:
                xns_shm(env, port, "xns-socat")
            elif not wait_for(lambda: any(
                    r.get("path") == "tcp" and r.get("reason") ==
                    "peer not ism" for r in ends_records(
                        env, None, "%s:%d" % (s.addr, port))),
                    "xns-socat: ismctl streams to show the plain client's "
                    "connection on TCP", 10):
                log("streams: " + ismctl_streams(env)[:800])
            cli.stdin.write(data[1 << 20:])
            cli.stdin.close()
        except OSError as e:
            fail("xns-socat: writing to the client: %s" % e)
        echoed("xns-socat: %s ism-run" % ("under" if under else "without"),
               cli, out, data)
        stop(srv)
    xns_paths("xns-socat", slog, clog, 1, 1, exact=True)
    if len(failures) == nfail:
        log("xns-socat: ok")


def xns_redis(d, env, s, c):
    """redis-cli's replies under ism-run equal those without it;
    redis-benchmark under ism-run; a held connection in ismctl."""
    global ran
    if not have("redis-server", "redis-cli"):
        return
    ran += 1
    nfail = len(failures)
    port = 5102
    rdir = os.path.join(d, "xns-redis")
    os.mkdir(rdir)
    slog = os.path.join(d, "xns-redis.srv.log")
    clog = os.path.join(d, "xns-redis.cli.log")
    srv = spawn(xns_argv(s, ["redis-server", "--port", str(port), "--bind",
                             s.addr, "--protected-mode", "no", "--save", "",
                             "--appendonly", "no", "--dir", rdir,
                             "--daemonize", "no"], slog), env)
    if not xns_listening(slog, 1, "xns-redis: redis-server"):
        stop(srv)
        return
    cli = ["redis-cli", "-h", s.addr, "-p", str(port)]
    holder = spawn(xns_argv(c, cli, clog), env, stdin=subprocess.PIPE,
                   stdout=subprocess.PIPE)
    holder.stdin.write(b"PING\n")
    holder.stdin.flush()
    if holder.stdout.readline().strip() != b"PONG":
        fail("xns-redis: no PONG")
    else:
        xns_shm(env, port, "xns-redis")
    holder.stdin.close()
    reap(holder)
    # Each run leaves the database as it found it: equal replies.
    script = "".join("SET key:%d %s\nGET key:%d\nAPPEND key:%d xy\n"
                     "STRLEN key:%d\nDEL key:%d\n" %
                     (i, "v" * (1 + i * 37 % 5000), i, i, i, i)
                     for i in range(100)) + "LRANGE nothing 0 -1\n"
    outs = []
    for under in (True, False):
        r = subprocess.run(xns_argv(c, cli, clog if under else None),
                           env=xns_env(env, under), input=script.encode(),
                           capture_output=True, timeout=120,
                           start_new_session=True)
        if r.returncode != 0:
            fail("xns-redis: redis-cli rc %d: %s" % (r.returncode,
                                                     r.stderr[-300:]))
        outs.append(r.stdout)
    if outs[0] != outs[1] or outs[0].count(b"\n") < 500:
        fail("xns-redis: replies differ (%d and %d bytes)" %
             (len(outs[0]), len(outs[1])))
    r = subprocess.run(xns_argv(c, ["redis-benchmark", "-h", s.addr, "-p",
                                    str(port), "-q", "-n", "2000", "-c",
                                    "8", "-t", "set,get"], clog),
                       env=env, capture_output=True, timeout=300,
                       start_new_session=True)
    if r.returncode != 0 or b"GET" not in r.stdout:
        fail("xns-redis: redis-benchmark rc %d: %s" %
             (r.returncode, r.stdout[-300:] + r.stderr[-300:]))
    stop(srv)
    # the holder, redis-cli, 8 benchmark clients
    xns_paths("xns-redis", slog, clog, 10, 1)
    if len(failures) == nfail:
        log("xns-redis: ok")


def xns_nginx(d, env, s, c):
    """nginx's bodies byte-exact under ism-run and without (curl); 30
    GETs on one keep-alive connection; the Python client's held
    connection in ismctl, then 20 connections one by one and 2x5 by
    threads, every body compared."""
    global ran
    if not have("nginx", "python3"):
        return
    curl = have("curl")
    ran += 1
    nfail = len(failures)
    port = 5103
    nd = os.path.join(d, "xns-nginx")
    for sub in ("www", "tmp"):
        os.makedirs(os.path.join(nd, sub))
    bodies = {"small.bin": os.urandom(612),
              "odd.bin": os.urandom((1 << 20) + 4093)}
    for name, body in bodies.items():
        with open(os.path.join(nd, "www", name), "wb") as f:
            f.write(body)
    with open(os.path.join(nd, "nginx.conf"), "w") as f:
        f.write(NGINX_CONF % {"d": nd, "port": port, "addr": s.addr,
                              "user": "user root root;"})
    slog = os.path.join(d, "xns-nginx.srv.log")
    clog = os.path.join(d, "xns-nginx.cli.log")
    srv = spawn(xns_argv(s, ["nginx", "-p", nd, "-c",
                             os.path.join(nd, "nginx.conf"), "-e",
                             os.path.join(nd, "error.log")], slog), env,
                stderr=subprocess.DEVNULL)
    if not xns_listening(slog, 1, "xns-nginx: nginx"):
        fail("xns-nginx: %s" % read(os.path.join(nd, "error.log"))[-2000:])
        stop(srv)
        return
    base = "http://%s:%d/" % (s.addr, port)
    for name, body in bodies.items() if curl else ():
        for under in (True, False):
            r = subprocess.run(xns_argv(c, ["curl", "-sS", "--max-time",
                                            "60", base + name],
                                        clog if under else None),
                               env=xns_env(env, under), capture_output=True,
                               timeout=120, start_new_session=True)
            if r.returncode != 0 or r.stdout != body:
                fail("xns-nginx: GET %s %s ism-run: rc %d, %d of %d bytes"
                     % (name, "under" if under else "without",
                        r.returncode, len(r.stdout), len(body)))
    r = subprocess.run(xns_argv(c, ["curl", "-sS", "--max-time", "60"] +
                                [base + "small.bin"] * 30, clog),
                       env=env, capture_output=True, timeout=120,
                       start_new_session=True) if curl else None
    if r and (r.returncode != 0 or r.stdout != bodies["small.bin"] * 30):
        fail("xns-nginx: 30 GETs on one connection: rc %d, %d bytes" %
             (r.returncode, len(r.stdout)))
    cli = spawn(xns_argv(c, ["python3", "-c", HTTP_CLIENT, str(port), "20",
                             "2", "5", os.path.join(nd, "www", "small.bin"),
                             s.addr], clog), env, stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if cli.stdout.readline().strip() != b"held":
        fail("xns-nginx: the Python client did not get its first reply")
    else:
        xns_shm(env, port, "xns-nginx")
    try:
        cli.stdin.close()
    except OSError:
        pass
    if reap(cli, 120) != 0:
        fail("xns-nginx: the Python client: %s" %
             cli.stderr.read().decode()[-600:])
    stop(srv)
    err = read(os.path.join(nd, "error.log"))
    if "[alert]" in err or "[crit]" in err:
        fail("xns-nginx: error.log:\n" + err[-2000:])
    # curl 2 + 1 keep-alive, the held one, 20, 2x5; curl 2 without ism-run
    xns_paths("xns-nginx", slog, clog, (3 if curl else 0) + 1 + 20 + 10,
              2 if curl else 0, exact=True)
    if len(failures) == nfail:
        log("xns-nginx: ok")


def xns_iperf3(d, env, s, c):
    """iperf3 both directions under ism-run and once without: every byte
    sent is received; a running test's control and data connections in
    ismctl streams."""
    global ran
    if not have("iperf3"):
        return
    ran += 1
    nfail = len(failures)
    port = 5104
    nbytes = 16 << 20
    slog = os.path.join(d, "xns-iperf3.srv.log")
    clog = os.path.join(d, "xns-iperf3.cli.log")
    srv = spawn(xns_argv(s, ["iperf3", "-s", "-B", s.addr, "-p", str(port)],
                         slog), env, stderr=subprocess.DEVNULL)
    listens = 1
    for under, rev in ((True, []), (True, ["-R"]), (False, [])):
        # iperf3 listens anew after each test
        if not xns_listening(slog, listens, "xns-iperf3: iperf3 -s"):
            stop(srv)
            return
        listens += 1
        what = "%s%s" % ("ism-run" if under else "tcp",
                         " -R" if rev else "")
        r = subprocess.run(xns_argv(c, ["iperf3", "-c", s.addr, "-p",
                                        str(port), "-n", str(nbytes),
                                        "-J"] + rev,
                                    clog if under else None),
                           env=xns_env(env, under), capture_output=True,
                           timeout=120, start_new_session=True)
        res = iperf3_json(r, "xns " + what)
        # (as in iperf3_case: the receiver may stop counting before the
        # last bytes, a reverse sender may pass -n to its block's end)
        if res is not None and (not nbytes <= res[0] <= nbytes + (1 << 20)
                                or not 0 < res[1] <= res[0]):
            fail("xns-iperf3: %s: sent %d, received %d" % ((what,) + res))
    if xns_listening(slog, listens, "xns-iperf3: iperf3 -s"):
        cli = spawn(xns_argv(c, ["iperf3", "-c", s.addr, "-p", str(port),
                                 "-t", "60"], clog), env,
                    stderr=subprocess.DEVNULL)
        xns_shm(env, port, "xns-iperf3")
        kill(cli)
    stop(srv)
    # control + data of two tests (and the killed one's)
    xns_paths("xns-iperf3", slog, clog, 4, 2)
    if len(failures) == nfail:
        log("xns-iperf3: ok")


def ends_records(env, dst, local):
    """ismd's records of clients connecting to @dst and of servers
    accepted on @local (address:port)."""
    try:
        doc = json.loads(ismctl_streams(env) or "{}")
    except ValueError:
        return []
    return [r for r in doc.get("streams", []) if isinstance(r, dict) and
            (r.get("role") == "client" and r.get("remote") == dst or
             r.get("role") == "server" and r.get("local") == local)]


def signal_session(p, sig):
    try:
        os.killpg(p.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def dnat_pass(d, env, s, c, svc, port, svc_port, label, moves, gate):
    """socat's echo of 1 MiB from the client pod @c to the service
    address @svc, which the node DNATs to the server pod @s, both under
    ism-run with the ismd of @env: on shared memory if @moves, else TCP,
    "other host"; bytes intact either way.  With @gate the server is
    stopped (SIGSTOP) before the client connects and continued only once
    ismd has answered the client's CHECK (its record no longer "pending,
    other host"): the server's claim (a proof) cannot come first, so
    what ismd learnt from conntrack alone decides whether the client
    waits for the offer (it may wait up to 20 s for the test to look)."""
    data = os.urandom(1 << 20)
    slog = os.path.join(d, label + ".srv.log")
    clog = os.path.join(d, label + ".cli.log")
    srv = spawn(xns_argv(s, ["socat", "TCP-LISTEN:%d,bind=%s,reuseaddr" %
                             (port, s.addr), "EXEC:cat"], slog), env)
    if not xns_listening(slog, 1, label + ": socat to listen"):
        stop(srv)
        return
    dst, local = "%s:%d" % (svc.addr, svc_port), "%s:%d" % (s.addr, port)

    def rows():
        return ends_records(env, dst, local)

    def checked():
        return any(r.get("role") == "client" and
                   (r.get("path"), r.get("reason")) !=
                   ("pending", "other host") for r in rows())

    def want(rs):
        """Both ends' records, each the other's partner on shared memory
        (@moves), or both on TCP with the client's saying why."""
        ends = {r.get("role"): r for r in rs}
        if len(rs) != 2 or set(ends) != {"client", "server"}:
            return False
        if moves:
            return all(r.get("path") == "shm" for r in rs) and \
                ends["client"].get("partner") == ends["server"].get("peer") \
                and ends["server"].get("partner") == \
                ends["client"].get("peer")
        return all(r.get("path") == "tcp" for r in rs) and \
            ends["client"].get("reason") == "other host"
    if gate:
        signal_session(srv, signal.SIGSTOP)
    out = os.path.join(d, label + ".out")
    with open(out, "wb") as fout:
        cli = spawn(xns_argv(c, ["socat", "-t", "10", "-", "TCP:%s:%d" %
                                 (svc.addr, svc_port)], clog),
                    dict(env, ISM_RUN_HANDSHAKE_MS="20000") if gate else env,
                    stdin=subprocess.PIPE, stdout=fout,
                    stderr=subprocess.PIPE)
    try:
        if gate and not wait_for(checked, "%s: ismd to answer the client's "
                                 "CHECK" % label, 10):
            log("streams: " + ismctl_streams(env)[:800])
    finally:
        if gate:
            signal_session(srv, signal.SIGCONT)
    try:
        cli.stdin.write(data[:1 << 19])
        cli.stdin.flush()
        # ismd's records of both ends while the connection is held open
        if not wait_for(lambda: want(rows()), "%s: ismctl streams to show "
                        "both ends on %s" % (label, "shared memory" if moves
                                             else "TCP (other host)"), 10):
            log("streams: " + ismctl_streams(env)[:800])
        cli.stdin.write(data[1 << 19:])
        cli.stdin.close()
    except OSError as e:
        fail("%s: writing to the client: %s" % (label, e))
    echoed(label, cli, out, data)
    stop(srv)
    if moves:
        bad = count(clog, "shm") != 1 or count(slog, "shm") != 1 or \
            "other host" in read(clog) or ": tcp (" in read(clog) + read(slog)
    else:
        bad = count(clog, "other host") != 1 or count(slog, "shm") or \
            count(clog, "shm")
    if bad:
        fail("%s: paths (want %s):\n%s%s" %
             (label, "both on shm" if moves else "the client's tcp (other "
              "host)", read(slog), read(clog)))


def xns_dnat(d, env, nets):
    """A client pod reaches a server pod through a service address that
    the node DNATs in prerouting (kube-proxy's way).  With an ismd of
    its own in the node's namespace, where the rule and its conntrack
    entry are (as ismd runs on a Kubernetes node): bytes intact, both
    ends on shared memory, the client's log saying shm; once with the
    server's accept held back until ismd has answered the client's CHECK
    (conntrack alone keeps the client waiting for the offer), once as it
    comes (the server's proof may claim the client before the CHECK is
    answered).  With the ismd in the host's namespace, a third one that
    cannot read the node's conntrack, and the server held back the same
    way: bytes intact, TCP, "other host or namespace" (docs/containers.md,
    "Service addresses")."""
    global ran
    if not shutil.which("nft") or not have("socat"):
        log("SKIPPED: netns-dnat (needs nft and socat)")
        return
    ran += 1
    nfail = len(failures)
    port, svc_port = 5105, 80
    try:
        s, c, svc = nets.dnat(svc_port, port)
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as e:
        fail("xns-dnat: setup: %s" % e)
        return
    tag = "-node"
    ismd = ismd_start(d, env, tag, svc.ns)  # the service's ns: the node's
    try:
        if ismd_up(d, ismd, tag):
            nenv = dict(env, ISM_SOCKET=os.path.join(d, "ism%s.sock" % tag))
            for gate in (True, False):
                dnat_pass(d, nenv, s, c, svc, port, svc_port,
                          "xns-dnat-node%s" % ("-gated" if gate else ""),
                          True, gate)
        if ismd.poll() is not None:
            fail("xns-dnat: the node's ismd exited %s" % ismd.returncode)
    finally:
        stop(ismd)
    if len(failures) != nfail:
        log("the node's ismd log (tail):\n" + "".join(read(os.path.join(
            d, "ismd%s.log" % tag)).splitlines(True)[-40:]))
    dnat_pass(d, env, s, c, svc, port, svc_port, "xns-dnat-host", False,
              True)
    if len(failures) == nfail:
        log("xns-dnat: ok")


def netns_close():
    """Remove the group's namespaces (everything in them goes too) once
    every process is gone; a failure if any is left."""
    for p in procs:
        if p.poll() is None and p.args[:1] == ["nsenter"]:
            kill(p)
    for nets in NETS:
        for e in nets.close():
            fail("netns: cleanup: " + e)
        if nets.leftovers():
            fail("netns: left behind: %s" % nets.leftovers())
    del NETS[:]


def netns_cases(d, env):
    why = netns_helper.available()
    if why is None and not have("nsenter"):
        why = "nsenter does not run here"
    if why:
        log("SKIPPED: netns (%s)" % why)
        return
    nets = netns_helper.Netns("ismp")
    NETS.append(nets)
    try:
        try:
            s, c = nets.veth_pair()
        except (RuntimeError, OSError, subprocess.TimeoutExpired) as e:
            fail("netns: setup: %s" % e)
            return
        xns_socat(d, env, s, c)
        xns_redis(d, env, s, c)
        xns_nginx(d, env, s, c)
        xns_iperf3(d, env, s, c)
        xns_dnat(d, env, nets)
    finally:
        netns_close()


def ismd_start(d, env, tag="", ns=None):
    """ismd on @d/ism@tag.sock (state @d/state@tag, log @d/ismd@tag.log),
    in network namespace @ns if given (netns group)."""
    argv = [ISMD, "--socket", os.path.join(d, "ism%s.sock" % tag),
            "--state-dir", os.path.join(d, "state" + tag),
            "--log-level", "debug"]
    with open(os.path.join(d, "ismd%s.log" % tag), "w") as logf:
        return spawn(NETS[0].wrap(ns, argv) if ns else argv,
                     dict(env, LD_PRELOAD=""), stderr=logf)


def ismd_up(d, p, tag=""):
    """ismd @p's socket is there (a failure if it never came)."""
    sock = os.path.join(d, "ism%s.sock" % tag)
    if not wait_for(lambda: os.path.exists(sock) or p.poll() is not None,
                    "ismd%s's socket" % tag):
        return False
    if not os.path.exists(sock):
        fail("ismd%s exited %s before its socket was there" %
             (tag, p.returncode))
        return False
    return True


def main():
    d = tempfile.mkdtemp(prefix="ism-preload.",
                         dir=os.environ.get("TMPDIR", "/tmp"))
    ismd = None
    # meson's timeout is a SIGTERM: clean up (namespaces too) on it.
    signal.signal(signal.SIGTERM, lambda sig, frame: sys.exit(
        "preload: SIGTERM"))
    try:
        env = base_env(d)
        ENV.update(env)
        ismd = ismd_start(d, env)
        if not ismd_up(d, ismd):
            return 1
        only = os.environ.get("ISM_PRELOAD_ONLY", "").split()
        for name, case in (("plain", plain_cases),
                           ("slowread", slowread_cases),
                           ("socat", socat_case),
                           ("http", http_case), ("redis", redis_case),
                           ("nginx", nginx_case), ("iperf3", iperf3_case),
                           ("hostile", hostile_cases),
                           ("liar", liar_cases),
                           ("netns", netns_cases)):
            if not only or name in only:
                case(d, env)
        if ismd.poll() is not None:
            fail("ismd exited %s" % ismd.returncode)
    finally:
        for p in procs:
            if p is not ismd and p.poll() is None:
                kill(p)
        netns_close()
        if ismd:
            stop(ismd)
        if failures:
            log("ismd log (tail):\n" + "".join(
                read(os.path.join(d, "ismd.log")).splitlines(True)[-40:]))
        if os.environ.get("ISM_TEST_KEEP"):
            log("kept " + d)
        else:
            shutil.rmtree(d, ignore_errors=True)
    if failures:
        log("%d failures" % len(failures))
        return 1
    if not ran:
        print("preload: SKIP: nothing could run")
        return 77
    log("all ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
