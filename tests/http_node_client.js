// tests/http_node_client.js - Node's http client against the ringo HTTP
// server of tests/test_http_clients.c. Usage: node http_node_client.js PORT
//
// Every request goes through one keep-alive Agent with maxSockets 1, so the
// whole script runs over a single connection (checked at the end). Prints
// "ok NAME" or "FAIL NAME detail" per check; exits 1 on any failure, 2 on a
// crash or a timeout.
'use strict';

const http = require('http');

const port = Number(process.argv[2]);
if (!port) {
    console.log('FAIL usage: node http_node_client.js PORT');
    process.exit(2);
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const DATA_SIZE = 102400;
const DATA_DATE = 'Thu, 02 Jan 2020 03:04:05 GMT';
let failures = 0;

// The bytes of www/data.bin (pattern() in test_http_clients.c).
const data = Buffer.alloc(DATA_SIZE);
for (let i = 0; i < DATA_SIZE; i++) data[i] = (i * 131 + (i >>> 9)) & 0xff;

function check(name, cond, detail) {
    if (cond) {
        console.log('ok ' + name);
    } else {
        failures++;
        console.log('FAIL ' + name + ' ' + detail);
    }
}

const sleep = (ms) => new Promise((res) => setTimeout(res, ms));

// One request. opts: method, path, headers; send(req) writes the body and
// ends the request (default: end at once). Resolves with status, headers,
// body (Buffer), reused (req.reusedSocket), sock (a per-socket id), and
// cont (whether 'continue' was emitted).
const sockIds = new WeakMap();
let nextSock = 1;
function request(opts, send) {
    return new Promise((resolve, reject) => {
        const req = http.request({ host: '127.0.0.1', port, agent, ...opts });
        let sock = 0;
        let cont = false;
        req.on('socket', (s) => {
            if (!sockIds.has(s)) sockIds.set(s, nextSock++);
            sock = sockIds.get(s);
        });
        req.on('continue', () => {
            cont = true;
        });
        req.on('error', reject);
        req.setTimeout(10000, () => req.destroy(new Error('request timed out')));
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
                    cont,
                }),
            );
        });
        if (send) send(req);
        else req.end();
    });
}

const show = (r) => `status=${r.status} reused=${r.reused} sock=${r.sock} ` +
    `headers=${JSON.stringify(r.headers)} body=${JSON.stringify(r.body.toString('latin1').slice(0, 80))}`;

function streamBody() {
    let s = '';
    for (let i = 0; i < 5; i++) s += `part ${i}\n`;
    for (let i = 0; i < 10000; i++) s += String.fromCharCode(97 + (i % 26));
    return s + 'end\n';
}

