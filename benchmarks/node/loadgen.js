// Load generator for the relay servers: N receivers + 1 sender on raw sockets.
//
// Modes (one JSON line with the result goes to stdout; exit code 0 = verified):
//   fanout       send --messages as fast as --window (messages not yet seen by
//                every receiver) allows; deliveries/s = N x messages / time.
//   latency      send at a steady --rate for --duration seconds; each message
//                carries its send time, receivers record delivery latency.
//   connections  open --receivers idle connections, print an "open" line, wait
//                for a line on stdin, check one message reaches them all, close.
// Every receiver must get every message in order; the sender must get none.
'use strict';

const { performance } = require('node:perf_hooks');
const { connect } = require('./wire');

const PREFIX = Buffer.from('Received message from peer: ');
const SPACE = 0x20;
const PROBE = 0x70; // 'p'

const nowUs = () => Math.round(performance.now() * 1000);

function parseArgs(argv) {
  const opts = {
    url: '', mode: 'fanout', receivers: 10, messages: 1000, window: 64,
    rate: 1000, duration: 5, concurrency: 64, timeout: 120,
  };
  for (let i = 0; i < argv.length; i += 2) {
    const name = argv[i].replace(/^--/, '');
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

async function openMany(count, opts, makeHandler) {
  const conns = new Array(count);
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      conns[i] = await connect(opts.url, makeHandler(i), (err) => fail(`conn ${i}: ${err.message}`));
    }
  };
  await Promise.all(Array.from({ length: Math.min(opts.concurrency, count) }, worker));
  return conns;
}

function percentile(sorted, q) {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] : 0;
}

async function main(opts) {
  const n = opts.mode === 'connections' ? opts.receivers - 1 : opts.receivers;
  const total = opts.mode === 'latency' ? Math.round(opts.rate * opts.duration) : opts.messages;
  const counts = new Uint32Array(total);
  const samples = opts.mode === 'latency' ? new Float64Array(n * total) : null;
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
          stats.ready++;
        }
        return;
      }
      const [seq, at] = readNumber(buf, body, end);
      const [sentUs] = readNumber(buf, at, end);
      if (seq !== state.expected || seq >= total) stats.orderErrors++;
      state.expected = seq + 1;
      if (samples) samples[stats.samples++] = nowUs() - sentUs;
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
  for (let k = 0; stats.ready < n; k++) {
    if (k >= 200) return fail(`only ${stats.ready}/${n} receivers got a probe`);
    sender.sendText(`probe ${k}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }

  let sent = 0;
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

  await new Promise((resolve) => setTimeout(resolve, 50)); // catch stray echoes
  const closeStart = nowUs();
  await Promise.all(all.map((conn) => conn.close(5000)));
  const result = {
    ok: stats.bad === 0 && stats.orderErrors === 0 && stats.echoes === 0,
    mode: opts.mode, receivers: n, connections: all.length, open_s: openS,
    close_s: (nowUs() - closeStart) / 1e6,
    bad_frames: stats.bad, order_errors: stats.orderErrors, echoes_to_sender: stats.echoes,
  };
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
  }
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
