"""Single-row scoring over HTTP, the Python service of the mlops benchmark.

    /usr/bin/python3 serve.py PORT MODEL_ID

The standard library's ThreadingHTTPServer (HTTP/1.1 keep-alive, TCP_NODELAY)
with libxgboost through the xgboost package, one thread for prediction: POST
{"features": [20 numbers]} to /predict, get {"prediction": label,
"probability": p}.  The model is the one mlops stored, read once at start.
SIGTERM stops it cleanly (so /usr/bin/time -v can report its memory).
"""
import json
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import psycopg2
import xgboost as xgb


class Handler(BaseHTTPRequestHandler):
    """Scores the posted row."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def do_POST(self):
        """Predict one row."""
        body = self.rfile.read(int(self.headers["Content-Length"]))
        x = np.array([json.loads(body)["features"]], dtype=np.float32)
        p = float(BOOSTER.inplace_predict(x)[0])
        out = json.dumps({"prediction": int(p > 0.5), "probability": p}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args):
        """No access log."""


class Server(ThreadingHTTPServer):
    """The threading server, quiet about clients that hang up (wrk does at the end)."""

    def handle_error(self, request, client_address):
        """Report errors other than a lost connection."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


conn = psycopg2.connect("")
cur = conn.cursor()
cur.execute("SELECT model FROM mlops.models WHERE id = %s", (int(sys.argv[2]),))
BOOSTER = xgb.Booster()
BOOSTER.load_model(bytearray(cur.fetchone()[0]))
BOOSTER.set_param({"nthread": 1})
conn.close()
signal.signal(signal.SIGTERM, lambda *args: sys.exit(0))
server = Server(("127.0.0.1", int(sys.argv[1])), Handler)
print("ready", flush=True)
server.serve_forever()
