# Our solution to "two servers, one chat" in 07-scaling-out.ipynb.
import wslib


def start_pair(link):
    a = wslib.start(port=0, name="mine-a", **link)  # each server a name of its own,
    b = wslib.start(port=0, name="mine-b", **link)  # both linked the same way
    return a, b
