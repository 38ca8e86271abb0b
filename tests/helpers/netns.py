# SPDX-License-Identifier: MIT
"""Network namespaces for tests and benchmarks, as containers have them.

    nets = Netns("ismt")           # names ismt<pid><letter>
    try:
        a, b = nets.veth_pair()    # two namespaces on one veth pair
        argv = nets.wrap(b.ns, ["curl", ...])
    finally:
        nets.close()

Needs root (namespaces created by host root belong to the host's user
namespace, which ismd's cross-namespace match requires) and iproute2;
the DNAT topology needs nft as well.  Everything made lives inside
namespaces of our own (links, bridge, routes, nft table, ip_forward),
so deleting the namespaces removes all of it and the host's own network
is never touched.  close() tolerates a setup that stopped half way, and
Netns() first removes what a killed earlier run left (its pid gone, and
made more than 30 minutes ago).
Processes started in a namespace keep it alive after its name is
removed: reap them before close().
"""
import os
import re
import shutil
import subprocess
import time

NETNS_DIR = "/run/netns"


class Side:
    """One end: its namespace's name and its address."""

    def __init__(self, ns, addr):
        self.ns = ns
        self.addr = addr


def available():
    """None if this can run here, else why not."""
    if os.geteuid() != 0:
        return "needs root"
    for p in ("ip", "nsenter"):
        if not shutil.which(p):
            return "needs %s" % p
    return None


def _alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


class Netns:
    def __init__(self, prefix):
        self.prefix = prefix
        self.tag = "%s%d" % (prefix, os.getpid())
        self.names = []
        self._sweep()

    def _ip(self, *args):
        r = subprocess.run(("ip",) + args, capture_output=True, text=True,
                           timeout=30)
        if r.returncode != 0:
            raise RuntimeError("ip %s: %s" % (" ".join(args),
                                              r.stderr.strip()))

    def _sweep(self):
        """Remove namespaces of earlier runs whose process is gone (and
        that are older than any run: a pid from another pid namespace
        sharing /run/netns would look gone)."""
        try:
            names = os.listdir(NETNS_DIR)
        except OSError:
            return
        rx = re.compile(r"^%s(\d+)[a-z]$" % re.escape(self.prefix))
        for n in names:
            m = rx.match(n)
            try:
                age = time.time() - os.stat(os.path.join(NETNS_DIR,
                                                         n)).st_mtime
            except OSError:
                continue
            if m and age > 1800 and not _alive(int(m.group(1))):
                subprocess.run(["ip", "netns", "del", n],
                               capture_output=True, timeout=30)

    def add(self, letter):
        name = self.tag + letter
        self.names.append(name)  # before: close() removes a half-made one
        self._ip("netns", "add", name)
        self._ip("-n", name, "link", "set", "lo", "up")
        return name

    def wrap(self, ns, argv):
        """argv run in namespace @ns (only its network namespace)."""
        return ["nsenter", "--net=%s/%s" % (NETNS_DIR, ns), "--"] + \
            list(argv)

    def sh(self, ns, script, stdin=None):
        r = subprocess.run(self.wrap(ns, ["sh", "-c", script]),
                           input=stdin, capture_output=True, text=True,
                           timeout=30)
        if r.returncode != 0:
            raise RuntimeError("in %s: %s: %s" % (ns, script,
                                                  r.stderr.strip()))

    def _link(self, ns, ifname, addr):
        if addr:
            self._ip("-n", ns, "addr", "add", addr, "dev", ifname)
        self._ip("-n", ns, "link", "set", ifname, "up")

    def veth_pair(self, net="10.231.0"):
        """Two namespaces joined by a veth pair: (server, client) Sides,
        net.1 and net.2 (/24)."""
        s, c = self.add("s"), self.add("c")
        self._ip("-n", s, "link", "add", "eth0", "type", "veth", "peer",
                 "name", "eth0", "netns", c)
        self._link(s, "eth0", net + ".1/24")
        self._link(c, "eth0", net + ".2/24")
        return Side(s, net + ".1"), Side(c, net + ".2")

    def dnat(self, svc_port, port, net="10.232"):
        """kube-proxy's shape: a node namespace with a bridge (net.1.0/24,
        the client pod on it) and a routed veth to the server pod
        (net.2.0/24); an nft rule in the node's prerouting maps the
        service address net.3.10:@svc_port to the server pod's
        address:@port.  Each pod's default route is the node, so the
        server's replies come back through the node, whose conntrack
        undoes the translation (both pods on one bridge would need
        br_netfilter, a host-wide setting, for that).  Returns
        (server, client, service) Sides, the service's ns being the
        node's."""
        node, s, c = self.add("n"), self.add("t"), self.add("d")
        self._ip("-n", node, "link", "add", "br0", "type", "bridge")
        self._link(node, "br0", net + ".1.254/24")
        self._ip("-n", node, "link", "add", "p0", "type", "veth", "peer",
                 "name", "eth0", "netns", c)
        self._ip("-n", node, "link", "set", "p0", "master", "br0")
        self._link(node, "p0", None)
        self._ip("-n", node, "link", "add", "p1", "type", "veth", "peer",
                 "name", "eth0", "netns", s)
        self._link(node, "p1", net + ".2.254/24")
        self._link(c, "eth0", net + ".1.1/24")
        self._link(s, "eth0", net + ".2.1/24")
        self._ip("-n", c, "route", "add", "default", "via", net + ".1.254")
        self._ip("-n", s, "route", "add", "default", "via", net + ".2.254")
        self.sh(node, "echo 1 > /proc/sys/net/ipv4/ip_forward")
        self.sh(node, "nft -f -", stdin=(
            "table ip ism_dnat {\n"
            " chain pre {\n"
            "  type nat hook prerouting priority dstnat;\n"
            "  ip daddr %s.3.10 tcp dport %d dnat to %s.2.1:%d\n"
            " }\n"
            "}\n" % (net, svc_port, net, port)))
        return (Side(s, net + ".2.1"), Side(c, net + ".1.1"),
                Side(node, net + ".3.10"))

    def close(self):
        """Delete every namespace made (their links, bridge, nft table
        and routes go with them); tolerates ones never made."""
        errs = []
        for n in reversed(self.names):
            if os.path.exists(os.path.join(NETNS_DIR, n)):
                r = subprocess.run(["ip", "netns", "del", n],
                                   capture_output=True, text=True,
                                   timeout=30)
                if r.returncode != 0:
                    errs.append("%s: %s" % (n, r.stderr.strip()))
        self.names = []
        return errs

    def leftovers(self):
        """Namespaces of this run still named (none after close())."""
        try:
            return [n for n in os.listdir(NETNS_DIR)
                    if n.startswith(self.tag)]
        except OSError:
            return []