async function main() {
    const socks = new Set();
    const get = async (path, headers = {}, method = 'GET') => {
        const r = await request({ method, path, headers });
        socks.add(r.sock);
        return r;
    };

    // keep-alive: three GETs, the second and third on the first's socket
    let r = await get('/plaintext');
    check('get_first', r.status === 200 && r.body.toString() === 'Hello, World!' &&
        r.headers['content-type'] === 'text/plain' && r.headers['content-length'] === '13' &&
        r.headers['server'] === 'ringo' && !r.reused, show(r));
    const first = r.sock;
    r = await get('/plaintext');
    check('get_reused', r.status === 200 && r.body.toString() === 'Hello, World!' && r.reused &&
        r.sock === first, show(r));
    r = await get('/plaintext');
    check('get_reused_again', r.status === 200 && r.body.toString() === 'Hello, World!' &&
        r.reused && r.sock === first, show(r));

    // a chunked upload, written in pieces with pauses between them
    const pieces = [Buffer.from('alpha-'), data.subarray(0, 50000), Buffer.from('-omega')];
    r = await request({ method: 'POST', path: '/echo' }, async (req) => {
        for (const p of pieces) {
            req.write(p);
            await sleep(5);
        }
        req.end();
    });
    socks.add(r.sock);
    const sent = Buffer.concat(pieces);
    check('post_chunked', r.status === 200 && r.body.equals(sent) &&
        r.headers['x-framing'] === 'chunked' && r.headers['x-body-bytes'] === String(sent.length) &&
        r.reused, show(r));

    // Expect: 100-continue: the body only after the interim answer
    const body = data.subarray(1000, 4000);
    r = await request({
        method: 'POST', path: '/echo',
        headers: { 'Expect': '100-continue', 'Content-Length': body.length },
    }, (req) => {
        req.on('continue', () => req.end(body));
    });
    socks.add(r.sock);
    check('expect_continue', r.status === 200 && r.cont && r.body.equals(body) &&
        r.headers['x-expect'] === '100-continue' && r.headers['x-framing'] === 'length' &&
        r.headers['x-body-bytes'] === '3000' && r.reused, `continue=${r.cont} ` + show(r));

    // ranges
    r = await get('/static/data.bin', { Range: 'bytes=10-19' });
    check('range', r.status === 206 && r.headers['content-range'] === 'bytes 10-19/102400' &&
        r.headers['content-length'] === '10' && r.body.equals(data.subarray(10, 20)), show(r));
    r = await get('/static/data.bin', { Range: 'bytes=-5' });
    check('range_suffix', r.status === 206 &&
        r.headers['content-range'] === 'bytes 102395-102399/102400' &&
        r.body.equals(data.subarray(DATA_SIZE - 5)), show(r));
    r = await get('/static/data.bin', { Range: 'bytes=200000-' });
    check('range_unsatisfiable', r.status === 416 &&
        r.headers['content-range'] === 'bytes */102400' && r.body.length === 0, show(r));

    // the whole file, then 304s with its validators
    r = await get('/static/data.bin');
    const etag = r.headers['etag'];
    check('full_file', r.status === 200 && r.body.equals(data) &&
        r.headers['last-modified'] === DATA_DATE && /^"[^"]+"$/.test(etag || ''), show(r));
    r = await get('/static/data.bin', { 'If-None-Match': etag });
    check('etag_304', r.status === 304 && r.body.length === 0 && r.headers['etag'] === etag &&
        r.reused, show(r));
    r = await get('/static/data.bin', { 'If-Modified-Since': DATA_DATE });
    check('ims_304', r.status === 304 && r.body.length === 0 && r.reused, show(r));

    // HEAD: the GET's length and no body; the next request on the socket
    // still parses (no stray body bytes)
    r = await get('/static/data.bin', {}, 'HEAD');
    check('head', r.status === 200 && r.headers['content-length'] === '102400' &&
        r.headers['etag'] === etag && r.body.length === 0 && r.reused, show(r));
    r = await get('/plaintext');
    check('after_head', r.status === 200 && r.body.toString() === 'Hello, World!' && r.reused,
        show(r));

    // a streamed (chunked) response
    r = await get('/stream');
    check('stream', r.status === 200 && r.headers['transfer-encoding'] === 'chunked' &&
        r.body.toString('latin1') === streamBody() && r.reused, show(r));

    r = await get('/static/');
    check('static_index', r.status === 200 &&
        r.headers['content-type'] === 'text/html; charset=utf-8' &&
        r.body.toString() === '<!doctype html>\n<title>ringo</title>\n<p>static index</p>\n',
        show(r));

    check('one_socket', socks.size === 1, `sockets used: ${[...socks].join(',')}`);
}

const timer = setTimeout(() => {
    console.log('FAIL timeout the script did not finish in 15 s');
    process.exit(2);
}, 15000);

main().then(
    () => {
        clearTimeout(timer);
        agent.destroy();
        process.exit(failures ? 1 : 0);
    },
    (err) => {
        console.log('FAIL exception ' + (err && err.stack ? err.stack : err));
        process.exit(2);
    },
);
