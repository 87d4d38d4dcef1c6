// A browser-like client for tests/e2e/furl.sh: Node's fetch (undici) against a function
// URL reached by path, with keep-alive, a CORS preflight, unicode, repeated headers,
// cookies and binary bodies; and node:http with a *.localhost lookup, as browsers
// resolve it, for the host-based URL. Prints one JSON object of observations.
import dc from 'node:diagnostics_channel';
import http from 'node:http';

const [base, hostUrl] = process.argv.slice(2);
let connections = 0;
dc.channel('undici:client:connected').subscribe(() => connections++);
const out = {};
const call = async (path, init) => {
	const r = await fetch(base + path, init);
	const buf = Buffer.from(await r.arrayBuffer());
	let json = null;
	try { json = JSON.parse(buf.toString()); } catch { }
	return { status: r.status, headers: r.headers, buf, json };
};

// Keep-alive: sequential requests share one connection.
// (undici opens its second connection at the second request, whatever the server;
// after that, none.)
const statuses = [], conns = [];
for (let i = 0; i < 8; i++) {
	statuses.push((await call(`/seq/${i}`)).status);
	conns.push(connections);
}
out.sequential = statuses;
out.connections = conns;

// A CORS preflight and the request after it, as a browser sends them.
let r = await call('/x', { method: 'OPTIONS', headers: { Origin: 'https://app.example',
	'Access-Control-Request-Method': 'PUT', 'Access-Control-Request-Headers': 'x-token' } });
out.preflight = { status: r.status, origin: r.headers.get('access-control-allow-origin'),
	methods: r.headers.get('access-control-allow-methods'), headers: r.headers.get('access-control-allow-headers'),
	maxAge: r.headers.get('access-control-max-age'), credentials: r.headers.get('access-control-allow-credentials') };
r = await call('/custom', { method: 'PUT', headers: { Origin: 'https://app.example', 'x-token': 't' } });
out.cors = { status: r.status, origin: r.headers.get('access-control-allow-origin'),
	expose: r.headers.get('access-control-expose-headers'), setCookie: r.headers.getSetCookie(),
	custom: r.headers.get('x-custom'), body: r.buf.toString() };

// Unicode path and query, repeated headers and cookies in.
const h = new Headers();
h.append('x-rep', 'a');
h.append('x-rep', 'b');
h.append('cookie', 'k1=v1; k2=v2');
r = await call(`/caf${encodeURIComponent('é')}/${encodeURIComponent('✓')}?q=${encodeURIComponent('ü ✓')}`, { headers: h });
out.unicode = { status: r.status, rawPath: r.json?.rawPath, q: r.json?.queryStringParameters?.q,
	rep: r.json?.headers?.['x-rep'], cookies: r.json?.cookies, cookieHeader: r.json?.headers?.cookie ?? null };

// Binary both ways and a JSON POST.
const bytes = Buffer.from(Array.from({ length: 1024 }, (_, i) => (i * 7) % 256));
r = await call('/echo-body', { method: 'POST', body: bytes, headers: { 'content-type': 'application/octet-stream' } });
out.binary = { status: r.status, same: Buffer.compare(r.buf, bytes) === 0, len: r.buf.length };
r = await call('/size', { method: 'POST', body: JSON.stringify({ a: 'é' }), headers: { 'content-type': 'application/json' } });
out.json = r.json;

// Host-based: node:http with a lookup that maps *.localhost to the loopback.
if (hostUrl) {
	out.host = await new Promise((resolve) => {
		const req = http.request(hostUrl + 'by/host?z=1', {
			lookup: (name, opts, cb) => opts && opts.all ? cb(null, [{ address: '127.0.0.1', family: 4 }]) : cb(null, '127.0.0.1', 4),
		}, (res) => {
			let s = '';
			res.on('data', (d) => (s += d));
			res.on('end', () => { let j = null; try { j = JSON.parse(s); } catch { } resolve({ status: res.statusCode, rawPath: j?.rawPath, host: j?.headers?.host }); });
		});
		req.on('error', (e) => resolve({ error: String(e) }));
		req.end();
	});
}
console.log(JSON.stringify(out));
