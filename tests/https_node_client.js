// tests/https_node_client.js - Node's https and tls modules against the
// ringo HTTPS server of tests/test_https.c.
// Usage: node https_node_client.js PORT CA_FILE
//
// 1. keep-alive: several GETs through one https.Agent (maxSockets 1), all
//    on one TLS connection;
// 2. a POST whose 2 MiB body spans many TLS records, echoed back byte for
//    byte;
// 3. pipelining: 16 requests in one write on a raw tls.connect socket,
//    16 answers read back in order.
// The server's certificate is verified against CA_FILE (name 127.0.0.1).
// Prints "ok NAME" or "FAIL NAME detail" per check; exits 1 on any
// failure, 2 on a crash or a timeout.
'use strict';

const https = require('https');
const tls = require('tls');
const fs = require('fs');

const port = Number(process.argv[2]);
const caFile = process.argv[3];
if (!port || !caFile) {
    console.log('FAIL usage: node https_node_client.js PORT CA_FILE');
    process.exit(2);
}
const ca = fs.readFileSync(caFile);
const agent = new https.Agent({ keepAlive: true, maxSockets: 1, ca });
let failures = 0;

function check(name, cond, detail) {
    if (cond) {
        console.log('ok ' + name);
    } else {
        failures++;
        console.log('FAIL ' + name + ' ' + detail);
    }
}

// The byte at offset i of the upload (any pattern that is not periodic
// at a record's size).
function pattern(n) {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = (i * 131 + (i >>> 9)) & 0xff;
    return b;
}

const sockIds = new WeakMap();
let nextSock = 1;
function request(opts, body) {
    return new Promise((resolve, reject) => {
        const req = https.request({ host: '127.0.0.1', port, agent, ...opts });
        let sock = 0;
        req.on('socket', (s) => {
            if (!sockIds.has(s)) sockIds.set(s, nextSock++);
            sock = sockIds.get(s);
        });
        req.on('error', reject);
        req.setTimeout(15000, () => req.destroy(new Error('request timed out')));
        req.on('response', (res) => {
            const parts = [];
            res.on('data', (d) => parts.push(d));
            res.on('error', reject);
            res.on('end', () =>
                resolve({
                    status: res.statusCode,
                    headers: res.headers,
                    body: Buffer.concat(parts),
                    reused: req.reusedSocket,
                    sock,
                    proto: req.socket && req.socket.getProtocol ? req.socket.getProtocol() : '',
                }),
            );
        });
        if (body) req.end(body);
        else req.end();
    });
}

// 16 pipelined POSTs to /echo, each with its own body, in one write; the
// answers are parsed as they come (Content-Length framing) and must come
// back in order.
function pipeline(n) {
    return new Promise((resolve, reject) => {
        let batch = '';
        const want = [];
        for (let i = 0; i < n; i++) {
            const body = `pipelined request ${i} ` + 'x'.repeat(i * 37);
            want.push(body);
            const last = i === n - 1 ? 'Connection: close\r\n' : '';
            batch += `POST /echo HTTP/1.1\r\nHost: t\r\n${last}Content-Length: ${body.length}\r\n\r\n${body}`;
        }
        const s = tls.connect({ host: '127.0.0.1', port, ca, ALPNProtocols: ['http/1.1'] }, () => {
            s.write(batch);
        });
        const timer = setTimeout(() => s.destroy(new Error('pipeline timed out')), 15000);
        let buf = Buffer.alloc(0);
        const got = [];
        s.on('data', (d) => {
            buf = Buffer.concat([buf, d]);
            for (;;) {
                const he = buf.indexOf('\r\n\r\n');
                if (he < 0) break;
                const head = buf.subarray(0, he).toString('latin1');
                const m = /\r\ncontent-length: *(\d+)/i.exec(head);
                if (!m) {
                    got.push({ head, body: '' });
                    buf = buf.subarray(he + 4);
                    continue;
                }
                const len = Number(m[1]);
                if (buf.length < he + 4 + len) break;
                got.push({ head, body: buf.subarray(he + 4, he + 4 + len).toString('latin1') });
                buf = buf.subarray(he + 4 + len);
            }
        });
        s.on('error', (e) => {
            clearTimeout(timer);
            reject(e);
        });
        s.on('end', () => {
            clearTimeout(timer);
            resolve({ want, got, rest: buf.length, alpn: s.alpnProtocol, proto: s.getProtocol() });
        });
    });
}

async function main() {
    // 1. keep-alive
    const socks = new Set();
    for (let i = 0; i < 5; i++) {
        const r = await request({ path: '/plaintext' });
        socks.add(r.sock);
        check(`get_${i}`, r.status === 200 && r.body.toString() === 'Hello, World!',
            `status=${r.status} body=${JSON.stringify(r.body.toString().slice(0, 80))}`);
        if (i === 0) check('negotiated', r.proto === 'TLSv1.3', `protocol=${r.proto}`);
        else check(`get_${i}_reused`, r.reused === true, `reused=${r.reused}`);
    }
    check('keepalive_one_socket', socks.size === 1, `sockets=${socks.size}`);

    // 2. a large POST body, split across records both ways
    const big = pattern(2 * 1024 * 1024);
    const r = await request({
        method: 'POST',
        path: '/echo',
        headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': big.length },
    }, big);
    check('post_large', r.status === 200 && r.headers['x-body-bytes'] === String(big.length) &&
        r.headers['x-framing'] === 'length' && r.body.equals(big),
        `status=${r.status} x-body-bytes=${r.headers['x-body-bytes']} got=${r.body.length}`);
    check('post_large_reused', r.reused === true && socks.has(r.sock),
        `reused=${r.reused} sock=${r.sock}`);
    agent.destroy();

    // 3. pipelining over a raw TLS socket
    const p = await pipeline(16);
    check('pipeline_alpn', p.alpn === 'http/1.1' && p.proto === 'TLSv1.3',
        `alpn=${p.alpn} protocol=${p.proto}`);
    check('pipeline_count', p.got.length === 16, `answers=${p.got.length} rest=${p.rest}`);
    let inOrder = true;
    let detail = '';
    for (let i = 0; i < p.got.length; i++) {
        const g = p.got[i];
        if (!g.head.startsWith('HTTP/1.1 200') || g.body !== p.want[i]) {
            inOrder = false;
            detail = `answer ${i}: ${JSON.stringify(g.head.slice(0, 40))} ` +
                `${JSON.stringify(g.body.slice(0, 40))}`;
            break;
        }
    }
    check('pipeline_in_order', inOrder && p.rest === 0, detail || `rest=${p.rest}`);
}

const watchdog = setTimeout(() => {
    console.log('FAIL timeout');
    process.exit(2);
}, 40000);
main().then(
    () => {
        clearTimeout(watchdog);
        process.exit(failures ? 1 : 0);
    },
    (e) => {
        console.log('FAIL crash ' + (e && e.stack ? e.stack : e));
        process.exit(2);
    },
);
