# Our solution to "predict the bytes" in 03-polling-vs-websockets.ipynb.


def websocket_bytes(texts):
    total = (2 + 2) + (6 + 2)  # the two close frames: the server's, then the client's, masked
    for text in texts:
        size = len(text.encode())  # bytes, not characters
        header = 2 if size <= 125 else 4 if size <= 65535 else 10
        total += header + size
    return total
