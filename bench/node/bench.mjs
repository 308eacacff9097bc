// The Node peer of entangle_bench: the same ping-pong and one-way cases on
// Node's worker_threads MessageChannel (main thread <-> one worker, the
// worker's end transferred to it), same message counts, median of --reps.
//
//   node bench/node/bench.mjs [--pingpong=N] [--oneway=N] [--reps=N]
//
// Prints a table, then `RESULT node_pingpong ns=...` and
// `RESULT node_oneway ns=...` (ns per round trip / per message).

import { Worker, MessageChannel, isMainThread, parentPort, workerData }
  from 'node:worker_threads';
import { fileURLToPath } from 'node:url';

const now = () => process.hrtime.bigint();

if (!isMainThread) {
  // Worker: echo (ping-pong) or count then report (one-way).
  const { port, mode, n } = workerData;
  let count = 0;
  port.on('message', (m) => {
    if (mode === 'pingpong') {
      port.postMessage(m);
    } else if (++count === n) {
      port.postMessage({ t1: now().toString() });
      port.close();
    }
  });
} else {
  const args = Object.fromEntries(process.argv.slice(2).map((a) => {
    const [k, v] = a.replace(/^--/, '').split('=');
    return [k, Number(v)];
  }));
  const pingpongN = args.pingpong ?? 20000;
  const onewayN = args.oneway ?? 200000;
  const reps = args.reps ?? 5;
  const self = fileURLToPath(import.meta.url);

  const spawn = (mode, n) => {
    const { port1, port2 } = new MessageChannel();
    const worker = new Worker(self, {
      workerData: { port: port2, mode, n }, transferList: [port2],
    });
    return { port: port1, worker };
  };

  const pingpong = (n) => new Promise((resolve) => {
    const { port, worker } = spawn('pingpong', n);
    const warm = Math.floor(n / 10) + 1;
    let count = 0;
    let t0 = 0n;
    port.on('message', (m) => {
      ++count;
      if (count === warm) t0 = now();
      if (count === warm + n) {
        const ns = Number(now() - t0) / n;
        port.close();
        worker.terminate().then(() => resolve(ns));
        return;
      }
      port.postMessage(m);
    });
    port.postMessage(42);
  });

  const oneway = (n) => new Promise((resolve) => {
    const { port, worker } = spawn('oneway', n);
    port.on('message', (m) => {
      const ns = Number(BigInt(m.t1) - t0) / n;
      port.close();
      worker.terminate().then(() => resolve(ns));
    });
    // Let the worker start listening first (as the C++ case waits for
    // "ready"), so that start-up is not timed.
    let t0 = 0n;
    setTimeout(() => {
      t0 = now();
      for (let i = 0; i < n; ++i) port.postMessage(i);
    }, 50);
  });

  const median = (xs) => {
    const s = [...xs].sort((a, b) => a - b);
    const m = s.length >> 1;
    return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
  };

  const pp = [];
  const ow = [];
  for (let i = 0; i < reps; ++i) {
    pp.push(await pingpong(pingpongN));
    ow.push(await oneway(onewayN));
  }
  const ppm = median(pp);
  const owm = median(ow);
  console.log(`\n== Node ${process.version} worker_threads MessagePort (${reps} reps)`);
  console.log(`ping-pong round trip (n=${pingpongN})  ${ppm.toFixed(1)} ns/RTT`);
  console.log(`one way (n=${onewayN})            ${owm.toFixed(1)} ns/msg ` +
              `(${(1e3 / owm).toFixed(2)} M/s)`);
  console.log(`RESULT node_pingpong ns=${ppm.toFixed(3)}`);
  console.log(`RESULT node_oneway ns=${owm.toFixed(3)}`);
}
