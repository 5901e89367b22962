#!/usr/bin/env python3
"""A small Kubernetes API server for flowsteer's tests (standard library only).

Namespaces and pods live in memory, each change bumps one global
resourceVersion and is kept as a watch event. Served (HTTPS, bearer token):

  GET  /api/v1/namespaces[?limit=&continue=&resourceVersion=]     NamespaceList
  GET  /api/v1/pods[?fieldSelector=spec.nodeName%3DX&limit=...]    PodList
  GET  ...?watch=1&resourceVersion=RV&allowWatchBookmarks=true&timeoutSeconds=N
       chunked, one JSON event per line: ADDED/MODIFIED/DELETED/BOOKMARK/ERROR
  GET  /apis/apps/v1/namespaces/{ns}/daemonsets/{name}            DaemonSet (only
       metadata; deletionTimestamp while "deleting") or 404
  PATCH /api/v1/namespaces/{ns}/pods/{pod}   merge patch (application/
       merge-patch+json; strategic-merge-patch+json is read the same way for
       annotations); metadata.uid in the patch is a precondition (409).

A resourceVersion older than the compaction point (--history events, or the
`compact` control op) is 410 Gone: for a watch an ERROR event with a Status of
code 410 (or HTTP 410 with gone_mode "http"), for a list HTTP 410 Expired.
Paged lists serve the current objects from the token's offset with the first
page's resourceVersion (a simplification: the watch from that version replays
whatever changed in between).

Control channel (plain HTTP, 127.0.0.1, port in --ctl-port-file):
  POST /ctl {"ops": [op, ...]}  ops applied in order:
    {"op": "ns", "name": N, "annotations": {...}}          create or update
    {"op": "delns", "name": N}   its pods first (DELETED each), then it: the
                                 namespace controller's order
    {"op": "pod", "ns": NS, "name": N, "node": NODE, "annotations": {...}, "uid": U}
    {"op": "delpod", "ns": NS, "name": N}
    {"op": "compact"}            every older resourceVersion is now 410 Gone
    {"op": "bookmark"}           a BOOKMARK to every watch that allows them
    {"op": "fault", "fault": F}  drop (close every open watch, once), hang
                                 (no answers, open watches go silent and
                                 outlive their timeoutSeconds), 401,
                                 403, 500, none; with "resource":
                                 "pods"|"namespaces", 401/403/500 hit only it;
                                 "patch": only PATCH requests
    {"op": "gone_mode", "mode": "event"|"http"}
    {"op": "ds", "ns": NS, "name": N, "deleting": bool}   create or update
    {"op": "delds", "ns": NS, "name": N}
    {"op": "wire", "mode": "ascii"|"raw"}  how lists and events are encoded:
                                 ascii (default) escapes every non-ASCII
                                 character (lone surrogates as escapes too);
                                 raw sends UTF-8 as the real API server does,
                                 U+DC80..U+DCFF as the bytes 0x80..0xFF and
                                 other lone surrogates as their (invalid)
                                 3-byte forms: invalid UTF-8 on the wire
  GET /state  {"rv", "namespaces": {name: annotations}, "pods": {"ns/name": {"uid", "node", "annotations"}}}
  GET /stats  request counters by kind and resource, and open watches

The state starts empty: tests fill it through the control channel. It listens on 127.0.0.1 only, on free
ports; every loop is bounded (watches by timeoutSeconds, capped at
--max-watch-seconds; hangs likewise) and the server exits by itself after
--max-seconds. Requests are recorded in --request-log (method, path, whether
an Authorization header came: never its value).
"""
import argparse
import bisect
import codecs
import json
import os
import socket
import ssl
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

NS_PATH = "/api/v1/namespaces"
POD_PATH = "/api/v1/pods"
DS_PREFIX = "/apis/apps/v1/namespaces/"


def raw_bytes(exc):
    """The "raw" wire's error handler: lone surrogates as invalid UTF-8."""
    out = b""
    for ch in exc.object[exc.start:exc.end]:
        o = ord(ch)
        out += bytes([o - 0xdc00]) if 0xdc80 <= o <= 0xdcff else ch.encode("utf-8", "surrogatepass")
    return out, exc.end


codecs.register_error("flowsteer-raw", raw_bytes)


def status_obj(code, reason, message):
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}


