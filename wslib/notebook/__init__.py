"""The notebook side: chat panes, the server log, the wire view, the flow diagram, the page.

May import every other layer; only ``wslib`` itself imports it, lazily (it needs ipywidgets).
"""
