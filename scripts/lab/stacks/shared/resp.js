// A minimal Redis client (RESP over a TCP socket), shared by rhinon/rtserver and aiwhisperers/web
// (scripts/lab/stacks/deploy.sh copies it into both build contexts): one command per connection, enough for
// PING/SET/GET/DEL. The lab has no npm registry for a real client; the protocol is the real one.
const net = require('node:net');

function command(host, port, args, timeoutMs = 3000) {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host, port });
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => { sock.destroy(); reject(new Error(`redis ${host}:${port}: no answer in ${timeoutMs} ms`)); }, timeoutMs);
    sock.on('error', (e) => { clearTimeout(timer); reject(new Error(`redis ${host}:${port}: ${e.message}`)); });
    sock.on('connect', () => {
      sock.write(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(String(a))}\r\n${a}\r\n`).join('')}`);
    });
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      const r = parse(buf);
      if (r === undefined) return;
      clearTimeout(timer);
      sock.end();
      r instanceof Error ? reject(r) : resolve(r);
    });
  });
}

function parse(b) {
  const eol = b.indexOf('\r\n');
  if (eol < 0) return undefined;
  const head = b.subarray(1, eol).toString();
  switch (String.fromCharCode(b[0])) {
    case '+': return head;
    case '-': return new Error(head);
    case ':': return Number(head);
    case '$': {
      const n = Number(head);
      if (n < 0) return null;
      return b.length >= eol + 2 + n + 2 ? b.subarray(eol + 2, eol + 2 + n).toString() : undefined;
    }
    default: return new Error(`unexpected RESP reply: ${b.toString().slice(0, 40)}`);
  }
}

function fromUrl(url) {
  const u = new URL(url);
  return { host: u.hostname, port: Number(u.port || 6379) };
}

module.exports = { command, fromUrl };
