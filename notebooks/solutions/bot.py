# Our solution to "a bot that answers !who" in 04-a-real-chat.ipynb.


def answer(message, online):
    if message["text"].strip() == "!who":
        return "online: " + ", ".join(online)
    return None  # not a command: stay quiet
