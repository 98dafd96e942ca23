#!/usr/bin/python3
"""Starts real servers for the remote-store tests on free 127.0.0.1 ports in a temp dir.

    servers.py [redis] [nginx] [apache] [s3] [blackhole]

prints one JSON line describing them (ports, pids, paths), then runs until its standard input
closes or it gets SIGTERM/SIGINT, and then stops every server and removes the temp dir. The
servers die with it (PR_SET_PDEATHSIG) even if it is killed.

  redis      redis-server --port P --save '' --appendonly no, plus a Unix socket
  nginx      nginx with WebDAV (dav + dav-ext): /dav/ (create_full_put_path on), /strict/
             (off: PUT into a missing collection is 409), /auth/ (Basic, tc:secret),
             /err401/ /err403/ /err500/ /err503/ /err507/ (fixed statuses); one process
             (master_process off) so that killing its pid stops it; the same locations over
             HTTPS on "tls_port" with a self-signed certificate for 127.0.0.1 ("ca_file")
  apache     Apache httpd 2.4 with mod_dav + mod_dav_fs: / is a WebDAV collection (Dav On;
             it honours If-None-Match / If-Match on PUT); as root it serves as www-data
  s3         s3rver (npm) on its own port ("direct"), and in front of it a proxy ("port") that
             checks AWS SigV4 signatures with the secret and implements If-None-Match: * and
             If-Match on PUT, which s3rver itself ignores. Bucket "tc-test"; key S3RVER/S3RVER.
             "tls_port": the proxy behind an nginx that terminates TLS ("ca_file").
  blackhole  "port": accepts TCP connections and never answers; "full_port": a listener whose
             accept queue is full, so a connect hangs; "refused_port": nothing listens.

A missing program is an error naming the package that provides it (exit status 2).
s3rver is looked up in $TYPECACHE_S3RVER_DIR, /opt/typecache/s3rver, /tmp/s3rver
(tools/install-s3rver installs it).
"""

import ctypes
import datetime
import hashlib
import hmac
import http.client
import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

S3_BUCKET = "tc-test"
S3_KEY = "S3RVER"
S3_SECRET = "S3RVER"
DAV_EXT = "/usr/lib/nginx/modules/ngx_http_dav_ext_module.so"


def log(*args):
    print("servers.py:", *args, file=sys.stderr, flush=True)


def fail(message):
    print(f"servers.py: error: {message}", file=sys.stderr, flush=True)
    sys.exit(2)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def die_with_parent():
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def log_tail(proc):
    path = getattr(proc, "log_path", None)
    if not path or not os.path.exists(path):
        return ""
    with open(path, errors="replace") as f:
        return "".join(f.readlines()[-20:])


