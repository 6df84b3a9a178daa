// The article's relay server, written for the benchmarks.
//
// Every text message a client sends goes to every *other* open client as
// "Received message from peer: <message>". The article tests `client.connected`,
// which ws does not have; the open check is `readyState === WebSocket.OPEN`.
//
// Usage: node server.js [--port N] [--host H] [--quiet]
//   --port 0 (or PORT=0) picks a free port. The first stdout line is the URL.
//   --quiet drops the per-message console.log (the stronger baseline);
//   "Client disconnected" is printed either way.
'use strict';

const { WebSocketServer, WebSocket } = require('ws');

function parseArgs(argv) {
  const opts = {
    host: process.env.HOST || '127.0.0.1',
    port: Number(process.env.PORT || 8080),
    quiet: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--quiet') opts.quiet = true;
    else if (arg === '--port') opts.port = Number(argv[++i]);
    else if (arg === '--host') opts.host = argv[++i];
    else throw new Error(`unknown argument: ${arg}`);
  }
  if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) {
    throw new Error('--port must be an integer from 0 to 65535');
  }
  return opts;
}

function start({ host, port, quiet }) {
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
          client.send(relayed, { binary: isBinary });
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
