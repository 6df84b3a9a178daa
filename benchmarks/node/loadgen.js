// Load generator for the relay servers, on raw sockets.
//
// Modes (one JSON line with the result goes to stdout; exit code 0 = verified):
//   fanout       N receivers + 1 sender: send --messages as fast as --window
//                (messages not yet seen by every receiver) allows;
//                deliveries/s = N x messages / time.
//   latency      N receivers + 1 sender: send at a steady --rate for --duration
//                seconds; each message carries its send time, receivers record delivery
//                latency, and the first arrival of each message (the server's first
//                byte out for it) is recorded too. With --trace PATH, each message's
//                first and last delivery latency (us) go to PATH as JSON, in order.
//   senders      --clients C connections that all send and all receive: together they
//                send C x --rate messages per second for --duration seconds, each one
//                relayed to the C - 1 others; latency of every delivery.
//   chat         the same on the JSON chat (URL path /chat): each client joins as c<k>,
//                sends, gets an ack for each send and every message, its own included.
//   connections  open --receivers idle connections (from --sources loopback addresses,
//                127.0.0.1, .2, ..., or NET.1, NET.2, ... with --source-net NET), print an
//                "open" line, wait for a line on stdin, check one message reaches them
//                all, close.
// Every receiver must get every message in order (per sender); no relay sender may get its
// own. In senders and chat modes, what has not come --quiet seconds after the last
// delivery is reported as lost.
'use strict';

const { performance } = require('node:perf_hooks');
const { connect } = require('./wire');

const PREFIX = Buffer.from('Received message from peer: ');
const SPACE = 0x20;
const PROBE = 0x70; // 'p'

const nowUs = () => Math.round(performance.now() * 1000);

// Marks the measured span on stdout, so the harness can read the server's CPU time at
// its start and end.
const mark = (event) => process.stdout.write(`{"event":"${event}"}\n`);

function parseArgs(argv) {
  const opts = {
    url: '', mode: 'fanout', receivers: 10, messages: 1000, window: 64,
    rate: 1000, duration: 5, concurrency: 64, timeout: 120, clients: 100, sources: 1,
    sourceNet: '', trace: '', quiet: 3,
  };
  for (let i = 0; i < argv.length; i += 2) {
    const name = argv[i].replace(/^--/, '').replace(/-(\w)/g, (_, c) => c.toUpperCase());
    if (!(name in opts) || i + 1 >= argv.length) throw new Error(`bad argument: ${argv[i]}`);
    opts[name] = typeof opts[name] === 'number' ? Number(argv[i + 1]) : argv[i + 1];
  }
  if (!opts.url) throw new Error('--url is required');
  return opts;
}

/** Read a decimal number at buf[i..end); return [value, index after it]. */
function readNumber(buf, i, end) {
  let value = 0;
  for (; i < end && buf[i] !== SPACE; i++) value = value * 10 + (buf[i] - 48);
  return [value, i + 1];
}

function finish(result, code) {
  process.stdout.write(`${JSON.stringify(result)}\n`, () => process.exit(code));
}

function fail(message) {
  finish({ ok: false, error: message }, 1);
}

/** The loopback address connection `i` comes from, or undefined: the kernel's choice. */
function sourceAddress(opts, i) {
  const host = 1 + (i % opts.sources);
  if (opts.sourceNet) return `${opts.sourceNet}.${host}`;
  return opts.sources > 1 ? `127.0.0.${host}` : undefined;
}

async function openMany(count, opts, makeHandler) {
  const conns = new Array(count);
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      const localAddress = sourceAddress(opts, i);
      const onError = (err) => fail(`conn ${i}: ${err.message}`);
      conns[i] = await connect(opts.url, makeHandler(i), onError, localAddress);
    }
  };
  await Promise.all(Array.from({ length: Math.min(opts.concurrency, count) }, worker));
  return conns;
}

function percentile(sorted, q) {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] : 0;
}

