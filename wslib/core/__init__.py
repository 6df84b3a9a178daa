"""The chat's rules with no I/O: relay, chat protocol and room, gate and limits, display, and
the flow diagram's record and drawings (flow, flowchart, flowsvg).

May import only ``wslib.exceptions`` and each other; never sockets, threads, files or widgets.
"""
