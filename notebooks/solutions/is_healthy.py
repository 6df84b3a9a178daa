# Our solution to "a health check" in 06-scripts-and-terminal.ipynb.
import json
import urllib.request


def is_healthy(http_url):
    try:
        with urllib.request.urlopen(http_url + "healthz", timeout=5) as reply:
            return reply.status == 200 and json.load(reply).get("status") == "ok"
    except OSError:  # nothing listening, a timeout, or an error status (HTTPError)
        return False
