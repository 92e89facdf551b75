// 4 worker_threads compute (a loop, a sha256) and post their results back after a timer; the
// main thread prints them sorted by worker id once all have exited. stderr gets the OS thread
// count (not compared).
const { Worker, isMainThread, parentPort, workerData } = require('worker_threads');
if (isMainThread) {
  const results = [];
  let exited = 0;
  for (let i = 0; i < 4; i++) {
    const w = new Worker(__filename, { workerData: i });
    w.on('message', (m) => results.push(m));
    w.on('error', (e) => { console.log('error ' + i + ' ' + e); process.exitCode = 1; });
    w.on('exit', (code) => {
      if (code !== 0) console.log('worker ' + i + ' exit ' + code);
      if (++exited === 4) {
        results.sort((a, b) => a.id - b.id);
        for (const r of results) console.log(JSON.stringify(r));
        const st = require('fs').readFileSync('/proc/self/status', 'utf8');
        const t = st.split('\n').find((l) => l.startsWith('Threads:'));
        process.stderr.write('os_threads=' + t.slice(8).trim() + '\n');
      }
    });
  }
} else {
  let s = 0;
  for (let k = 0; k < 200000 * (workerData + 1); k++) s = (s * 31 + k) % 1000003;
  const d = require('crypto').createHash('sha256').update('w' + workerData + ':' + s).digest('hex');
  setTimeout(() => parentPort.postMessage({ id: workerData, s, d: d.slice(0, 16) }), 10 * workerData);
}
