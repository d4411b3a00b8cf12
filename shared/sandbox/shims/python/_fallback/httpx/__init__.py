"""Sandbox stand-in for the httpx package, on the shared urllib transport.

The common surface only: request/get/post/put/patch/delete/head, Client and
AsyncClient (their async methods run the same synchronous transport),
Response, and the exception names scripts catch.
"""
import json as _json
import urllib.parse

import _oa_http

__version__ = "0.27.0"


class HTTPError(Exception):
    pass


class RequestError(HTTPError):
    pass


class TransportError(RequestError):
    pass


class ConnectError(TransportError):
    pass


class TimeoutException(TransportError):
    pass


class HTTPStatusError(HTTPError):
    def __init__(self, message, request=None, response=None):
        super().__init__(message)
        self.request, self.response = request, response


class Response(_oa_http.Response):
    def __init__(self, url, status, headers, content):
        super().__init__(url, status, headers, content)
        self.is_success = 200 <= status < 300
        self.is_error = status >= 400
        self.reason_phrase = ""

    def raise_for_status(self):
        if self.status_code >= 400:
            raise HTTPStatusError("%d error for url %s" % (self.status_code, self.url), response=self)
        return self

    def iter_bytes(self, *args, **kwargs):
        yield self.content

    def iter_lines(self):
        for line in self.text.splitlines():
            yield line

    def read(self):
        return self.content


def _body(content, data, json, files, headers):
    if json is not None:
        headers.setdefault("Content-Type", "application/json")
        return _json.dumps(json).encode()
    if content is not None:
        return content.encode() if isinstance(content, str) else bytes(content)
    parts = []
    if isinstance(data, dict):
        parts.append(urllib.parse.urlencode(data, doseq=True).encode())
    elif data is not None:
        parts.append(data.encode() if isinstance(data, str) else bytes(data))
    for value in (files or {}).values():
        if isinstance(value, tuple):
            value = value[1]
        if hasattr(value, "read"):
            value = value.read()
        parts.append(value.encode() if isinstance(value, str) else bytes(value))
    return b"\n".join(parts) if parts else None


def request(method, url, params=None, content=None, data=None, json=None, files=None, headers=None, timeout=None, **kwargs):
    url = _oa_http.with_params(str(url), params)
    headers = dict(headers or {})
    body = _body(content, data, json, files, headers)
    try:
        status, hdrs, got = _oa_http.send(method, url, body, headers, timeout)
    except _oa_http.TransportError as e:
        raise ConnectError(str(e))
    return Response(url, status, hdrs, got)


def get(url, **kwargs):
    return request("GET", url, **kwargs)


def post(url, **kwargs):
    return request("POST", url, **kwargs)


def put(url, **kwargs):
    return request("PUT", url, **kwargs)


def patch(url, **kwargs):
    return request("PATCH", url, **kwargs)


def delete(url, **kwargs):
    return request("DELETE", url, **kwargs)


def head(url, **kwargs):
    return request("HEAD", url, **kwargs)


class Client:
    def __init__(self, base_url="", headers=None, timeout=None, **kwargs):
        self.base_url = str(base_url)
        self.headers = dict(headers or {})
        self.timeout = timeout

    def request(self, method, url, headers=None, **kwargs):
        merged = dict(self.headers)
        merged.update(headers or {})
        url = str(url)
        if self.base_url and "://" not in url:
            url = self.base_url.rstrip("/") + "/" + url.lstrip("/")
        kwargs.setdefault("timeout", self.timeout)
        return request(method, url, headers=merged, **kwargs)

    def get(self, url, **kwargs):
        return self.request("GET", url, **kwargs)

    def post(self, url, **kwargs):
        return self.request("POST", url, **kwargs)

    def put(self, url, **kwargs):
        return self.request("PUT", url, **kwargs)

    def patch(self, url, **kwargs):
        return self.request("PATCH", url, **kwargs)

    def delete(self, url, **kwargs):
        return self.request("DELETE", url, **kwargs)

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class AsyncClient(Client):
    async def request(self, method, url, **kwargs):
        return Client.request(self, method, url, **kwargs)

    async def get(self, url, **kwargs):
        return await self.request("GET", url, **kwargs)

    async def post(self, url, **kwargs):
        return await self.request("POST", url, **kwargs)

    async def put(self, url, **kwargs):
        return await self.request("PUT", url, **kwargs)

    async def patch(self, url, **kwargs):
        return await self.request("PATCH", url, **kwargs)

    async def delete(self, url, **kwargs):
        return await self.request("DELETE", url, **kwargs)

    async def aclose(self):
        pass

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        return False