def wait_port(port, proc, name, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            fail(f"{name} exited with status {proc.returncode} before listening:\n"
                 f"{log_tail(proc)}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    fail(f"{name} did not listen on port {port} within {timeout} s:\n{log_tail(proc)}")


def nginx_preamble(d):
    """An nginx.conf's start, to the open `http {` block: one process in the foreground, its pid
    and temporary files in `d`, errors to stderr."""
    return f"""master_process off;
daemon off;
pid {d}/nginx.pid;
error_log stderr emerg;
events {{ worker_connections 512; }}
http {{
  access_log off;
  client_body_temp_path {d}/client_body;
  proxy_temp_path {d}/proxy;
  fastcgi_temp_path {d}/fastcgi;
  uwsgi_temp_path {d}/uwsgi;
  scgi_temp_path {d}/scgi;"""


def need(program, package):
    path = shutil.which(program, path="/usr/sbin:/usr/bin:/sbin:/bin:/usr/local/bin")
    if path is None:
        fail(f"{program} not found: install the Debian package {package} (tools/install-deps)")
    return path


class Servers:
    def __init__(self, tmp):
        self.tmp = tmp
        self.procs = []
        self.info = {"tmp": tmp}

    def spawn(self, name, argv, **kwargs):
        """Starts a server; its output goes to TMP/<name>.log, shown if it fails to start."""
        log_path = os.path.join(self.tmp, f"{name}.{len(self.procs)}.log")
        with open(log_path, "w") as out:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                    preexec_fn=die_with_parent, cwd=self.tmp, **kwargs)
        proc.log_path = log_path
        self.procs.append((name, proc))
        return proc

    def certificate(self):
        """(cert, key) PEM paths of one self-signed certificate for 127.0.0.1 and localhost,
        made on first use (its own CA)."""
        cert, key = os.path.join(self.tmp, "cert.pem"), os.path.join(self.tmp, "key.pem")
        if not os.path.exists(cert):
            made = subprocess.run(
                [need("openssl", "openssl"), "req", "-x509", "-newkey", "ec", "-pkeyopt",
                 "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", cert, "-days",
                 "2", "-subj", "/CN=127.0.0.1", "-addext",
                 "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                capture_output=True, text=True)
            if made.returncode != 0:
                fail("openssl req failed: " + made.stderr.strip())
        return cert, key

    def redis(self):
        exe = need("redis-server", "redis-server")
        d = os.path.join(self.tmp, "redis")
        os.mkdir(d)
        sock = os.path.join(d, "redis.sock")
        for attempt in range(5):
            port = free_port()
            proc = self.spawn("redis", [exe, "--port", str(port), "--bind", "127.0.0.1",
                                        "--save", "", "--appendonly", "no", "--dir", d,
                                        "--unixsocket", sock, "--unixsocketperm", "700",
                                        "--daemonize", "no", "--logfile", "",
                                        "--loglevel", "warning"])
            try:
                wait_port(port, proc, "redis-server", timeout=10)
                break
            except SystemExit:  # the port was taken meanwhile: another one
                proc.kill()
                if attempt == 4:
                    raise
        self.info["redis"] = {"port": port, "pid": proc.pid, "socket": sock}

    def nginx(self):
        exe = need("nginx", "nginx-light")
        if not os.path.exists(DAV_EXT):
            fail(f"{DAV_EXT} not found: install the Debian package libnginx-mod-http-dav-ext")
        d = os.path.join(self.tmp, "nginx")
        www = os.path.join(d, "www")
        for sub in ("dav", "strict", "auth"):
            os.makedirs(os.path.join(www, sub))
        with open(os.path.join(d, "htpasswd"), "w") as f:
            f.write("tc:{PLAIN}secret\n")
        port = free_port()
        # HTTPS: the same locations behind TLS, with a self-signed certificate for 127.0.0.1
        # (its own CA: clients trust it through SSL_CERT_FILE / StoreOptions::tls_ca_file).
        tls_port = free_port()
        cert, key = self.certificate()
        dav = ("dav_methods PUT DELETE MKCOL COPY MOVE; dav_ext_methods PROPFIND OPTIONS; "
               "dav_access user:rw group:rw all:r;")
        conf = f"""
load_module {DAV_EXT};
{nginx_preamble(d)}
  client_max_body_size 0;
  keepalive_requests 100000;
  server {{
    listen 127.0.0.1:{port};
    listen 127.0.0.1:{tls_port} ssl;
    ssl_certificate {cert};
    ssl_certificate_key {key};
    root {www};
    location /dav/ {{ {dav} create_full_put_path on; }}
    location /strict/ {{ {dav} }}
    location /auth/ {{ {dav} create_full_put_path on; auth_basic "tc";
                      auth_basic_user_file {d}/htpasswd; }}
    location /err401/ {{ return 401; }}
    location /err403/ {{ return 403; }}
    location /err500/ {{ return 500; }}
    location /err503/ {{ return 503; }}
    location /err507/ {{ return 507; }}
  }}
}}
"""
        with open(os.path.join(d, "nginx.conf"), "w") as f:
            f.write(conf)
        proc = self.spawn("nginx", [exe, "-e", "stderr", "-p", d, "-c",
                                    os.path.join(d, "nginx.conf")])
        wait_port(port, proc, "nginx")
        self.info["nginx"] = {"port": port, "tls_port": tls_port, "ca_file": cert, "pid": proc.pid,
                              "root": www}

    def apache(self):
        exe = need("apache2", "apache2")
        modules = "/usr/lib/apache2/modules"
        d = os.path.join(self.tmp, "apache")
        www = os.path.join(d, "www")
        lock = os.path.join(d, "lock")
        for sub in (os.path.join(www, "dav"), lock):
            os.makedirs(sub)
        # As root Apache serves as www-data (it refuses to serve as root): what it writes must
        # be that user's.
        as_root = os.geteuid() == 0
        if as_root:
            import pwd
            www_data = pwd.getpwnam("www-data")
            for path in (self.tmp, d):  # mkdtemp's 0700: www-data must pass through
                os.chmod(path, 0o711)
            for path in (www, os.path.join(www, "dav"), lock):
                os.chown(path, www_data.pw_uid, www_data.pw_gid)
        port = free_port()
        conf = f"""
ServerRoot "{d}"
ServerName 127.0.0.1
PidFile {d}/httpd.pid
Listen 127.0.0.1:{port}
LoadModule mpm_event_module {modules}/mod_mpm_event.so
LoadModule authz_core_module {modules}/mod_authz_core.so
LoadModule dav_module {modules}/mod_dav.so
LoadModule dav_fs_module {modules}/mod_dav_fs.so
{"User www-data" if as_root else ""}
{"Group www-data" if as_root else ""}
ErrorLog /dev/stderr
LogLevel warn
MaxKeepAliveRequests 0
DavLockDB {lock}/davlock
DocumentRoot {www}
<Directory {www}>
  Dav On
  Require all granted
</Directory>
"""
        with open(os.path.join(d, "httpd.conf"), "w") as f:
            f.write(conf)
        proc = self.spawn("apache", [exe, "-f", os.path.join(d, "httpd.conf"), "-DFOREGROUND"])
        wait_port(port, proc, "apache2")
        # The parent listens before its children serve, and the first burst of parallel PUTs
        # after a start waits about 1 s (measured: 7 of 8; mod_dav making its lock database,
        # it seems; later bursts take 1-10 ms): send bursts of 16 (into a missing collection:
        # 409, nothing written) until one is answered at once.
        deadline = time.monotonic() + 20

        def ask(answered):
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                c.request("PUT", "/dav/.tc-warm-up/missing/x", body=b"x" * 300)
                c.getresponse().read()
                answered.append(1)
            except OSError:
                pass
        while True:
            answered, start = [], time.monotonic()
            burst = [threading.Thread(target=ask, args=(answered,)) for _ in range(16)]
            for t in burst:
                t.start()
            for t in burst:
                t.join()
            if len(answered) == 16 and time.monotonic() - start < 0.3:
                break
            if time.monotonic() > deadline or proc.poll() is not None:
                fail(f"apache2 did not answer on port {port}:\n{log_tail(proc)}")
            time.sleep(0.02)
        self.info["apache"] = {"port": port, "pid": proc.pid, "root": www}

    def s3(self):
        node = need("node", "nodejs")
        candidates = [os.environ.get("TYPECACHE_S3RVER_DIR", ""), "/opt/typecache/s3rver",
                      "/tmp/s3rver"]
        script = None
        for c in candidates:
            p = os.path.join(c, "node_modules", "s3rver", "bin", "s3rver.js")
            if c and os.path.exists(p):
                script = p
                break
        if script is None:
            fail("s3rver not found in $TYPECACHE_S3RVER_DIR, /opt/typecache/s3rver or "
                 "/tmp/s3rver: run tools/install-s3rver (npm install s3rver@3.7.1)")
        d = os.path.join(self.tmp, "s3")
        os.mkdir(d)
        port = free_port()
        # --openssl-legacy-provider: s3rver 3.7.1 encrypts continuation tokens with DES, which
        # OpenSSL 3 (Node 17+) disables; without it every truncated listing is a 500.
        proc = self.spawn("s3rver", [node, "--openssl-legacy-provider", script, "-d", d,
                                     "-a", "127.0.0.1", "-p", str(port), "--silent",
                                     "--configure-bucket", S3_BUCKET])
        wait_port(port, proc, "s3rver")
        proxy = S3Proxy(port)
        # HTTPS in front of the checking proxy: an nginx that terminates TLS and passes each
        # request on with its Host header (signed: the proxy checks it).
        tls_port = free_port()
        cert, key = self.certificate()
        front = os.path.join(d, "tls-front")
        os.mkdir(front)
        conf = f"""
{nginx_preamble(front)}
  client_max_body_size 0;
  server {{
    listen 127.0.0.1:{tls_port} ssl;
    ssl_certificate {cert};
    ssl_certificate_key {key};
    location / {{
      proxy_pass http://127.0.0.1:{proxy.port};
      proxy_set_header Host $http_host;
      proxy_http_version 1.1;
      proxy_request_buffering off;
      proxy_buffering off;
    }}
  }}
}}
"""
        with open(os.path.join(front, "nginx.conf"), "w") as f:
            f.write(conf)
        nginx = self.spawn("s3-tls", [need("nginx", "nginx-light"), "-e", "stderr", "-p", front,
                                      "-c", os.path.join(front, "nginx.conf")])
        wait_port(tls_port, nginx, "nginx (S3 over TLS)")
        self.info["s3"] = {"port": proxy.port, "direct_port": port, "pid": proc.pid,
                           "tls_port": tls_port, "ca_file": cert,
                           "bucket": S3_BUCKET, "access_key": S3_KEY, "secret": S3_SECRET}

    def blackhole(self):
        hole = socket.socket()
        hole.bind(("127.0.0.1", 0))
        hole.listen(128)  # never accepted: the handshake completes, nothing is ever answered
        full = socket.socket()
        full.bind(("127.0.0.1", 0))
        full.listen(0)
        fillers = []
        for _ in range(4):  # fill the accept queue: later SYNs are dropped
            c = socket.socket()
            c.setblocking(False)
            try:
                c.connect(full.getsockname())
            except BlockingIOError:
                pass
            fillers.append(c)
        self.keep = [hole, full] + fillers
        self.info["blackhole"] = {"port": hole.getsockname()[1],
                                  "full_port": full.getsockname()[1],
                                  "refused_port": free_port(),
                                  "bad_http_port": BadHttp().port}

    def stop(self):
        for name, proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + 5
        for name, proc in reversed(self.procs):
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)


class BadHttp:
    """HTTP replies real servers send when something breaks, which nginx cannot be made to:
    GET /chunked/N  200, N bytes, Transfer-Encoding: chunked (no Content-Length up front)
    GET /short      200, Content-Length: 100000, 10 bytes, then the connection is closed
    GET /garbage    bytes that are not HTTP, then close
    OPTIONS *       200, empty (the WebDAV store's first question)"""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            conn, _ = self.sock.accept()
            threading.Thread(target=self.handle, args=(conn,), daemon=True).start()

    def handle(self, conn):
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
            method, path = data.split(b" ")[0], data.split(b" ")[1].decode()
            try:
                if method == b"OPTIONS":  # what the WebDAV store asks first: a plain answer
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n"
                                 b"Connection: close\r\n\r\n")
                elif "/chunked/" in path:
                    n = int(path.rsplit("/", 1)[1])
                    conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                                 b"Connection: close\r\n\r\n")
                    sent = 0
                    while sent < n:
                        k = min(16384, n - sent)
                        conn.sendall(b"%x\r\n" % k + b"c" * k + b"\r\n")
                        sent += k
                    conn.sendall(b"0\r\n\r\n")
                elif path.endswith("/short"):
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n0123456789")
                else:
                    conn.sendall(b"\x00\x01 this is not HTTP\r\n\r\n")
            except OSError:
                pass


