"""List dead links in a Markdown file."""

import re
import sys

import requests


def dead_links(path):
    with open(path) as f:
        links = re.findall(r"https?://[^\s)]+", f.read())
    return [u for u in links if requests.head(u, timeout=5).status_code >= 400]


if __name__ == "__main__":
    print("\n".join(dead_links(sys.argv[1])))
