#!/usr/bin/python3
"""bundle-server.py serves one file over HTTPS with basic auth: the HSM client bundle that the cluster
e2e's init containers download (keymanager manage hsm-client install). It stands in for a vendor's
download portal or an artifact repository with a private CA.

Usage: bundle-server.py ADDR PORT CERT KEY FILE CREDENTIALS_FILE
CREDENTIALS_FILE holds "user:password" on one line (not on the command line, where ps would show it).
"""
import base64
import hmac
import http.server
import os
import ssl
import sys


def main():
    addr, port, cert, key, path, creds_file = sys.argv[1:7]
    with open(creds_file, "rb") as f:
        expected = b"Basic " + base64.b64encode(f.read().strip())
    name = "/" + os.path.basename(path)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            got = self.headers.get("Authorization", "").encode()
            if not hmac.compare_digest(got, expected):
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="bundles"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if self.path != name:
                self.send_error(404)
                return
            with open(path, "rb") as f:
                body = f.read()
            self.send_response(200)
            self.send_header("Content-Type", "application/gzip")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, fmt, *args):
            sys.stderr.write("bundle-server: %s\n" % (fmt % args))

    srv = http.server.ThreadingHTTPServer((addr, int(port)), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
