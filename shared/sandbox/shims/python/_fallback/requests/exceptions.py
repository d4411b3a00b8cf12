"""Exceptions of the sandbox stand-in for requests."""


class RequestException(IOError):
    def __init__(self, *args, response=None, **kwargs):
        super().__init__(*args)
        self.response = response


class HTTPError(RequestException):
    pass


class ConnectionError(RequestException):
    pass


class Timeout(RequestException):
    pass
