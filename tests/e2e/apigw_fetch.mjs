// A browser-like client for tests/e2e/apigw.sh: Node's fetch (undici) against an HTTP
// API, with keep-alive, unicode paths and queries, repeated headers, cookies and a
// large body. Prints one JSON object of observations; the shell test checks them.
import dc from 'node:diagnostics_channel';

const base = process.argv[2];
let connections = 0;
dc.channel('undici:client:connected').subscribe(() => connections++);
const out = {};
const get = async (path, init) => {
	const r = await fetch(base + path, init);
	const text = await r.text();
	let json = null;
	try { json = JSON.parse(text); } catch { }
	return { status: r.status, headers: r.headers, text, json };
};

// Keep-alive: sequential requests share one connection.
const statuses = [];
for (let i = 0; i < 10; i++) statuses.push((await get(`/items/${i}`)).status);
out.sequential = statuses;
out.connections_after_sequential = connections;

// Unicode in the path and the query.
const id = 'ünï ✓/x';
let r = await get(`/items/${encodeURIComponent(id)}?q=${encodeURIComponent('é&x=✓')}&e=`);
out.unicode = { status: r.status, id: r.json?.event?.pathParameters?.id, q: r.json?.event?.queryStringParameters?.q,
	rawQueryString: r.json?.event?.rawQueryString };

// Repeated headers (fetch joins them with ", ") and cookies both ways.
const h = new Headers();
h.append('x-rep', 'a');
h.append('x-rep', 'b');
h.append('cookie', 'k1=v1; k2=v2');
r = await get('/items/1', { headers: h });
out.request_headers = { rep: r.json?.event?.headers?.['x-rep'], cookies: r.json?.event?.cookies };
r = await get('/items/1?op=resp');
out.response = { status: r.status, setCookie: r.headers.getSetCookie(), one: r.headers.get('x-one'), body: r.text };

// A large body, posted as text, and as bytes.
const big = 'é'.repeat(1024 * 1024); // 2 MiB of UTF-8
r = await get('/upload?op=len', { method: 'POST', body: big, headers: { 'content-type': 'text/plain; charset=utf-8' } });
out.big_text = r.json;
const bytes = new Uint8Array(3 * 1024 * 1024).map((_, i) => i % 256);
r = await get('/upload?op=len', { method: 'POST', body: bytes, headers: { 'content-type': 'application/octet-stream' } });
out.big_binary = r.json;

// Concurrent requests, then an unknown route.
const many = await Promise.all([...Array(5).keys()].map((i) => get(`/items/c${i}`)));
out.concurrent = many.map((x) => x.json?.event?.pathParameters?.id);
r = await get('/nothing/here/at/all', { method: 'PUT' });
out.unknown = { status: r.status, body: r.text };
out.connections = connections;
console.log(JSON.stringify(out));
