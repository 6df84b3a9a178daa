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
//   connections  open --receivers idle connections (from --sources loopback addresses,
//                127.0.0.1, .2, ..., or NET.1, NET.2, ... with --source-net NET), print an
//                "open" line, wait for a line on stdin, check one message reaches them
//                all, close.
// Every receiver must get every message in order (per sender); no sender may get its own.
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
    sourceNet: '', trace: '',
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
  if (opts.mode === 'senders') return manySenders(opts);
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

/**
 * Many senders: every client sends at a steady rate and receives what all the others send.
 * Each message is "<client> <seq> <sent us>"; each receiver checks, per sender, that the
 * sequence numbers arrive in order without gaps, and that it never gets its own messages.
 */
async function manySenders(opts) {
  const c = opts.clients;
  const each = Math.max(1, Math.round(opts.rate * opts.duration)); // messages per client
  const total = c * each;
  const wanted = (c - 1) * each; // what each client must receive
  const expected = new Uint32Array(c * c); // [receiver * c + sender] = next seq expected
  const got = new Uint32Array(c);
  const probed = new Uint8Array(c);
  const samples = new Float32Array(c * wanted);
  const stats = { bad: 0, orderErrors: 0, echoes: 0, ready: 0, completed: 0, samples: 0 };
  let onDone = () => {};

  const handler = (me) => (buf, start, end) => {
    const body = start + PREFIX.length;
    if (end < body || buf.compare(PREFIX, 0, PREFIX.length, start, body) !== 0) {
      stats.bad++;
      return;
    }
    if (buf[body] === PROBE) {
      if (me !== 0 && !probed[me]) {
        probed[me] = 1;
        stats.ready++;
      }
      return;
    }
    const [from, at] = readNumber(buf, body, end);
    const [seq, at2] = readNumber(buf, at, end);
    const [sentUs] = readNumber(buf, at2, end);
    if (from === me) {
      stats.echoes++;
      return;
    }
    const slot = me * c + from;
    if (from >= c || seq !== expected[slot]) stats.orderErrors++;
    expected[slot] = seq + 1;
    samples[stats.samples++] = nowUs() - sentUs;
    if (++got[me] === wanted) {
      stats.completed++;
      if (stats.completed === c) onDone();
    }
  };

  const t0 = nowUs();
  const clients = await openMany(c, opts, handler);
  const openS = (nowUs() - t0) / 1e6;
  for (let k = 0; stats.ready < c - 1; k++) {
    if (k >= 200) return fail(`only ${stats.ready}/${c - 1} clients got a probe`);
    clients[0].sendText(`probe ${k}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }

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
      clients[from].sendText(`${from} ${seqs[from]++} ${nowUs()}`);
    }
    if (sent < total) setTimeout(tick, 1);
  };
  tick();
  await done;
  const elapsedS = (nowUs() - start) / 1e6;
  const cpu = process.cpuUsage(cpuStart);
  mark('end');
  await new Promise((resolve) => setTimeout(resolve, 50)); // catch stray echoes
  await Promise.all(clients.map((conn) => conn.close(5000)));
  const sorted = samples.subarray(0, stats.samples).sort();
  const result = {
    ok: stats.bad === 0 && stats.orderErrors === 0 && stats.echoes === 0,
    mode: opts.mode, clients: c, connections: c, open_s: openS, messages: total,
    bad_frames: stats.bad, order_errors: stats.orderErrors, echoes_to_sender: stats.echoes,
    elapsed_s: elapsedS, deliveries: c * wanted, deliveries_per_s: (c * wanted) / elapsedS,
    send_rate: total / elapsedS, loadgen_cpu: (cpu.user + cpu.system) / 1e6 / elapsedS,
    p50_ms: percentile(sorted, 0.5) / 1000, p99_ms: percentile(sorted, 0.99) / 1000,
    max_ms: sorted[sorted.length - 1] / 1000,
  };
  finish(result, result.ok ? 0 : 1);
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