class State:
    def __init__(self, history):
        self.cond = threading.Condition()
        self.rv = 1
        self.ns = {}
        self.pods = {}
        self.ds = {}              # "ns/name": deleting
        self.events = []          # (rv, resource, type, obj, old_obj)
        self.history = history
        self.compacted = 0
        self.fault = None
        self.fault_resource = None   # None: every resource
        self.drop_gen = 0
        self.bookmark_gen = 0
        self.gone_mode = "event"
        self.stats = {}
        self.open_watches = 0
        self.wire = "ascii"

    def count(self, kind, resource=""):
        key = kind + ":" + resource if resource else kind
        self.stats[key] = self.stats.get(key, 0) + 1

    def _event(self, resource, etype, obj, old):
        self.events.append((self.rv, resource, etype, json.loads(json.dumps(obj)), old))
        if len(self.events) > self.history:
            drop = len(self.events) - self.history
            self.compacted = max(self.compacted, self.events[drop - 1][0])
            del self.events[:drop]
        self.cond.notify_all()

    def put_ns(self, name, ann, uid=None):
        self.rv += 1
        old = self.ns.get(name)
        meta = {"name": name, "uid": uid or (old["metadata"]["uid"] if old else str(uuid.uuid4())),
                "resourceVersion": str(self.rv)}
        if ann:
            meta["annotations"] = ann
        obj = {"kind": "Namespace", "apiVersion": "v1", "metadata": meta, "status": {"phase": "Active"}}
        self.ns[name] = obj
        self._event("namespaces", "MODIFIED" if old else "ADDED", obj, old)

    def _delete(self, objs, key, resource):
        """DELETED carries the last state, at the deletion's version."""
        old = objs.pop(key, None)
        if old is None:
            return
        self.rv += 1
        obj = json.loads(json.dumps(old))
        obj["metadata"]["resourceVersion"] = str(self.rv)
        self._event(resource, "DELETED", obj, old)

    def del_ns(self, name):
        for key in [k for k in sorted(self.pods) if k.startswith(name + "/")]:
            self._delete(self.pods, key, "pods")
        self._delete(self.ns, name, "namespaces")

    def put_pod(self, ns, name, node, ann, uid=None):
        key = ns + "/" + name
        self.rv += 1
        old = self.pods.get(key)
        meta = {"name": name, "namespace": ns, "resourceVersion": str(self.rv),
                "uid": uid or (old["metadata"]["uid"] if old else str(uuid.uuid4()))}
        if ann:
            meta["annotations"] = ann
        obj = {"kind": "Pod", "apiVersion": "v1", "metadata": meta,
               "spec": {"nodeName": node, "containers": [{"name": "c", "image": "busybox"}]},
               "status": {"phase": "Running"}}
        self.pods[key] = obj
        self._event("pods", "MODIFIED" if old else "ADDED", obj, old)

    def del_pod(self, ns, name):
        self._delete(self.pods, ns + "/" + name, "pods")

    def apply(self, op):
        kind = op.get("op")
        if kind == "ns":
            self.put_ns(op["name"], op.get("annotations") or {}, op.get("uid"))
        elif kind == "delns":
            self.del_ns(op["name"])
        elif kind == "pod":
            self.put_pod(op["ns"], op["name"], op.get("node", ""), op.get("annotations") or {}, op.get("uid"))
        elif kind == "delpod":
            self.del_pod(op["ns"], op["name"])
        elif kind == "compact":
            self.compacted = self.rv
            self.events = []
        elif kind == "bookmark":
            self.bookmark_gen += 1
        elif kind == "fault":
            f = op.get("fault")
            if f == "drop":
                self.drop_gen += 1
            else:
                self.fault = None if f in (None, "none") else f
                self.fault_resource = op.get("resource")
        elif kind == "ds":
            self.ds[op["ns"] + "/" + op["name"]] = bool(op.get("deleting"))
        elif kind == "delds":
            self.ds.pop(op["ns"] + "/" + op["name"], None)
        elif kind == "gone_mode":
            self.gone_mode = op["mode"]
        elif kind == "wire":
            if op["mode"] not in ("ascii", "raw"):
                raise ValueError("unknown wire mode %r" % op["mode"])
            self.wire = op["mode"]
        else:
            raise ValueError("unknown op %r" % kind)
        self.cond.notify_all()

    def dump(self):
        return {"rv": self.rv,
                "namespaces": {n: o["metadata"].get("annotations", {}) for n, o in self.ns.items()},
                "pods": {k: {"uid": o["metadata"]["uid"], "node": o["spec"]["nodeName"],
                             "annotations": o["metadata"].get("annotations", {})} for k, o in self.pods.items()}}


def node_of(selector):
    """spec.nodeName=X -> X; "" -> None (no filter)."""
    if not selector:
        return None
    key, _, val = selector.partition("=")
    if key != "spec.nodeName":
        raise ValueError("only spec.nodeName field selectors are supported: " + selector)
    return val


