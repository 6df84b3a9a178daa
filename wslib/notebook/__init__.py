"""The notebook side: chat panes, the server log, the wire view, the chat page in a frame.

May import every other layer; only ``wslib`` itself imports it, lazily (it needs ipywidgets).
"""
