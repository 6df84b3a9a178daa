// A lean WebSocket client on raw TCP, just enough for load generation.
//
// It does the HTTP upgrade itself (RFC 6455, section 4.1), writes masked text
// frames, and parses server frames without copying: each text payload is handed
// to a callback as (buffer, start, end). Pings are answered; fragmented or
// masked server frames are reported as errors because the relay never sends them.
'use strict';

const crypto = require('node:crypto');
const net = require('node:net');

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const HEADER_END = Buffer.from('\r\n\r\n');

// Mask keys come from a pool so each frame gets a fresh one cheaply.
const maskPool = Buffer.alloc(64 * 1024);
let maskOffset = maskPool.length;

function nextMask() {
  if (maskOffset + 4 > maskPool.length) {
    crypto.randomFillSync(maskPool);
    maskOffset = 0;
  }
  maskOffset += 4;
  return maskOffset - 4;
}

/** Build one masked client frame (FIN set) around `payload`. */
function clientFrame(opcode, payload) {
  const len = payload.length;
  const head = len < 126 ? 2 : len < 65536 ? 4 : 10;
  const frame = Buffer.allocUnsafe(head + 4 + len);
  frame[0] = 0x80 | opcode;
  if (head === 2) {
    frame[1] = 0x80 | len;
  } else if (head === 4) {
    frame[1] = 0x80 | 126;
    frame.writeUInt16BE(len, 2);
  } else {
    frame[1] = 0x80 | 127;
    frame.writeBigUInt64BE(BigInt(len), 2);
  }
  const m = nextMask();
  maskPool.copy(frame, head, m, m + 4);
  for (let i = 0; i < len; i++) frame[head + 4 + i] = payload[i] ^ maskPool[m + (i & 3)];
  return frame;
}

class Conn {
  constructor(socket, onText, onError) {
    this.socket = socket;
    this.onText = onText;
    this.onError = onError;
    this.pending = null;
    this.closed = false;
  }

  /** Send one text message. */
  sendText(text) {
    this.socket.write(clientFrame(0x1, Buffer.from(text)));
  }

  /** Start the closing handshake; resolve when the TCP connection is gone. */
  close(timeoutMs) {
    return new Promise((resolve) => {
      if (this.socket.destroyed) return resolve();
      const timer = setTimeout(() => this.socket.destroy(), timeoutMs);
      this.socket.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      this.closed = true;
      const code = Buffer.from([0x03, 0xe8]); // 1000, normal closure
      this.socket.end(clientFrame(0x8, code));
    });
  }

  feed(chunk) {
    let buf = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    let pos = 0;
    while (buf.length - pos >= 2) {
      const b0 = buf[pos];
      const b1 = buf[pos + 1];
      let len = b1 & 0x7f;
      let head = 2;
      if (len === 126) {
        if (buf.length - pos < 4) break;
        len = buf.readUInt16BE(pos + 2);
        head = 4;
      } else if (len === 127) {
        if (buf.length - pos < 10) break;
        len = Number(buf.readBigUInt64BE(pos + 2));
        head = 10;
      }
      if (buf.length - pos < head + len) break;
      const start = pos + head;
      pos = start + len;
      if (b1 & 0x80) return this.onError(new Error('server sent a masked frame'));
      const opcode = b0 & 0x0f;
      if (!(b0 & 0x80) || opcode === 0x0) {
        return this.onError(new Error('fragmented frames are not expected'));
      }
      if (opcode === 0x1) this.onText(buf, start, pos);
      else if (opcode === 0x9) this.socket.write(clientFrame(0xa, buf.subarray(start, pos)));
      else if (opcode === 0x8 && !this.closed) {
        return this.onError(new Error('server closed the connection'));
      }
    }
    this.pending = pos < buf.length ? buf.subarray(pos) : null;
  }
}

/**
 * Open a WebSocket connection to `url` ("ws://host:port/path"), from `localAddress` if given.
 * Resolves with a Conn once the server answered 101 with the right accept key.
 */
function connect(url, onText, onError, localAddress) {
  const { hostname, port, pathname } = new URL(url);
  const key = crypto.randomBytes(16).toString('base64');
  const accept = crypto.createHash('sha1').update(key + GUID).digest('base64');
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: hostname, port: Number(port), localAddress });
    socket.setNoDelay(true);
    let header = Buffer.alloc(0);
    const onHandshakeData = (chunk) => {
      header = Buffer.concat([header, chunk]);
      const end = header.indexOf(HEADER_END);
      if (end < 0) return;
      socket.off('data', onHandshakeData);
      const text = header.subarray(0, end).toString('latin1');
      if (!text.startsWith('HTTP/1.1 101') || !text.includes(accept)) {
        socket.destroy();
        return reject(new Error(`handshake refused: ${text.split('\r\n')[0]}`));
      }
      const conn = new Conn(socket, onText, onError);
      socket.on('data', (data) => conn.feed(data));
      socket.on('error', (err) => conn.closed || onError(err));
      socket.on('close', () => conn.closed || onError(new Error('connection lost')));
      socket.off('error', reject);
      const rest = header.subarray(end + HEADER_END.length);
      if (rest.length) conn.feed(rest);
      resolve(conn);
    };
    socket.on('error', reject);
    socket.on('data', onHandshakeData);
    socket.on('connect', () => {
      socket.write(
        `GET ${pathname || '/'} HTTP/1.1\r\nHost: ${hostname}:${port}\r\n` +
          'Upgrade: websocket\r\nConnection: Upgrade\r\n' +
          `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      );
    });
  });
}

module.exports = { connect };