def matches(obj, node):
    return obj is not None and (node is None or obj.get("spec", {}).get("nodeName") == node)


class JSONHandler(BaseHTTPRequestHandler):
    """What both listeners share: HTTP/1.1, no log lines, JSON replies."""
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, fmt, *args):
        pass

    def reply(self, code, obj):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class Handler(JSONHandler):
    server_version = "fake-kube-apiserver"

    @property
    def st(self):
        return self.server.state

    def encode(self, obj):
        if self.st.wire == "raw":
            return json.dumps(obj, ensure_ascii=False).encode("utf-8", "flowsteer-raw")
        return json.dumps(obj).encode()

    def reply(self, code, obj):
        body = self.encode(obj)
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def record(self, extra=None):
        path = self.server.opts.request_log
        if not path:
            return
        line = {"method": self.command, "path": self.path,
                "auth": self.headers.get("Authorization") is not None}
        if extra:
            line.update(extra)
        with self.server.log_lock, open(path, "a") as f:
            f.write(json.dumps(line) + "\n")

    def hang(self, deadline):
        """No answer while the hang fault lasts (bounded)."""
        with self.st.cond:
            while self.st.fault == "hang" and time.time() < deadline:
                self.st.cond.wait(0.2)

    def check(self):
        opts = self.server.opts
        if self.st.fault == "hang":
            self.hang(time.time() + opts.max_watch_seconds)
            self.close_connection = True
            return False
        if opts.token is not None and self.headers.get("Authorization") != "Bearer " + opts.token:
            self.st.count("401")
            self.reply(401, status_obj(401, "Unauthorized", "Unauthorized"))
            return False
        fault = self.st.fault
        where = self.st.fault_resource
        if fault and where == "patch":
            fault = fault if self.command == "PATCH" else None
        elif fault and where and not urlsplit(self.path).path.startswith("/api/v1/" + where):
            fault = None
        if fault in ("401", "403", "500"):
            self.st.count(fault)
            code = int(fault)
            reason = {401: "Unauthorized", 403: "Forbidden", 500: "InternalError"}[code]
            msg = {401: "Unauthorized",
                   403: 'namespaces is forbidden: User "system:serviceaccount:kube-system:flowsteer-agent" '
                        'cannot list resource "namespaces" in API group "" at the cluster scope',
                   500: "etcdserver: request timed out"}[code]
            self.reply(code, status_obj(code, reason, msg))
            return False
        return True

    # ---- GET ----
    def do_GET(self):
        self.record()
        if not self.check():
            return
        url = urlsplit(self.path)
        q = {k: v[-1] for k, v in parse_qs(url.query).items()}
        path = url.path.rstrip("/")
        try:
            if path in (NS_PATH, POD_PATH):
                resource = "namespaces" if path == NS_PATH else "pods"
                node = node_of(q.get("fieldSelector", "")) if resource == "pods" else None
                if q.get("watch") in ("1", "true"):
                    self.watch(resource, q, node)
                else:
                    self.list(resource, q, node)
                return
            parts = path[len(DS_PREFIX):].split("/") if path.startswith(DS_PREFIX) else []
            if len(parts) == 3 and parts[1] == "daemonsets":
                return self.daemonset(parts[0], parts[2])
        except ValueError as e:
            self.reply(400, status_obj(400, "BadRequest", str(e)))
            return
        self.reply(404, status_obj(404, "NotFound", "the server could not find the requested resource"))

    def daemonset(self, ns, name):
        with self.st.cond:
            self.st.count("get", "daemonsets")
            deleting = self.st.ds.get(ns + "/" + name)
        if deleting is None:
            return self.reply(404, status_obj(404, "NotFound", 'daemonsets.apps "%s" not found' % name))
        meta = {"name": name, "namespace": ns, "uid": "ds-" + name}
        if deleting:
            meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
            meta["finalizers"] = ["foregroundDeletion"]
        self.reply(200, {"kind": "DaemonSet", "apiVersion": "apps/v1", "metadata": meta})

    def too_old(self, rv):
        return rv not in ("", "0") and int(rv) < self.st.compacted

    def list(self, resource, q, node):
        limit = int(q.get("limit", "0") or 0)
        cont = q.get("continue", "")
        with self.st.cond:
            self.st.count("list", resource)
            if cont:
                list_rv, _, start = cont.partition(":")
                start = int(start)
            else:
                list_rv, start = str(self.st.rv), 0
            if self.too_old(q.get("resourceVersion", "")) or self.too_old(list_rv):
                return self.reply(410, status_obj(410, "Expired",
                                                  "too old resource version: %s (%d)" % (
                                                      q.get("resourceVersion") or list_rv, self.st.compacted)))
            objs = self.st.ns if resource == "namespaces" else self.st.pods
            items = [objs[k] for k in sorted(objs) if matches(objs[k], node) or resource == "namespaces"]
            end = start + limit if limit else len(items)
            page = items[start:end]
            meta = {"resourceVersion": list_rv}
            if end < len(items):
                meta["continue"] = "%s:%d" % (list_rv, end)
            kind = "NamespaceList" if resource == "namespaces" else "PodList"
            body = {"kind": kind, "apiVersion": "v1", "metadata": meta, "items": page}
        self.reply(200, body)

    def chunk(self, obj):
        data = self.encode(obj) + b"\n"
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def gone(self, rv):
        msg = "too old resource version: %s (%d)" % (rv, self.st.compacted)
        if self.st.gone_mode == "http":
            self.reply(410, status_obj(410, "Expired", msg))
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.chunk({"type": "ERROR", "object": status_obj(410, "Expired", msg)})
        self.wfile.write(b"0\r\n\r\n")

    def pending(self, resource, pos, node):
        """Events after pos for this watch, as (rv, event) pairs."""
        out = []
        first = bisect.bisect_right(self.st.events, pos, key=lambda e: e[0])
        for rv, res, etype, obj, old in self.st.events[first:]:
            if res != resource:
                continue
            now_in, was_in = matches(obj, node), matches(old, node)
            if etype == "DELETED":
                if was_in:
                    out.append((rv, {"type": "DELETED", "object": obj}))
            elif now_in:
                out.append((rv, {"type": "ADDED" if etype == "ADDED" or not was_in else "MODIFIED", "object": obj}))
            elif was_in:
                out.append((rv, {"type": "DELETED", "object": obj}))
        return out

    def watch(self, resource, q, node):
        rv = q.get("resourceVersion", "")
        timeout = min(int(q.get("timeoutSeconds", "0") or 0) or self.server.opts.max_watch_seconds,
                      self.server.opts.max_watch_seconds)
        bookmarks = q.get("allowWatchBookmarks") in ("1", "true")
        with self.st.cond:
            self.st.count("watch", resource)
            if self.too_old(rv):
                self.st.count("gone", resource)
                self.close_connection = True
                return self.gone(rv)
            pos = int(rv) if rv not in ("", "0") else 0
            gen, bgen = self.st.drop_gen, self.st.bookmark_gen
            initial = [] if pos else [(0, {"type": "ADDED", "object": o})
                                      for o in (self.st.ns if resource == "namespaces" else self.st.pods).values()
                                      if matches(o, node)]
            if not pos:
                pos = self.st.rv
            self.st.open_watches += 1
        self.close_connection = True
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for _, ev in initial:
                self.chunk(ev)
            self.stream(resource, node, pos, gen, bgen, bookmarks, time.time() + timeout)
        except OSError:
            pass
        finally:
            with self.st.cond:
                self.st.open_watches -= 1

    def stream(self, resource, node, pos, gen, bgen, bookmarks, deadline):
        interval = self.server.opts.bookmark_seconds
        last_bm = time.time()
        while True:
            with self.st.cond:
                if self.st.fault == "hang" or (self.st.drop_gen == gen and self.st.bookmark_gen == bgen and
                                               not (self.st.events and self.st.events[-1][0] > pos)):
                    self.st.cond.wait(0.2)
                if self.st.drop_gen != gen:
                    # Gone without the closing chunk, as a dead connection.
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                hung = self.st.fault == "hang"
                evs = [] if hung else self.pending(resource, pos, node)
                # Everything up to here is seen, ours or not.
                scanned = pos if hung or not self.st.events else max(pos, self.st.events[-1][0])
                want_bm = bookmarks and not hung and (self.st.bookmark_gen != bgen or
                                                      (interval and time.time() - last_bm >= interval))
                bgen = self.st.bookmark_gen
                cur = self.st.rv
            for rv, ev in evs:
                self.chunk(ev)
            pos = scanned
            if want_bm:
                kind = "Namespace" if resource == "namespaces" else "Pod"
                pos = max(pos, cur)
                self.chunk({"type": "BOOKMARK", "object": {"kind": kind, "apiVersion": "v1",
                                                           "metadata": {"resourceVersion": str(pos)}}})
                last_bm = time.time()
            # A hung server does not end its watches either (bounded).
            if time.time() >= deadline + (self.server.opts.max_watch_seconds if hung else 0):
                self.wfile.write(b"0\r\n\r\n")
                return

    # ---- PATCH ----
    def do_PATCH(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length).decode()
        ctype = self.headers.get("Content-Type", "")
        self.record({"contentType": ctype})
        if not self.check():
            return
        path = urlsplit(self.path).path
        parts = path[len(NS_PATH) + 1:].split("/") if path.startswith(NS_PATH + "/") else []
        if len(parts) != 3 or parts[1] != "pods":
            return self.reply(404, status_obj(404, "NotFound", "the server could not find the requested resource"))
        if ctype not in ("application/merge-patch+json", "application/strategic-merge-patch+json"):
            return self.reply(415, status_obj(415, "UnsupportedMediaType", "unsupported content type " + ctype))
        try:
            patch = json.loads(body)
        except ValueError:
            return self.reply(400, status_obj(400, "BadRequest", "patch is not JSON"))
        if self.server.opts.patch_log:
            with self.server.log_lock, open(self.server.opts.patch_log, "a") as f:
                f.write(json.dumps({"path": self.path, "contentType": ctype, "body": patch, "t": time.time()}) + "\n")
        self.patch_pod(parts[0], parts[2], patch)

    def patch_pod(self, ns, name, patch):
        meta = patch.get("metadata", {}) if isinstance(patch, dict) else {}
        with self.st.cond:
            self.st.count("patch", "pods")
            pod = self.st.pods.get(ns + "/" + name)
            if pod is None:
                return self.reply(404, status_obj(404, "NotFound", 'pods "%s" not found' % name))
            uid = meta.get("uid")
            if uid is not None and uid != pod["metadata"]["uid"]:
                return self.reply(409, status_obj(409, "Conflict",
                                                  "Precondition failed: UID in precondition: %s, UID in object meta: %s"
                                                  % (uid, pod["metadata"]["uid"])))
            ann = dict(pod["metadata"].get("annotations", {}))
            for k, v in (meta.get("annotations") or {}).items():
                if v is None:
                    ann.pop(k, None)
                else:
                    ann[k] = v
            self.st.put_pod(ns, name, pod["spec"]["nodeName"], ann)
            obj = self.st.pods[ns + "/" + name]
        self.reply(200, obj)


