// node 20 as issue 10 found it: an http server answering 200 sequential requests from its own
// client, then zlib.gzip and three dns.lookup calls on libuv's thread pool. Under the shim the
// pool threads are greenlets; the main loop polls with zero timeouts while it waits for them.
const http = require('http'), zlib = require('zlib'), dns = require('dns');
const srv = http.createServer((req, res) => res.end('hello ' + req.url));
srv.listen(0, '127.0.0.1', async () => {
  const port = srv.address().port;
  let ok = 0;
  for (let i = 0; i < 200; i++) {
    await new Promise((resolve, reject) => http.get({ host: '127.0.0.1', port, path: '/' + i, agent: false }, r => { let b = ''; r.on('data', d => b += d); r.on('end', () => { if (b === 'hello /' + i) ok++; resolve(); }); }).on('error', reject));
  }
  console.log('requests ok', ok);
  srv.close();
  zlib.gzip(Buffer.alloc(100000, 'x'), (e, z) => {
    console.log('gzip done', e, z.length > 0);
    let n = 0;
    for (const h of ['localhost', 'localhost', '127.0.0.1']) dns.lookup(h, (e, a) => { console.log('lookup', h, e ? e.code : a); if (++n === 3) console.log('all done'); });
  });
});
