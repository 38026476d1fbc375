#!/usr/bin/env python3
"""A CRM's webhook endpoint for the testbeds: accepts POSTs, checks the
X-Ferroswitch-Signature (HMAC-SHA256 of the body with SECRET), and appends
one JSON line per delivery to LOG: {sig_ok, delivery, event, cdr_id,
disposition, gateway, ext_data_raw, recording_url, recording}. A pushed
batch of events (a JSON array) is written one line per event:
{sig_ok, push: true, event: {...}}.

usage: webhook_receiver.py PORT SECRET LOG
"""
import hashlib, hmac, json, sys
from http.server import BaseHTTPRequestHandler, HTTPServer

PORT, SECRET, LOG = int(sys.argv[1]), sys.argv[2].encode(), sys.argv[3]


class H(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        want = "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()
        got = self.headers.get("X-Ferroswitch-Signature", "")
        doc = json.loads(body)
        if isinstance(doc, list):
            ok = hmac.compare_digest(want, got)
            with open(LOG, "a") as f:
                for e in doc:
                    f.write(json.dumps({"sig_ok": ok, "push": True, "event": e}) + "\n")
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        raw = body.decode()
        i = raw.find('"ext_data":')
        line = {
            "sig_ok": hmac.compare_digest(want, got),
            "path": self.path,
            "delivery": self.headers.get("X-Ferroswitch-Delivery"),
            "event": doc.get("event"),
            "cdr_id": doc.get("cdr", {}).get("id"),
            "disposition": doc.get("cdr", {}).get("disposition"),
            "gateway": doc.get("cdr", {}).get("gateway"),
            "ext_data_raw": raw[i + 11:] if i >= 0 else None,
            "recording_url": doc.get("recording_url"),
            "recording": doc.get("cdr", {}).get("recording"),
        }
        with open(LOG, "a") as f:
            f.write(json.dumps(line) + "\n")
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *a):
        pass


HTTPServer(("127.0.0.1", PORT), H).serve_forever()
