// The article's relay server, written for the benchmarks.
//
// Every text message a client sends goes to every *other* open client as
// "Received message from peer: <message>". The article tests `client.connected`,
// which ws does not have; the open check is `readyState === WebSocket.OPEN`.
//
// Usage: node server.js [--port N] [--host H] [--quiet] [--cork]
//   --port 0 (or PORT=0) picks a free port. The first stdout line is the URL.
//   --quiet drops the per-message console.log (the stronger baseline);
//   "Client disconnected" is printed either way.
//   --cork corks each recipient's socket on its first send in an event-loop turn and
//   uncorks them all in setImmediate, so a burst reaches each recipient in one write:
//   the technique ws's maintainers point to for many small sends (socket.cork()).
'use strict';

const { WebSocketServer, WebSocket } = require('ws');

function parseArgs(argv) {
  const opts = {
    host: process.env.HOST || '127.0.0.1',
    port: Number(process.env.PORT || 8080),
    quiet: false,
    cork: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--quiet') opts.quiet = true;
    else if (arg === '--cork') opts.cork = true;
    else if (arg === '--port') opts.port = Number(argv[++i]);
    else if (arg === '--host') opts.host = argv[++i];
    else throw new Error(`unknown argument: ${arg}`);
  }
  if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) {
    throw new Error('--port must be an integer from 0 to 65535');
  }
  return opts;
}

// Sockets corked in this turn of the event loop; all are uncorked in setImmediate.
const corked = new Set();

function uncorkAll() {
  for (const socket of corked) socket.uncork();
  corked.clear();
}

function corkedSend(client, data, binary) {
  // ws keeps its net.Socket in _socket; ws has no public cork().
  const socket = client._socket;
  if (!corked.has(socket)) {
    if (corked.size === 0) setImmediate(uncorkAll);
    socket.cork();
    corked.add(socket);
  }
  client.send(data, { binary });
}

function start({ host, port, quiet, cork }) {
  const wss = new WebSocketServer({ host, port, backlog: 4096 });

  wss.on('listening', () => {
    console.log(`ws://${host}:${wss.address().port}/`);
  });

  wss.on('connection', (ws) => {
    ws.on('message', (data, isBinary) => {
      const message = data.toString();
      if (!quiet) console.log(`Received message: ${message}`);
      const relayed = `Received message from peer: ${message}`;
      for (const client of wss.clients) {
        if (client !== ws && client.readyState === WebSocket.OPEN) {
          if (cork) corkedSend(client, relayed, isBinary);
          else client.send(relayed, { binary: isBinary });
        }
      }
    });
    ws.on('close', () => {
      console.log('Client disconnected');
    });
  });

  const stop = () => {
    for (const client of wss.clients) client.terminate();
    wss.close(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

start(parseArgs(process.argv.slice(2)));