# ---- S3 proxy: SigV4 verification and conditional PUT in front of s3rver ----

def _sign(key, msg):
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def _quote(s):
    return urllib.parse.quote(s, safe="-_.~")


def verify_sigv4(method, raw_path, headers, secret):
    """None if the request's SigV4 Authorization header is valid, else the reason."""
    auth = headers.get("authorization", "")
    if not auth.startswith("AWS4-HMAC-SHA256 "):
        return "no AWS4-HMAC-SHA256 Authorization header"
    fields = {}
    for part in auth[len("AWS4-HMAC-SHA256 "):].split(","):
        k, _, v = part.strip().partition("=")
        fields[k] = v
    try:
        key_id, date, region, service, term = fields["Credential"].split("/")
        signed = fields["SignedHeaders"].split(";")
        given = fields["Signature"]
    except (KeyError, ValueError):
        return "malformed Authorization header"
    if key_id != S3_KEY:
        return f"unknown access key id {key_id}"
    if service != "s3" or term != "aws4_request":
        return f"bad credential scope {fields['Credential']}"
    amz_date = headers.get("x-amz-date", "")
    try:
        when = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ")
    except ValueError:
        return "bad or missing x-amz-date"
    now = datetime.datetime.utcnow()
    if abs((now - when).total_seconds()) > 900 or amz_date[:8] != date:
        return "x-amz-date too far from now or not the credential's date"
    payload = headers.get("x-amz-content-sha256")
    if payload is None:
        return "missing x-amz-content-sha256 (S3 requires it)"
    for required in ["host", "x-amz-date", "x-amz-content-sha256"]:
        if required not in signed:
            return f"{required} not signed"
    for name in headers:
        if name.startswith("x-amz-") and name not in signed:
            return f"{name} sent but not signed"
    path, _, query = raw_path.partition("?")
    params = []
    for item in query.split("&") if query else []:
        k, _, v = item.partition("=")
        params.append((_quote(urllib.parse.unquote(k)), _quote(urllib.parse.unquote(v))))
    canonical_query = "&".join(f"{k}={v}" for k, v in sorted(params))
    canonical_uri = "/".join(_quote(urllib.parse.unquote(seg)) for seg in path.split("/"))
    canonical_headers = "".join(f"{h}:{' '.join(headers.get(h, '').split())}\n" for h in signed)
    canonical = "\n".join([method, canonical_uri, canonical_query, canonical_headers,
                           ";".join(signed), payload])
    scope = f"{date}/{region}/s3/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                         hashlib.sha256(canonical.encode()).hexdigest()])
    k = _sign(("AWS4" + secret).encode(), date)
    k = _sign(k, region)
    k = _sign(k, "s3")
    k = _sign(k, "aws4_request")
    expected = hmac.new(k, to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, given):
        return "signature does not match"
    return None


