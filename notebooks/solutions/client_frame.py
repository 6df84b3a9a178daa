# Our solution to "build a client frame" in 02-under-the-hood.ipynb.
# Only what the notebook showed: the header bits, the three length forms and apply_mask.
from wslib.teaching.frames import apply_mask


def client_frame(text, key):
    payload = text.encode()  # the length counts bytes, not characters
    size = len(payload)
    if size <= 125:
        header = bytes([0x81, 0x80 | size])  # FIN + text; MASK + the length itself
    elif size < 2**16:
        header = bytes([0x81, 0x80 | 126]) + size.to_bytes(2, "big")
    else:
        header = bytes([0x81, 0x80 | 127]) + size.to_bytes(8, "big")
    return header + key + apply_mask(payload, key)
