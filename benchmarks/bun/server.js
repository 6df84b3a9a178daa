// The article's relay server on Bun, whose WebSocket server is uWebSockets.
//
// Every client subscribes to one topic, and ws.publish() sends to every subscriber
// *except* the publishing one: exactly the article's rule. Each message goes out as
// "Received message from peer: <message>", text as text and binary as binary.
//
// Usage: bun server.js [--port N] [--host H] [--quiet]
//   --port 0 picks a free port. The first stdout line is the URL.
//   --quiet drops the per-message console.log; "Client disconnected" is printed either way.
'use strict';

const TOPIC = 'relay';
const PREFIX = 'Received message from peer: ';
const PREFIX_BYTES = Buffer.from(PREFIX);

function parseArgs(argv) {
  const opts = { host: '127.0.0.1', port: 8080, quiet: false };
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
  const server = Bun.serve({
    hostname: host,
    port,
    fetch(req, srv) {
      if (srv.upgrade(req)) return undefined;
      return new Response('expected a WebSocket upgrade', { status: 426 });
    },
    websocket: {
      perMessageDeflate: false,
      open(ws) {
        ws.subscribe(TOPIC);
      },
      message(ws, message) {
        if (typeof message === 'string') {
          if (!quiet) console.log(`Received message: ${message}`);
          ws.publish(TOPIC, PREFIX + message);
        } else {
          if (!quiet) console.log(`Received message: ${message.toString()}`);
          ws.publish(TOPIC, Buffer.concat([PREFIX_BYTES, message]));
        }
      },
      close() {
        console.log('Client disconnected');
      },
    },
  });
  console.log(`ws://${host}:${server.port}/`);

  const stop = () => {
    server.stop(true);
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

start(parseArgs(process.argv.slice(2)));