class S3Proxy:
    def __init__(self, backend_port):
        lock = threading.Lock()
        stats = {"requests": 0, "unsigned": 0}

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # else headers and body meet delayed ACKs: +40 ms

            def log_message(self, *args):
                pass

            def reply(self, status, body=b"", headers=()):
                self.send_response(status)
                for k, v in headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def error(self, status, code, message):
                body = (f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code>'
                        f"<Message>{message}</Message></Error>").encode()
                self.reply(status, body, [("Content-Type", "application/xml")])

            def forward(self, method, body, headers):
                conn = http.client.HTTPConnection("127.0.0.1", backend_port, timeout=30)
                try:
                    conn.request(method, self.path, body=body, headers=headers)
                    r = conn.getresponse()
                    data = r.read()
                    return r.status, data, r.getheaders()
                finally:
                    conn.close()

            def handle_any(self):
                length = int(self.headers.get("Content-Length", "0") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                stats["requests"] += 1
                if "authorization" in headers:
                    why = verify_sigv4(self.command, self.path, headers, S3_SECRET)
                    if why is not None:
                        return self.error(403, "SignatureDoesNotMatch", why)
                else:
                    stats["unsigned"] += 1
                fwd = {k: v for k, v in self.headers.items()
                       if k.lower() not in ("if-none-match", "if-match", "connection")}
                try:
                    if self.command == "PUT" and ("if-none-match" in headers or
                                                  "if-match" in headers):
                        with lock:  # check and write as one step, as S3 does
                            st, _, hs = self.forward("HEAD", None, {
                                k: v for k, v in fwd.items()
                                if k.lower() not in ("content-length", "content-type")})
                            etag = dict((k.lower(), v) for k, v in hs).get("etag")
                            if headers.get("if-none-match") == "*" and st == 200:
                                return self.error(412, "PreconditionFailed", "exists")
                            if "if-match" in headers and (st != 200 or
                                                          etag != headers["if-match"]):
                                return self.error(412, "PreconditionFailed", "etag")
                            st, data, hs = self.forward("PUT", body, fwd)
                    else:
                        st, data, hs = self.forward(self.command, body or None, fwd)
                except OSError as e:
                    return self.error(502, "BadGateway", str(e))
                keep = [(k, v) for k, v in hs
                        if k.lower() not in ("content-length", "connection",
                                             "transfer-encoding", "keep-alive")]
                self.reply(st, data, keep)

            do_GET = do_PUT = do_DELETE = do_HEAD = do_POST = handle_any

        class Server(http.server.ThreadingHTTPServer):
            request_queue_size = 128  # the default 5 drops SYNs from 8 parallel clients
            daemon_threads = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def sweep_stale(parent):
    """Removes temp dirs of earlier runs that were killed before they could clean up."""
    for name in os.listdir(parent):
        path = os.path.join(parent, name)
        if not name.startswith("tc-servers-"):
            continue
        try:
            with open(os.path.join(path, "owner.pid")) as f:
                os.kill(int(f.read()), 0)  # alive: leave it
        except ProcessLookupError:
            shutil.rmtree(path, ignore_errors=True)
        except (OSError, ValueError):
            pass  # no pid file yet (just created) or not ours to judge


def main():
    wanted = sys.argv[1:] or ["redis", "nginx", "s3", "blackhole"]
    for w in wanted:
        if w not in ("redis", "nginx", "apache", "s3", "blackhole"):
            fail(f"unknown server {w!r} (redis, nginx, apache, s3, blackhole)")
    # A short path in /tmp: a Unix socket path must fit in 108 bytes.
    sweep_stale(tempfile.gettempdir())
    tmp = tempfile.mkdtemp(prefix="tc-servers-")
    with open(os.path.join(tmp, "owner.pid"), "w") as f:
        f.write(str(os.getpid()))
    servers = Servers(tmp)
    stopping = threading.Event()

    def on_signal(signum, frame):
        stopping.set()
        servers.stop()
        os._exit(0)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        for w in wanted:
            getattr(servers, w)()
    except BaseException:
        servers.stop()
        raise
    print(json.dumps(servers.info), flush=True)
    try:
        while sys.stdin.buffer.read(4096):
            pass
    finally:
        servers.stop()


if __name__ == "__main__":
    main()
