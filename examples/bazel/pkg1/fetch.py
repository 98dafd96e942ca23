import urllib.parse
from http.client import HTTPResponse


def query(url: str, **params: str) -> str:
    return url + "?" + urllib.parse.urlencode(params)


def status(response: HTTPResponse) -> int:
    return response.status
