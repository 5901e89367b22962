#!/usr/bin/env python3
"""A tiny Kubernetes API server for flowsteer's tests (standard library only).

Serves GET /api/v1/namespaces/{ns} and GET /api/v1/namespaces/{ns}/pods/{pod}
from a JSON file (re-read on every request, so a test can change it):

    {"namespaces": {"team-a": {"flowsteer.io/mode": "rps"}},
     "pods": {"team-a/web": {"flowsteer.io/cpus": "1"}}}

(values are the objects' metadata.annotations; a namespace or pod that is
not listed is 404), and accepts PATCH .../pods/{pod}, recording each body as
one JSON line in --patch-log. Every request is recorded in --request-log.

It listens on 127.0.0.1 only, on a free port written to --port-file. Modes:
  ok        normal
  403       every request is forbidden
  404pod    pods are not found (namespaces are)
  500       every request fails
  hang      accepts connections and never answers (not even TLS)
--delay-ms N makes every answer wait N ms (a slow API server).
"""
import argparse
import json
import os
import socket
import ssl
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

POD_PREFIX = "/api/v1/namespaces/"


def status_obj(code, reason, message):
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-kube-apiserver"
    # Headers and body go out in separate writes: without this, Nagle and
    # delayed ACKs add 40 ms to every response.
    disable_nagle_algorithm = True

    def log_message(self, fmt, *args):  # keep the test output clean
        pass

    def reply(self, code, obj):
        if self.server.opts.delay_ms:
            time.sleep(self.server.opts.delay_ms / 1000.0)
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def record(self, extra=None):
        opts = self.server.opts
        if not opts.request_log:
            return
        line = {"method": self.command, "path": self.path,
                "auth": self.headers.get("Authorization") is not None}
        if extra:
            line.update(extra)
        with open(opts.request_log, "a") as f:
            f.write(json.dumps(line) + "\n")

    def route(self):
        """(namespace, pod or None) for an API path, or None."""
        if not self.path.startswith(POD_PREFIX):
            return None
        parts = self.path[len(POD_PREFIX):].split("/")
        if len(parts) == 1 and parts[0]:
            return parts[0], None
        if len(parts) == 3 and parts[1] == "pods" and parts[0] and parts[2]:
            return parts[0], parts[2]
        return None

    def check(self):
        """Authentication and mode; True when the request may proceed."""
        opts = self.server.opts
        if opts.token is not None and self.headers.get("Authorization") != "Bearer " + opts.token:
            self.reply(401, status_obj(401, "Unauthorized", "Unauthorized"))
            return False
        if opts.mode == "403":
            self.reply(403, status_obj(403, "Forbidden",
                                       'pods is forbidden: User "system:serviceaccount:kube-system:calico-cni-plugin" cannot get resource'))
            return False
        if opts.mode == "500":
            self.reply(500, status_obj(500, "InternalError", "etcdserver: request timed out"))
            return False
        return True

    def objects(self):
        with open(self.server.opts.objects) as f:
            return json.load(f)

    def do_GET(self):
        self.record()
        if not self.check():
            return
        r = self.route()
        if r is None:
            self.reply(404, status_obj(404, "NotFound", "the server could not find the requested resource"))
            return
        ns, pod = r
        objs = self.objects()
        if pod is None:
            ann = objs.get("namespaces", {}).get(ns)
            if ann is None:
                self.reply(404, status_obj(404, "NotFound", 'namespaces "%s" not found' % ns))
                return
            self.reply(200, {"kind": "Namespace", "apiVersion": "v1",
                             "metadata": {"name": ns, "annotations": ann},
                             "status": {"phase": "Active"}})
            return
        ann = objs.get("pods", {}).get(ns + "/" + pod)
        if ann is None or self.server.opts.mode == "404pod":
            self.reply(404, status_obj(404, "NotFound", 'pods "%s" not found' % pod))
            return
        meta = {"name": pod, "namespace": ns, "uid": "0f0e0d0c-0000-4000-8000-000000000001"}
        if ann != "none":
            meta["annotations"] = ann
        self.reply(200, {"kind": "Pod", "apiVersion": "v1", "metadata": meta,
                         "spec": {"containers": [{"name": "c", "image": "busybox"}]},
                         "status": {"phase": "Pending"}})

    def do_PATCH(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length).decode()
        ctype = self.headers.get("Content-Type", "")
        self.record({"contentType": ctype})
        if not self.check():
            return
        r = self.route()
        if r is None or r[1] is None:
            self.reply(404, status_obj(404, "NotFound", "the server could not find the requested resource"))
            return
        if ctype != "application/strategic-merge-patch+json":
            self.reply(415, status_obj(415, "UnsupportedMediaType", "unsupported content type " + ctype))
            return
        try:
            patch = json.loads(body)
        except ValueError:
            self.reply(400, status_obj(400, "BadRequest", "patch is not JSON"))
            return
        if self.server.opts.patch_log:
            with open(self.server.opts.patch_log, "a") as f:
                f.write(json.dumps({"path": self.path, "contentType": ctype, "body": patch}) + "\n")
        ns, pod = r
        self.reply(200, {"kind": "Pod", "apiVersion": "v1",
                         "metadata": {"name": pod, "namespace": ns,
                                      "annotations": patch.get("metadata", {}).get("annotations", {})}})


class TLSServer(ThreadingHTTPServer):
    daemon_threads = True

    def finish_request(self, request, client_address):
        # The handshake happens here, in the request's thread: a client that
        # stalls must not stall the others.
        request.settimeout(10)
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


def hang(sock):
    held = []
    while True:
        conn, _ = sock.accept()
        held.append(conn)  # never read, never answer, never close


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--objects", required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--token", help="required bearer token (default: none required)")
    ap.add_argument("--client-ca", help="require a client certificate signed by this CA")
    ap.add_argument("--mode", default="ok", choices=["ok", "403", "404pod", "500", "hang"])
    ap.add_argument("--delay-ms", type=int, default=0)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--patch-log")
    ap.add_argument("--request-log")
    opts = ap.parse_args()

    if opts.mode == "hang":
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        port = sock.getsockname()[1]
    else:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(opts.cert, opts.key)
        if opts.client_ca:
            ctx.verify_mode = ssl.CERT_REQUIRED
            ctx.load_verify_locations(opts.client_ca)
        srv = TLSServer(("127.0.0.1", 0), Handler)
        srv.ctx = ctx
        srv.opts = opts
        port = srv.server_address[1]

    tmp = opts.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % port)
    os.rename(tmp, opts.port_file)
    print("listening on https://127.0.0.1:%d mode %s" % (port, opts.mode), flush=True)

    if opts.mode == "hang":
        hang(sock)
    else:
        srv.serve_forever()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(0)