async function main(opts) {
  if (opts.mode === 'senders') return manySenders(opts, RELAY);
  if (opts.mode === 'chat') return manySenders(opts, CHAT);
  const n = opts.mode === 'connections' ? opts.receivers - 1 : opts.receivers;
  const total = opts.mode === 'latency' ? Math.round(opts.rate * opts.duration) : opts.messages;
  const counts = new Uint32Array(total);
  const samples = opts.mode === 'latency' ? new Float64Array(n * total) : null;
  const firsts = opts.mode === 'latency' ? new Float64Array(total) : null;
  const lasts = opts.mode === 'latency' ? new Float64Array(total) : null;
  const stats = { bad: 0, orderErrors: 0, echoes: 0, ready: 0, completed: 0, samples: 0 };
  let onProgress = () => {};

  const receiverHandler = () => {
    const state = { expected: 0, ready: false };
    return (buf, start, end) => {
      const body = start + PREFIX.length;
      if (end < body || buf.compare(PREFIX, 0, PREFIX.length, start, body) !== 0) {
        stats.bad++;
        return;
      }
      if (buf[body] === PROBE) {
        if (!state.ready) {
          state.ready = true;
          if (++stats.ready === n) stats.allReadyUs = nowUs();
        }
        return;
      }
      const [seq, at] = readNumber(buf, body, end);
      const [sentUs] = readNumber(buf, at, end);
      if (seq !== state.expected || seq >= total) stats.orderErrors++;
      state.expected = seq + 1;
      if (samples) {
        const latency = nowUs() - sentUs;
        samples[stats.samples++] = latency;
        if (counts[seq] === 0) firsts[seq] = latency;
        if (counts[seq] === n - 1) lasts[seq] = latency;
      }
      if (++counts[seq] === n) {
        stats.completed++;
        onProgress();
      }
    };
  };

  const t0 = nowUs();
  const receivers = await openMany(n, opts, receiverHandler);
  const [sender] = await openMany(1, opts, () => () => stats.echoes++);
  const openS = (nowUs() - t0) / 1e6;
  const all = receivers.concat([sender]);

  if (opts.mode === 'connections') {
    process.stdout.write(`${JSON.stringify({ event: 'open', connections: all.length, open_s: openS })}\n`);
    await new Promise((resolve) => process.stdin.once('data', resolve));
  }

  // Barrier: resend a probe until every receiver is registered with the server.
  const firstProbeUs = nowUs();
  let probes = 0;
  for (let k = 0; stats.ready < n; k++, probes++) {
    if (k >= 200) return fail(`only ${stats.ready}/${n} receivers got a probe`);
    sender.sendText(`probe ${k}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }

  let sent = 0;
  if (opts.mode !== 'connections') mark('start');
  const cpuStart = process.cpuUsage();
  const start = nowUs();
  const send = () => sender.sendText(`${sent++} ${nowUs()}`);
  const done = new Promise((resolve) => {
    onProgress = () => {
      if (stats.completed === total) resolve();
      else if (opts.mode === 'fanout' && sent < total && sent - stats.completed < opts.window) send();
    };
  });
  if (opts.mode === 'fanout') {
    sender.socket.cork();
    while (sent < Math.min(total, opts.window)) send();
    sender.socket.uncork();
  } else if (opts.mode === 'latency') {
    const tick = () => {
      const due = Math.min(total, Math.floor(((nowUs() - start) * opts.rate) / 1e6) + 1);
      while (sent < due) send();
      if (sent < total) setTimeout(tick, 1);
    };
    tick();
  }
  if (total > 0 && opts.mode !== 'connections') await done;
  const elapsedS = (nowUs() - start) / 1e6;
  const cpu = process.cpuUsage(cpuStart);
  if (opts.mode !== 'connections') mark('end');

  await new Promise((resolve) => setTimeout(resolve, 50)); // catch stray echoes
  const closeStart = nowUs();
  await Promise.all(all.map((conn) => conn.close(5000)));
  const result = {
    ok: stats.bad === 0 && stats.orderErrors === 0 && stats.echoes === 0,
    mode: opts.mode, receivers: n, connections: all.length, open_s: openS,
    close_s: (nowUs() - closeStart) / 1e6,
    bad_frames: stats.bad, order_errors: stats.orderErrors, echoes_to_sender: stats.echoes,
  };
  if (opts.mode === 'connections') {
    // With every connection open, the first probe reaches them all: one broadcast.
    Object.assign(result, { probes, broadcast_s: (stats.allReadyUs - firstProbeUs) / 1e6 });
  }
  if (opts.mode !== 'connections') {
    Object.assign(result, {
      messages: total, elapsed_s: elapsedS, deliveries: n * total,
      deliveries_per_s: (n * total) / elapsedS,
      loadgen_cpu: (cpu.user + cpu.system) / 1e6 / elapsedS,
    });
  }
  if (samples) {
    const sorted = samples.subarray(0, stats.samples).sort();
    Object.assign(result, {
      rate: opts.rate, send_rate: total / elapsedS,
      p50_ms: percentile(sorted, 0.5) / 1000, p99_ms: percentile(sorted, 0.99) / 1000,
      max_ms: sorted[sorted.length - 1] / 1000,
    });
    if (opts.trace) {
      const trace = { first_us: Array.from(firsts), last_us: Array.from(lasts) };
      require('node:fs').writeFileSync(opts.trace, JSON.stringify(trace));
    }
    const first = firsts.sort();
    Object.assign(result, {
      first_p50_ms: percentile(first, 0.5) / 1000, first_p99_ms: percentile(first, 0.99) / 1000,
    });
  }
  finish(result, result.ok ? 0 : 1);
}

/** Read decimal digits at buf[i..end); return [value, index of the first non-digit]. */
function readDigits(buf, i, end) {
  let value = 0;
  const first = i;
  for (; i < end && buf[i] >= 48 && buf[i] <= 57; i++) value = value * 10 + (buf[i] - 48);
  return [i > first ? value : -1, i];
}

/** Whether buf[i..] starts with the bytes of `token`. */
const startsWith = (buf, i, end, token) =>
  end - i >= token.length && buf.compare(token, 0, token.length, i, i + token.length) === 0;

/**
 * How the relay speaks in the senders mode: raw text both ways. A message is
 * "<client> <seq> <sent us>"; the server prefixes it and sends it to every other client.
 */
const RELAY = {
  path: null, // the URL as given
  getsOwn: false, // the article's rule: every client but the sender
  handler: (me, on) => (buf, start, end) => {
    const body = start + PREFIX.length;
    if (end < body || buf.compare(PREFIX, 0, PREFIX.length, start, body) !== 0) return on.bad();
    if (buf[body] === PROBE) return on.ready(me);
    const [from, i] = readNumber(buf, body, end);
    const [seq, j] = readNumber(buf, i, end);
    const [sentUs] = readNumber(buf, j, end);
    return on.delivery(me, from, seq, sentUs);
  },
  // Resend a probe until every other client has seen one: all are relay members then.
  async join(clients, stats) {
    for (let k = 0; stats.ready < clients.length - 1; k++) {
      if (k >= 200) throw new Error(`only ${stats.ready}/${clients.length - 1} clients got a probe`);
      clients[0].sendText(`probe ${k}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  },
  send: (conn, from, seq, us) => conn.sendText(`${from} ${seq} ${us}`),
};

// The chat's frames, as wslib/core/protocol.py encodes them (compact JSON, keys in order).
const MESSAGE = Buffer.from('{"type":"message","id":"');
const NAME = Buffer.from('","name":"c');
const TEXT = Buffer.from('","text":"');
const JOINED = Buffer.from('{"type":"joined",');

/**
 * How the JSON chat speaks (docs/chat-protocol.md): client k joins as "c<k>", sends
 * {"type":"send","cid":"<seq>","text":"<k> <seq> <sent us>"}, gets an ack for each of
 * its sends just before its own message, and a message event for every send, its own
 * included. Message events are read straight from the bytes (they are nearly all the
 * traffic); every other event is parsed as JSON. The history a welcome replays (a server
 * that served an earlier run) is skipped.
 */
const CHAT = {
  path: '/chat',
  getsOwn: true,
  handler: (me, on) => (buf, start, end) => {
    if (!startsWith(buf, start, end, MESSAGE)) {
      if (startsWith(buf, start, end, JOINED)) return undefined; // a later joiner: nothing to check
      let event;
      try {
        event = JSON.parse(buf.toString('utf8', start, end));
      } catch {
        return on.bad();
      }
      if (event.type === 'welcome') return on.ready(me, event.replay);
      if (event.type === 'ack') return on.ack(me, Number(event.cid), event.id, event.duplicate);
      if (event.type === 'error') return on.error(me, `${event.code}: ${event.detail}`);
      return event.type === 'left' ? on.error(me, `${event.name} left`) : on.bad();
    }
    if (on.replayed(me)) return undefined; // history from before this run
    const idStart = start + MESSAGE.length;
    const idEnd = buf.indexOf(0x22, idStart); // '"': ids hold no escapes
    if (idEnd < 0 || !startsWith(buf, idEnd, end, NAME)) return on.bad();
    const [name, i] = readDigits(buf, idEnd + NAME.length, end);
    if (!startsWith(buf, i, end, TEXT)) return on.bad();
    const [from, j] = readDigits(buf, i + TEXT.length, end);
    const [seq, k] = readDigits(buf, j + 1, end);
    const [sentUs, l] = readDigits(buf, k + 1, end);
    if (from !== name || buf[j] !== SPACE || buf[k] !== SPACE || buf[l] !== 0x22) return on.bad();
    const id = from === me ? buf.toString('latin1', idStart, idEnd) : ''; // checked with its ack
    return on.delivery(me, from, seq, sentUs, id);
  },
  // Every client joins; the room has them all once each has its welcome.
  async join(clients, stats) {
    clients.forEach((conn, k) => conn.sendText(`{"type":"join","name":"c${k}","v":2}`));
    for (let k = 0; stats.ready < clients.length; k++) {
      if (k >= 1500) throw new Error(`only ${stats.ready}/${clients.length} clients were welcomed`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  },
  send: (conn, from, seq, us) =>
    conn.sendText(`{"type":"send","cid":"${seq}","text":"${from} ${seq} ${us}"}`),
};

/**
 * Many senders: every client sends at a steady rate and receives what all the others send
 * (with the chat, its own messages too). Each receiver checks, per sender, that the
 * sequence numbers arrive in order (an order error), that none comes twice (a duplicate),
 * and that it never gets its own where it should not; with the chat, each sender also
 * checks that every send is acked once, in order, not as a duplicate, just before its own
 * message with the same id.
 * When all is sent and nothing more arrives for --quiet seconds, what never came is
 * counted as lost.
 */
async function manySenders(opts, wire) {
  const c = opts.clients;
  const each = Math.max(1, Math.round(opts.rate * opts.duration)); // messages per client
  const total = c * each;
  const wanted = (wire.getsOwn ? c : c - 1) * each; // what each client must receive
  const expected = new Uint32Array(c * c); // [receiver * c + sender] = next seq expected
  const got = new Uint32Array(c); // distinct messages each client received
  const seen = new Uint8Array(c * total); // [receiver * total + seq * c + sender]
  const acked = new Uint32Array(c); // the seq of the ack each client expects next
  const acks = new Uint32Array(c); // how many acks it got
  const ackIds = new Array(c).fill(''); // the id its last ack gave
  const probed = new Uint8Array(c);
  const replay = new Uint32Array(c); // message events still to come as a welcome's history
  const samples = new Float32Array(c * wanted);
  const stats = {
    bad: 0, orderErrors: 0, duplicates: 0, echoes: 0, ackErrors: 0, errors: 0, firstError: '',
    ready: 0, completed: 0, samples: 0,
  };
  let onDone = () => {};
  const check = () => {
    if (stats.completed === c) onDone();
  };
  const complete = (me) => got[me] === wanted && (!wire.getsOwn || acks[me] === each);
  const on = {
    bad: () => {
      stats.bad++;
    },
    replayed: (me) => replay[me] > 0 && replay[me]-- > 0,
    ready: (me, history = 0) => {
      replay[me] = history;
      if ((wire.getsOwn || me !== 0) && !probed[me]) {
        probed[me] = 1;
        stats.ready++;
      }
    },
    error: (me, text) => {
      if (!stats.errors++) stats.firstError = `client ${me}: ${text}`;
    },
    ack: (me, seq, id, duplicate) => {
      if (seq !== acked[me] || duplicate !== false || typeof id !== 'string') stats.ackErrors++;
      ackIds[me] = id;
      acked[me] = seq + 1;
      acks[me]++;
      if (complete(me)) {
        stats.completed++;
        check();
      }
    },
    delivery: (me, from, seq, sentUs, id) => {
      if (from === me && !wire.getsOwn) {
        stats.echoes++;
        return;
      }
      if (from < 0 || from >= c || seq < 0 || seq >= each) {
        stats.bad++; // no such message was sent
        return;
      }
      if (from === me && (acked[me] !== seq + 1 || ackIds[me] !== id)) stats.ackErrors++;
      const message = me * total + seq * c + from;
      if (seen[message]) {
        stats.duplicates++;
        return;
      }
      seen[message] = 1;
      const slot = me * c + from;
      if (seq !== expected[slot]) stats.orderErrors++;
      expected[slot] = seq + 1;
      samples[stats.samples++] = nowUs() - sentUs;
      if (++got[me] === wanted && complete(me)) {
        stats.completed++;
        check();
      }
    },
  };

  const url = wire.path ? new URL(wire.path, opts.url).href : opts.url;
  const t0 = nowUs();
  const clients = await openMany(c, { ...opts, url }, (me) => wire.handler(me, on));
  const openS = (nowUs() - t0) / 1e6;
  await wire.join(clients, stats);

  const seqs = new Uint32Array(c);
  let sent = 0;
  mark('start');
  const cpuStart = process.cpuUsage();
  const start = nowUs();
  const done = new Promise((resolve) => {
    onDone = resolve;
  });
  const tick = () => {
    // Message k comes from client k mod c: each client sends every c-th message.
    const due = Math.min(total, Math.floor(((nowUs() - start) * c * opts.rate) / 1e6) + 1);
    while (sent < due) {
      const from = sent++ % c;
      wire.send(clients[from], from, seqs[from]++, nowUs());
    }
    if (sent < total) setTimeout(tick, 1);
  };
  tick();
  // Lost messages never complete a client: once all is sent, give up after --quiet
  // seconds without a single delivery or ack, and count what is missing.
  let last = -1;
  let watch;
  const stalled = new Promise((resolve) => {
    watch = setInterval(() => {
      const now = stats.samples + acks.reduce((a, b) => a + b, 0);
      if (sent === total && now === last) resolve();
      last = now;
    }, opts.quiet * 1000);
  });
  await Promise.race([done, stalled]);
  clearInterval(watch);
  const elapsedS = (nowUs() - start) / 1e6;
  const cpu = process.cpuUsage(cpuStart);
  mark('end');
  await new Promise((resolve) => setTimeout(resolve, 50)); // catch stray echoes
  await Promise.all(clients.map((conn) => conn.close(5000)));
  const sorted = samples.subarray(0, stats.samples).sort();
  const lost = c * wanted - got.reduce((a, b) => a + b, 0);
  const unacked = wire.getsOwn ? total - acks.reduce((a, b) => a + b, 0) : 0;
  const result = {
    ok: stats.bad === 0 && stats.orderErrors === 0 && stats.duplicates === 0 &&
      stats.echoes === 0 && stats.ackErrors === 0 && stats.errors === 0 && lost === 0 && unacked === 0,
    mode: opts.mode, clients: c, connections: c, open_s: openS, messages: total,
    bad_frames: stats.bad, order_errors: stats.orderErrors, duplicates: stats.duplicates,
    echoes_to_sender: stats.echoes, lost, ack_errors: stats.ackErrors, unacked, error_events: stats.errors,
    elapsed_s: elapsedS, deliveries: c * wanted, deliveries_per_s: (c * wanted) / elapsedS,
    send_rate: total / elapsedS, loadgen_cpu: (cpu.user + cpu.system) / 1e6 / elapsedS,
    p50_ms: percentile(sorted, 0.5) / 1000, p99_ms: percentile(sorted, 0.99) / 1000,
    max_ms: sorted.length ? sorted[sorted.length - 1] / 1000 : 0,
  };
  if (!result.ok) result.error = describe(result, stats.firstError);
  finish(result, result.ok ? 0 : 1);
}

/** Say in one line which checks a many-senders run failed. */
function describe(result, firstError) {
  const counts = [
    'bad_frames', 'order_errors', 'duplicates', 'echoes_to_sender', 'lost', 'ack_errors', 'unacked',
  ]
    .filter((key) => result[key] > 0)
    .map((key) => `${key} ${result[key]}`);
  if (result.error_events) counts.push(`error events ${result.error_events} (${firstError})`);
  return counts.join(', ');
}

let opts;
try {
  opts = parseArgs(process.argv.slice(2));
} catch (err) {
  process.stderr.write(`loadgen: ${err.message}\n`);
  process.exit(2);
}
setTimeout(() => fail(`timed out after ${opts.timeout} s`), opts.timeout * 1000);
main(opts).catch((err) => fail(err.message));
