"""Sandbox stand-in for the requests package, built on urllib.

Only the common surface: request/get/post/put/patch/delete/head, Session and
Response. Every call still goes through the real network stack, so the
sandbox's tracer and sinkhole see it like the real package's traffic.
"""
import json as _json
import urllib.parse

import _oa_http

from .exceptions import ConnectionError, HTTPError, RequestException, Timeout  # noqa: F401

__version__ = "2.31.0"


class Response(_oa_http.Response):
    def __init__(self, url, status, headers, content):
        super().__init__(url, status, headers, content)
        self.ok = status < 400
        self.encoding = "utf-8"
        self.reason = ""

    def raise_for_status(self):
        if self.status_code >= 400:
            raise HTTPError("%d error for url %s" % (self.status_code, self.url), response=self)

    def iter_content(self, chunk_size=1, decode_unicode=False):
        yield self.content

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _body(data, json, files, headers):
    if json is not None:
        headers.setdefault("Content-Type", "application/json")
        return _json.dumps(json).encode()
    parts = []
    if isinstance(data, dict):
        parts.append(urllib.parse.urlencode(data, doseq=True).encode())
    elif isinstance(data, str):
        parts.append(data.encode())
    elif hasattr(data, "read"):
        parts.append(data.read())
    elif data is not None:
        parts.append(bytes(data))
    for value in (files or {}).values():
        if isinstance(value, tuple):
            value = value[1]
        if hasattr(value, "read"):
            value = value.read()
        parts.append(value.encode() if isinstance(value, str) else bytes(value))
    return b"\n".join(parts) if parts else None


def request(method, url, params=None, data=None, json=None, headers=None, files=None, timeout=None, **kwargs):
    url = _oa_http.with_params(url, params)
    headers = dict(headers or {})
    body = _body(data, json, files, headers)
    try:
        status, hdrs, content = _oa_http.send(method, url, body, headers, timeout)
    except _oa_http.TransportError as e:
        raise ConnectionError(str(e))
    return Response(url, status, hdrs, content)


def get(url, params=None, **kwargs):
    return request("GET", url, params=params, **kwargs)


def post(url, data=None, json=None, **kwargs):
    return request("POST", url, data=data, json=json, **kwargs)


def put(url, data=None, **kwargs):
    return request("PUT", url, data=data, **kwargs)


def patch(url, data=None, **kwargs):
    return request("PATCH", url, data=data, **kwargs)


def delete(url, **kwargs):
    return request("DELETE", url, **kwargs)


def head(url, **kwargs):
    return request("HEAD", url, **kwargs)


class Session:
    def __init__(self):
        self.headers = {}
        self.cookies = {}
        self.auth = None

    def request(self, method, url, headers=None, **kwargs):
        merged = dict(self.headers)
        merged.update(headers or {})
        return request(method, url, headers=merged, **kwargs)

    def get(self, url, **kwargs):
        return self.request("GET", url, **kwargs)

    def post(self, url, data=None, json=None, **kwargs):
        return self.request("POST", url, data=data, json=json, **kwargs)

    def put(self, url, data=None, **kwargs):
        return self.request("PUT", url, data=data, **kwargs)

    def delete(self, url, **kwargs):
        return self.request("DELETE", url, **kwargs)

    def mount(self, prefix, adapter):
        pass

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