class CtlHandler(JSONHandler):
    def do_GET(self):
        st = self.server.state
        with st.cond:
            if self.path == "/state":
                return self.reply(200, st.dump())
            if self.path == "/stats":
                return self.reply(200, dict(st.stats, open_watches=st.open_watches, rv=st.rv,
                                            compacted=st.compacted))
        self.reply(404, {"error": "GET /state or /stats"})

    def do_POST(self):
        st = self.server.state
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        try:
            ops = json.loads(body)["ops"]
            with st.cond:
                for op in ops:
                    st.apply(op)
                rv = st.rv
        except (ValueError, KeyError, TypeError) as e:
            return self.reply(400, {"error": str(e)})
        self.reply(200, {"rv": rv})


class TLSServer(ThreadingHTTPServer):
    daemon_threads = True

    def finish_request(self, request, client_address):
        # The handshake happens in the request's thread: a client that
        # stalls must not stall the others.
        request.settimeout(30)
        try:
            tls = self.ctx.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        try:
            super().finish_request(tls, client_address)
        finally:
            try:
                tls.close()
            except OSError:
                pass


class CtlServer(ThreadingHTTPServer):
    daemon_threads = True


def write_port(path, port):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % port)
    os.rename(tmp, path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--token", help="required bearer token (default: none required)")
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--ctl-port-file")
    ap.add_argument("--patch-log")
    ap.add_argument("--request-log")
    ap.add_argument("--history", type=int, default=100000, help="watch events kept")
    ap.add_argument("--bookmark-seconds", type=float, default=0, help="periodic bookmarks (0: only on request)")
    ap.add_argument("--max-watch-seconds", type=int, default=600)
    ap.add_argument("--max-seconds", type=int, default=3600, help="the server exits after this")
    opts = ap.parse_args()
    threading.Timer(opts.max_seconds, lambda: os._exit(0)).start()

    state = State(opts.history)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(opts.cert, opts.key)
    srv = TLSServer(("127.0.0.1", 0), Handler)
    srv.ctx, srv.opts, srv.state, srv.log_lock = ctx, opts, state, threading.Lock()
    if opts.ctl_port_file:
        ctl = CtlServer(("127.0.0.1", 0), CtlHandler)
        ctl.state = state
        threading.Thread(target=ctl.serve_forever, daemon=True).start()
        write_port(opts.ctl_port_file, ctl.server_address[1])
    write_port(opts.port_file, srv.server_address[1])
    print("listening on https://127.0.0.1:%d" % srv.server_address[1], flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(0)
