"""Shared transport of the sandbox's stand-in HTTP packages (requests, httpx).

send() goes through urllib and the real network stack, so the sandbox's
tracer and sinkhole see the traffic as they would the real package's.
"""
import json as _json
import urllib.error
import urllib.parse
import urllib.request


class TransportError(Exception):
    """The request did not get an answer (refused, unreachable, timed out)."""


def with_params(url, params):
    if not params:
        return url
    return url + ("&" if "?" in url else "?") + urllib.parse.urlencode(params, doseq=True)


def send(method, url, body=None, headers=None, timeout=None):
    """Returns (status, headers as (name, value) pairs, content bytes)."""
    req = urllib.request.Request(url, data=body, headers=dict(headers or {}), method=method.upper())
    wait = timeout[0] if isinstance(timeout, tuple) else timeout
    if not isinstance(wait, (int, float)):
        wait = 5
    try:
        with urllib.request.urlopen(req, timeout=min(wait or 5, 5)) as r:
            return r.status, list(r.headers.items()), r.read()
    except urllib.error.HTTPError as e:
        return e.code, list(e.headers.items()), e.read()
    except urllib.error.URLError as e:
        raise TransportError(str(e.reason))
    except OSError as e:
        raise TransportError(str(e))


class Response:
    """What both stand-ins' responses share."""

    def __init__(self, url, status, headers, content):
        self.url = url
        self.status_code = status
        self.headers = dict(headers)
        self.content = content

    @property
    def text(self):
        return self.content.decode("utf-8", "replace")

    def json(self, **kwargs):
        return _json.loads(self.content)

    def iter_lines(self, *args, **kwargs):
        for line in self.content.splitlines():
            yield line

    def close(self):
        pass
