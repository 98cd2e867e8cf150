"""An S3 server on loopback for the tests: moto in server mode, with a
fault-injecting proxy in front of it.

    python s3_server.py

prints `ready MOTO_PORT PROXY_PORT` once both listen, then reads commands,
one per line, answering `ok` (or `err MESSAGE`) to each:

    bucket NAME [versioned]          create a bucket
    put BUCKET KEY FILE              upload a file
    faults none                      the proxy forwards everything
    faults fail_every N              every Nth request gets 503 SlowDown
    faults reset_get N               the Nth GET is cut off half-way
    faults status CODE               every request gets CODE (403: AccessDenied)
    mutate_after N BUCKET KEY FILE   after N GETs of KEY, upload FILE over it
    gets BUCKET KEY                  answer `ok N`: GETs of KEY so far
    stats                            answer `ok REQUESTS GETS BYTES`: what the
                                     proxy served since the last `faults`
    method NAME                      answer `ok N`: requests of HTTP method
                                     NAME the proxy served since then
    keys BUCKET                      answer `ok KEY KEY ...`: the bucket's keys

The proxy counts and changes nothing but what the faults say; with `none`
the client cannot tell it from moto. Needs moto[server] and boto3
(tests/py/requirements.txt).
"""

import http.client
import http.server
import socket
import sys
import threading

import boto3
from moto.server import ThreadedMotoServer


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class State:
    def __init__(self, moto_port):
        self.moto_port = moto_port
        self.lock = threading.Lock()
        self.faults = ("none", 0)
        self.requests = 0
        self.gets = {}
        self.sent = 0
        self.methods = {}
        self.mutate = None  # (after, bucket, key, file)

    def client(self):
        return boto3.client(
            "s3",
            endpoint_url=f"http://127.0.0.1:{self.moto_port}",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            region_name="us-east-1",
        )


def handler(state):
    class Proxy(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def forward(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            with state.lock:
                state.methods[self.command] = state.methods.get(self.command, 0) + 1
                state.requests += 1
                n = state.requests
                kind, arg = state.faults
                path = self.path.split("?", 1)[0].lstrip("/")
                is_get = self.command == "GET" and "/" in path and "?list-type" not in self.path
                if is_get:
                    state.gets[path] = state.gets.get(path, 0) + 1
                    get_n = sum(state.gets.values())
                else:
                    get_n = 0
            if kind == "status":
                return self.reply(int(arg), b"<Error><Code>AccessDenied</Code><Message>denied by the test</Message></Error>")
            if kind == "fail_every" and n % int(arg) == 0:
                return self.reply(503, b"<Error><Code>SlowDown</Code><Message>slow down</Message></Error>")
            upstream = http.client.HTTPConnection("127.0.0.1", state.moto_port, timeout=30)
            headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
            upstream.request(self.command, self.path, body=body, headers=headers)
            resp = upstream.getresponse()
            data = resp.read()
            self.send_response(resp.status)
            for k, v in resp.getheaders():
                if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                    self.send_header(k, v)
            # A HEAD answer has no body but the object's length.
            length = resp.getheader("Content-Length") if self.command == "HEAD" else None
            self.send_header("Content-Length", length or str(len(data)))
            self.end_headers()
            cut = kind == "reset_get" and is_get and get_n == int(arg) and len(data) > 16
            if self.command != "HEAD":
                body = data[: len(data) // 2] if cut else data
                self.wfile.write(body)
                with state.lock:
                    state.sent += len(body)
            self.wfile.flush()
            if cut:
                self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True
                return
            if is_get and resp.status < 300:
                self.after_get(path)

        def after_get(self, path):
            with state.lock:
                m = state.mutate
                if m and f"{m[1]}/{m[2]}" == path and state.gets.get(path, 0) >= m[0]:
                    state.mutate = None
                else:
                    m = None
            if m:
                state.client().upload_file(m[3], m[1], m[2])

        def reply(self, status, body):
            self.send_response(status)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = forward

    return Proxy


def main():
    moto_port, proxy_port = free_port(), free_port()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=moto_port, verbose=False)
    moto.start()
    state = State(moto_port)
    proxy = http.server.ThreadingHTTPServer(("127.0.0.1", proxy_port), handler(state))
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    print(f"ready {moto_port} {proxy_port}", flush=True)
    s3 = state.client()
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        try:
            cmd, args = words[0], words[1:]
            out = "ok"
            if cmd == "bucket":
                s3.create_bucket(Bucket=args[0])
                if args[1:] == ["versioned"]:
                    s3.put_bucket_versioning(
                        Bucket=args[0], VersioningConfiguration={"Status": "Enabled"}
                    )
            elif cmd == "put":
                s3.upload_file(args[2], args[0], args[1])
            elif cmd == "faults":
                with state.lock:
                    state.faults = (args[0], args[1] if len(args) > 1 else 0)
                    state.requests = 0
                    state.gets = {}
                    state.sent = 0
                    state.methods = {}
            elif cmd == "mutate_after":
                with state.lock:
                    state.mutate = (int(args[0]), args[1], args[2], args[3])
            elif cmd == "stats":
                with state.lock:
                    out = f"ok {state.requests} {state.methods.get('GET', 0)} {state.sent}"
            elif cmd == "gets":
                with state.lock:
                    out = f"ok {state.gets.get(f'{args[0]}/{args[1]}', 0)}"
            elif cmd == "method":
                with state.lock:
                    out = f"ok {state.methods.get(args[0], 0)}"
            elif cmd == "keys":
                listed = s3.list_objects_v2(Bucket=args[0]).get("Contents", [])
                out = " ".join(["ok"] + [o["Key"] for o in listed])
            else:
                out = f"err unknown command {cmd}"
        except Exception as e:  # the test reads the message
            out = f"err {type(e).__name__}: {e}".replace("\n", " ")
        print(out, flush=True)
    proxy.shutdown()
    moto.stop()


if __name__ == "__main__":
    main()
