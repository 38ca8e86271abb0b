#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""ism-run under unmodified programs, against a private ismd.

    test_preload.py ISMD ISMCTL ISM_RUN T_PLAIN [sanitized]

Each case runs a server and a client (t_plain, which knows nothing of
ism; t_slowread, peers that write after POLLOUT with blocking calls
while one of them stops reading; and the real programs that are
installed: socat, python3's http.server + curl, redis-server +
redis-cli), checks every byte against what was sent (or against the
same run without ism-run), and checks from ism-run's log and `ismctl
streams` which connections moved onto shared memory.  Then the
fallbacks: a peer not under ism-run, ISM_RUN=off, no ismd.  A program
that is not installed is skipped with a line saying so; the whole test
skips (77) only if nothing could run.  Every process is started in its
own session and killed and reaped at the end, also on failure.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

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


def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, secs=20):
    import socket

    def up():
        s = socket.socket()
        try:
            s.connect(("127.0.0.1", port))
            return True
        except OSError:
            return False
        finally:
            s.close()
    return wait_for(up, "port %d" % port, secs)


# ---- t_plain: the calls real programs make ----

def plain_case(d, env, smode, clients, n_shm, label, server_ism=True,
               client_ism=True, want_word="shm"):
    global ran
    ran += 1
    nfail = len(failures)
    slog = os.path.join(d, label + ".srv.log")
    clog = os.path.join(d, label + ".cli.log")
    argv = [T_PLAIN, "server", smode, str(len(clients))]
    srv = spawn(run_ism(argv, slog) if server_ism else argv, env,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
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


def plain_cases(d, env):
    mib = 1 << 20
    plain_case(d, env, "poll", [("block", mib), ("nb", mib), ("dup", mib),
                                ("peek", 300000)], 4, "poll")
    plain_case(d, env, "epoll", [("nb", mib)] * 4, 4, "epoll-lt")
    plain_case(d, env, "epollet", [("nb", mib), ("block", mib),
                                   ("nb", 1), ("peek", 100000)], 4,
               "epoll-et")
    plain_case(d, env, "select", [("nb", mib), ("block", 70000)], 2,
               "select")
    # A child per connection; the parent closes its copy at once.
    plain_case(d, env, "fork", [("block", mib), ("nb", mib),
                                ("block", 1000)], 3, "fork-server")
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
          "redis-cli": ["redis-cli", "--version"]}
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


def main():
    d = tempfile.mkdtemp(prefix="ism-preload.",
                         dir=os.environ.get("TMPDIR", "/tmp"))
    ismd = None
    try:
        env = base_env(d)
        ENV.update(env)
        ismd = spawn([ISMD, "--socket", os.path.join(d, "ism.sock"),
                      "--state-dir", os.path.join(d, "state"),
                      "--log-level", "debug"],
                     dict(env, LD_PRELOAD=""),
                     stderr=open(os.path.join(d, "ismd.log"), "w"))
        if not wait_for(lambda: os.path.exists(os.path.join(d, "ism.sock")),
                        "ismd"):
            return 1
        only = os.environ.get("ISM_PRELOAD_ONLY", "").split()
        for name, case in (("plain", plain_cases),
                           ("slowread", slowread_cases),
                           ("socat", socat_case),
                           ("http", http_case), ("redis", redis_case)):
            if not only or name in only:
                case(d, env)
        if ismd.poll() is not None:
            fail("ismd exited %s" % ismd.returncode)
    finally:
        for p in procs:
            if p is not ismd and p.poll() is None:
                kill(p)
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
