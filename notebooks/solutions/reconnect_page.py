# A page that reconnects after a restart and sends what was typed meanwhile.
page_script = r"""
const waiting = [];   // lines typed while the socket was not open
let ws;
let delay = 250;      // ms before the next try; doubles each time, up to 4 s

function connect() {
  ws = new WebSocket(RELAY);
  ws.onopen = () => {
    log("connected");
    delay = 250;
    while (waiting.length > 0) ws.send(waiting.shift());
  };
  ws.onclose = (close) => {
    if (close.code === 1000 || close.code === 4000) return;  // on purpose, or replaced
    log("closed", close.code, "- trying again in", delay, "ms");
    setTimeout(connect, delay);
    delay = Math.min(2 * delay, 4000);
  };
}

function type(text) {
  if (ws.readyState === WebSocket.OPEN) ws.send(text);
  else waiting.push(text);
}

connect();
"""
