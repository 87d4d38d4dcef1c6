// Tests for runtimes/node: each test writes a handler to a temporary task root, runs the
// bootstrap against a fake Runtime API (node:http) and checks what the runtime posts
// and logs. Run with `node --test tests/runtimes/test_node_runtime.mjs`.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const BOOTSTRAP = path.resolve(here, '../../runtimes/node/bootstrap');
const PREFIX = '/2018-06-01/runtime';
const RUN_TIMEOUT_MS = 15000;

/*
 * Runs the bootstrap with files (name -> content) in a fresh task root and the handler
 * string, serving events (each {body, headers}) one per /next. Resolves when every event
 * has an answer (then the runtime is killed) or when the runtime exits. Returns
 * {answers: [{id, kind, body, json, headers, at}], served: [{id, at}], initError,
 * nextCalls, connections, code, signal, timedOut, stdout, stderr}. A streamed response
 * (Lambda-Runtime-Function-Response-Mode: streaming) is an answer of kind 'stream' with
 * its chunks as received and its trailers. GET /test/first-chunk answers "seen" once
 * the first chunk of a streamed response has arrived, and not before: a handler that
 * waits for it proves that its first write reached the Runtime API before its end.
 */
async function runRuntime({ files, handler, events = [], env = {}, deadlineMs = 5000 }) {
	const root = fs.mkdtempSync(path.join(os.tmpdir(), 'lambdad-node-rt-'));
	for (const [name, content] of Object.entries(files)) {
		const p = path.join(root, name);
		fs.mkdirSync(path.dirname(p), { recursive: true });
		fs.writeFileSync(p, content);
	}
	const out = { answers: [], served: [], initError: null, nextCalls: 0, stdout: '', stderr: '' };
	const waiting = [];
	let pending = [...events];
	let seq = 0;
	let finishAll;
	const allAnswered = new Promise((r) => (finishAll = r));

	let firstChunkSeen = false;
	const firstChunkWaiters = [];
	const server = http.createServer((req, res) => {
		if (req.method === 'GET' && req.url === '/test/first-chunk') {
			if (firstChunkSeen)
				res.end('seen');
			else
				firstChunkWaiters.push(res);
			return;
		}
		let m;
		if (req.method === 'POST' && req.headers['lambda-runtime-function-response-mode'] === 'streaming' &&
		    (m = /^\/2018-06-01\/runtime\/invocation\/([^/]+)\/response$/.exec(req.url))) {
			const a = { id: decodeURIComponent(m[1]), kind: 'stream', chunks: [], headers: req.headers };
			req.on('data', (c) => {
				a.chunks.push(c);
				if (!firstChunkSeen) {
					firstChunkSeen = true;
					for (const w of firstChunkWaiters.splice(0))
						w.end('seen');
				}
			});
			req.on('end', () => {
				a.body = Buffer.concat(a.chunks);
				a.trailers = req.trailers;
				out.answers.push(a);
				res.writeHead(202, { 'Content-Type': 'application/json' });
				res.end('{"status":"OK"}');
				if (out.answers.length === events.length)
					finishAll();
			});
			return;
		}
		const chunks = [];
		req.on('data', (c) => chunks.push(c));
		req.on('end', () => {
			const body = Buffer.concat(chunks).toString('utf8');
			const url = req.url;
			if (req.method === 'GET' && url === `${PREFIX}/invocation/next`) {
				out.nextCalls++;
				const ev = pending.shift();
				if (!ev) {
					waiting.push(res); // hold it: the runtime waits for work
					return;
				}
				const id = `req-${++seq}-${Math.random().toString(16).slice(2, 10)}`;
				out.served.push({ id, at: Date.now() });
				res.writeHead(200, {
					'Content-Type': 'application/json',
					'Lambda-Runtime-Aws-Request-Id': id,
					'Lambda-Runtime-Deadline-Ms': String(Date.now() + deadlineMs),
					'Lambda-Runtime-Invoked-Function-Arn': 'arn:aws:lambda:us-east-1:123456789012:function:fn',
					'Lambda-Runtime-Trace-Id': `Root=1-abc-${seq}`,
					...(ev.headers || {}),
				});
				res.end(ev.body === undefined ? '{}' : ev.body);
				return;
			}
			let m;
			if (req.method === 'POST' && url === `${PREFIX}/init/error`) {
				out.initError = { body, json: JSON.parse(body), headers: req.headers };
			} else if (req.method === 'POST' && (m = /^\/2018-06-01\/runtime\/invocation\/([^/]+)\/(response|error)$/.exec(url))) {
				let json;
				try {
					json = JSON.parse(body);
				} catch {
					json = undefined;
				}
				out.answers.push({ id: decodeURIComponent(m[1]), kind: m[2], body, json, headers: req.headers, at: Date.now() });
				if (out.answers.length === events.length)
					finishAll();
			} else {
				res.writeHead(404);
				res.end('{}');
				return;
			}
			res.writeHead(202, { 'Content-Type': 'application/json' });
			res.end('{"status":"OK"}');
		});
	});
	out.connections = 0;
	server.on('connection', () => out.connections++);
	await new Promise((r) => server.listen(0, '127.0.0.1', r));
	const child = spawn(BOOTSTRAP, [], {
		env: {
			PATH: process.env.PATH,
			AWS_LAMBDA_RUNTIME_API: `127.0.0.1:${server.address().port}`,
			LAMBDA_TASK_ROOT: root,
			_HANDLER: handler,
			AWS_LAMBDA_FUNCTION_NAME: 'fn',
			AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
			AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '128',
			AWS_LAMBDA_LOG_GROUP_NAME: '/aws/lambda/fn',
			AWS_LAMBDA_LOG_STREAM_NAME: '2024/01/01/[$LATEST]abcdef',
			...env,
		},
		stdio: ['ignore', 'pipe', 'pipe'],
	});
	child.stdout.on('data', (d) => (out.stdout += d));
	child.stderr.on('data', (d) => (out.stderr += d));
	const exited = new Promise((r) => child.on('exit', (code, signal) => r({ code, signal })));
	let timer;
	const timeout = new Promise((r) => (timer = setTimeout(() => r('timeout'), RUN_TIMEOUT_MS)));
	const first = await Promise.race([allAnswered.then(() => 'answered'), exited.then(() => 'exited'), timeout]);
	clearTimeout(timer);
	if (first !== 'exited')
		child.kill('SIGKILL');
	const { code, signal } = await exited;
	out.code = code;
	out.signal = signal;
	out.timedOut = first === 'timeout';
	for (const res of waiting)
		res.destroy();
	await new Promise((r) => server.close(r));
	server.closeAllConnections?.();
	fs.rmSync(root, { recursive: true, force: true });
	return out;
}

const ev = (obj) => ({ body: JSON.stringify(obj) });

function oneAnswer(out) {
	assert.equal(out.timedOut, false, `runtime timed out; stderr:\n${out.stderr}\nstdout:\n${out.stdout}`);
	assert.equal(out.initError, null, `unexpected init error: ${out.initError && out.initError.body}`);
	assert.equal(out.answers.length, 1, `stderr:\n${out.stderr}\nstdout:\n${out.stdout}`);
	return out.answers[0];
}

/* ---------------------------------------------------------------------------------- */

test('CommonJS async handler returns the result as JSON', async () => {
	const out = await runRuntime({
		files: { 'index.js': 'exports.handler = async (event) => ({ echo: event, kind: typeof require });\n' },
		handler: 'index.handler',
		events: [ev({ a: 1, s: 'héllo ✓' })],
	});
	const a = oneAnswer(out);
	assert.equal(a.kind, 'response');
	assert.equal(a.id, out.served[0].id);
	assert.deepEqual(a.json, { echo: { a: 1, s: 'héllo ✓' }, kind: 'function' });
});

test('ES module .mjs handler', async () => {
	const out = await runRuntime({
		files: { 'app.mjs': 'export const handler = async (event) => ({ esm: typeof require === "undefined", n: event.n * 2 });\n' },
		handler: 'app.handler',
		events: [ev({ n: 21 })],
	});
	const a = oneAnswer(out);
	assert.equal(a.kind, 'response');
	assert.deepEqual(a.json, { esm: true, n: 42 });
});

test('.js handler in a "type":"module" package, in a subdirectory', async () => {
	const out = await runRuntime({
		files: {
			'package.json': '{"type":"module"}',
			'src/lib/main.js': 'import path from "node:path";\nexport async function run(event) { return { esm: typeof require === "undefined", base: path.basename(import.meta.url) }; }\n',
		},
		handler: 'src/lib/main.run',
		events: [ev({})],
	});
	const a = oneAnswer(out);
	assert.deepEqual(a.json, { esm: true, base: 'main.js' });
});

test('.cjs handler and nested handler path', async () => {
	const out = await runRuntime({
		files: { 'package.json': '{"type":"module"}', 'h.cjs': 'module.exports = { api: { get: async () => "nested" } };\n' },
		handler: 'h.api.get',
		events: [ev({})],
	});
	assert.equal(oneAnswer(out).json, 'nested');
});

test('function returning a promise, and null / string / number results', async () => {
	const out = await runRuntime({
		files: {
			'index.js': `exports.handler = function (event) {
				return new Promise((resolve) => setTimeout(() => resolve(event.v), 20));
			};\n`,
		},
		handler: 'index.handler',
		events: [ev({ v: 'str' }), ev({ v: null }), ev({ v: 7 }), ev({})],
	});
	assert.equal(out.answers.length, 4);
	assert.deepEqual(out.answers.map((a) => a.body), ['"str"', 'null', '7', 'null']);
});

test('callback style waits for the event loop by default', async () => {
	const out = await runRuntime({
		files: {
			'index.js': `exports.handler = function (event, context, callback) {
				setTimeout(() => console.log('timer fired'), 400);
				callback(null, { ok: true, waits: context.callbackWaitsForEmptyEventLoop });
			};\n`,
		},
		handler: 'index.handler',
		events: [ev({})],
	});
	const a = oneAnswer(out);
	assert.deepEqual(a.json, { ok: true, waits: true });
	assert.ok(a.at - out.served[0].at >= 350, `answered after ${a.at - out.served[0].at} ms, before the timer`);
	assert.match(out.stdout, /\tINFO\ttimer fired\n/);
});

test('callback style with callbackWaitsForEmptyEventLoop = false answers at once', async () => {
	const out = await runRuntime({
		files: {
			'index.js': `exports.handler = function (event, context, callback) {
				context.callbackWaitsForEmptyEventLoop = false;
				setTimeout(() => {}, 2000);
				callback(null, 'fast');
				callback(null, 'second call is ignored');
			};\n`,
		},
		handler: 'index.handler',
		events: [ev({}), ev({})],
	});
	assert.equal(out.answers.length, 2);
	for (const [i, a] of out.answers.entries()) {
		assert.equal(a.body, '"fast"');
		assert.ok(a.at - out.served[i].at < 1000, `answer ${i} took ${a.at - out.served[i].at} ms`);
	}
});

test('a handler that never answers returns null once the event loop is empty', async () => {
	const out = await runRuntime({
		files: { 'index.js': 'exports.handler = function (event) { setTimeout(() => {}, 100); return "ignored"; };\n' },
		handler: 'index.handler',
		events: [ev({}), ev({})],
	});
	assert.equal(out.answers.length, 2);
	assert.deepEqual(out.answers.map((a) => a.body), ['null', 'null']);
});

test('callback style error, and legacy context.succeed / fail / done', async () => {
	const out = await runRuntime({
		files: {
			'index.js': `exports.handler = function (event, context, callback) {
				if (event.m === 'cb') return callback(new Error('cb failed'));
				if (event.m === 'cbstr') return callback('plain string');
				if (event.m === 'succeed') return context.succeed({ via: 'succeed' });
				if (event.m === 'fail') return context.fail(new RangeError('via fail'));
				if (event.m === 'done') return context.done(null, 'via done');
			};\n`,
		},
		handler: 'index.handler',
		events: ['cb', 'cbstr', 'succeed', 'fail', 'done'].map((m) => ev({ m })),
	});
	assert.equal(out.answers.length, 5, out.stderr);
	const [cb, cbstr, succeed, fail, done] = out.answers;
	assert.equal(cb.kind, 'error');
	assert.equal(cb.json.errorType, 'Error');
	assert.equal(cb.json.errorMessage, 'cb failed');
	assert.deepEqual(cbstr.json, { errorType: 'string', errorMessage: 'plain string', trace: [] });
	assert.deepEqual(succeed.json, { via: 'succeed' });
	assert.equal(fail.json.errorType, 'RangeError');
	assert.equal(done.body, '"via done"');
});

test('context fields, remaining time and trace id', async () => {
	const out = await runRuntime({
		files: {
			'index.mjs': `export const handler = async (event, context) => {
				const r1 = context.getRemainingTimeInMillis();
				await new Promise((r) => setTimeout(r, 50));
				const r2 = context.getRemainingTimeInMillis();
				const { getRemainingTimeInMillis, succeed, fail, done, ...fields } = context;
				return { fields, r1, r2, trace: process.env._X_AMZN_TRACE_ID, fn: typeof getRemainingTimeInMillis };
			};\n`,
		},
		handler: 'index.handler',
		deadlineMs: 3000,
		events: [{
			body: '{}',
			headers: {
				'Lambda-Runtime-Client-Context': JSON.stringify({ client: { app_title: 't' }, custom: { k: 'v' }, env: {} }),
				'Lambda-Runtime-Cognito-Identity': JSON.stringify({ cognitoIdentityId: 'id1', cognitoIdentityPoolId: 'pool1' }),
			},
		}],
	});
	const a = oneAnswer(out);
	const { fields, r1, r2, trace, fn } = a.json;
	assert.equal(fields.awsRequestId, out.served[0].id);
	assert.equal(fields.functionName, 'fn');
	assert.equal(fields.functionVersion, '$LATEST');
	assert.equal(fields.invokedFunctionArn, 'arn:aws:lambda:us-east-1:123456789012:function:fn');
	assert.equal(fields.memoryLimitInMB, '128');
	assert.equal(fields.logGroupName, '/aws/lambda/fn');
	assert.equal(fields.logStreamName, '2024/01/01/[$LATEST]abcdef');
	assert.equal(fields.callbackWaitsForEmptyEventLoop, true);
	assert.deepEqual(fields.clientContext, { client: { app_title: 't' }, custom: { k: 'v' }, env: {} });
	assert.deepEqual(fields.identity, { cognitoIdentityId: 'id1', cognitoIdentityPoolId: 'pool1' });
	assert.equal(fn, 'function');
	assert.ok(r1 > 2000 && r1 <= 3000, `remaining ${r1}`);
	assert.ok(r2 <= r1 - 40, `remaining time did not decrease: ${r1} then ${r2}`);
	assert.equal(trace, 'Root=1-abc-1');
});

test('thrown Error is reported with errorType, errorMessage and trace', async () => {
	const out = await runRuntime({
		files: { 'index.js': 'exports.handler = async () => { throw new TypeError("bad input"); };\n' },
		handler: 'index.handler',
		events: [ev({})],
	});
	const a = oneAnswer(out);
	assert.equal(a.kind, 'error');
	assert.equal(a.headers['lambda-runtime-function-error-type'], 'Unhandled');
	assert.equal(a.json.errorType, 'TypeError');
	assert.equal(a.json.errorMessage, 'bad input');
	assert.ok(Array.isArray(a.json.trace));
	assert.equal(a.json.trace[0], 'TypeError: bad input');
	assert.ok(a.json.trace.some((l) => l.includes('index.js')), a.json.trace.join('\n'));
	assert.match(out.stdout, new RegExp(`\\t${a.id}\\tERROR\\tInvoke Error \\t\\{"errorType":"TypeError","errorMessage":"bad input"`));
});

test('rejected promise and custom error name; the runtime keeps serving', async () => {
	const out = await runRuntime({
		files: {
			'index.js': `class ValidationError extends Error { constructor(m) { super(m); this.name = 'ValidationError'; } }
			exports.handler = (event) => event.ok ? Promise.resolve('fine') : Promise.reject(new ValidationError('nope'));\n`,
		},
		handler: 'index.handler',
		events: [ev({}), ev({ ok: true })],
	});
	assert.equal(out.answers.length, 2);
	assert.equal(out.answers[0].kind, 'error');
	assert.equal(out.answers[0].json.errorType, 'ValidationError');
	assert.equal(out.answers[0].json.errorMessage, 'nope');
	assert.equal(out.answers[1].body, '"fine"');
});

test('non-Error thrown values', async () => {
	const out = await runRuntime({
		files: {
			'index.js': `exports.handler = async (event) => {
				if (event.t === 'string') throw 'just a string';
				if (event.t === 'object') throw { code: 42 };
				if (event.t === 'number') throw 3;
			};\n`,
		},
		handler: 'index.handler',
		events: [ev({ t: 'string' }), ev({ t: 'object' }), ev({ t: 'number' })],
	});
	assert.equal(out.answers.length, 3);
	assert.deepEqual(out.answers[0].json, { errorType: 'string', errorMessage: 'just a string', trace: [] });
	assert.deepEqual(out.answers[1].json, { errorType: 'object', errorMessage: '[object Object]', trace: [] });
	assert.deepEqual(out.answers[2].json, { errorType: 'number', errorMessage: '3', trace: [] });
});

test('unserialisable results are Runtime.MarshalError', async () => {
	const out = await runRuntime({
		files: {
			'index.js': `exports.handler = async (event) => {
				if (event.t === 'bigint') return { n: 10n };
				if (event.t === 'cycle') { const o = {}; o.self = o; return o; }
				return 'ok';
			};\n`,
		},
		handler: 'index.handler',
		events: [ev({ t: 'bigint' }), ev({ t: 'cycle' }), ev({})],
	});
	assert.equal(out.answers.length, 3);
	for (const a of out.answers.slice(0, 2)) {
		assert.equal(a.kind, 'error');
		assert.equal(a.json.errorType, 'Runtime.MarshalError');
		assert.match(a.json.errorMessage, /^Unable to stringify response body/);
	}
	assert.equal(out.answers[2].body, '"ok"');
});

test('unhandled rejection and uncaught exception fail the invocation', async () => {
	for (const [kind, code, type, message] of [
		['rejection', 'Promise.reject(new Error("lost")); await new Promise((r) => setTimeout(r, 1000)); return "late";',
		 'Runtime.UnhandledPromiseRejection', 'Error: lost'],
		['exception', 'setTimeout(() => { throw new SyntaxError("async boom"); }, 10); await new Promise((r) => setTimeout(r, 1000)); return "late";',
		 'SyntaxError', 'async boom'],
	]) {
		const out = await runRuntime({
			files: { 'index.mjs': `export const handler = async () => { ${code} };\n` },
			handler: 'index.handler',
			events: [ev({})],
		});
		const a = oneAnswer(out);
		assert.equal(a.kind, 'error', kind);
		assert.equal(a.json.errorType, type, kind);
		assert.equal(a.json.errorMessage, message, kind);
	}
});

/* ---------------------------------------------------------------------------------- */
/* Init errors: posted to /init/error before any /next, and the runtime exits non-zero. */

async function initFailure(files, handler) {
	const out = await runRuntime({ files, handler, events: [ev({})] });
	assert.equal(out.timedOut, false);
	assert.ok(out.initError, `no init error posted; stdout:\n${out.stdout}\nstderr:\n${out.stderr}`);
	assert.equal(out.nextCalls, 0, 'the runtime asked for work after a failed init');
	assert.equal(out.answers.length, 0);
	assert.notEqual(out.code, 0);
	assert.equal(out.initError.headers['lambda-runtime-function-error-type'], out.initError.json.errorType);
	assert.match(out.stdout, /\tundefined\tERROR\tUncaught Exception \t\{"errorType":"/);
	return out.initError.json;
}

test('init error: module not found is Runtime.ImportModuleError', async () => {
	const e = await initFailure({ 'other.js': '' }, 'index.handler');
	assert.equal(e.errorType, 'Runtime.ImportModuleError');
	assert.match(e.errorMessage, /^Error: Cannot find module 'index'/);
	assert.ok(Array.isArray(e.trace));
	const e2 = await initFailure({ 'index.js': 'require("no-such-package");\nexports.handler = async () => 1;\n' }, 'index.handler');
	assert.equal(e2.errorType, 'Runtime.ImportModuleError');
	assert.match(e2.errorMessage, /^Error: Cannot find module 'no-such-package'/);
	const e3 = await initFailure({ 'index.mjs': 'import "no-such-package";\nexport const handler = async () => 1;\n' }, 'index.handler');
	assert.equal(e3.errorType, 'Runtime.ImportModuleError');
	assert.match(e3.errorMessage, /no-such-package/);
});

test('init error: missing export is Runtime.HandlerNotFound', async () => {
	const e = await initFailure({ 'index.js': 'exports.handler = async () => 1;\n' }, 'index.nope');
	assert.equal(e.errorType, 'Runtime.HandlerNotFound');
	assert.equal(e.errorMessage, 'index.nope is undefined or not exported');
	const e2 = await initFailure({ 'index.mjs': 'export const handler = 5;\n' }, 'index.handler');
	assert.equal(e2.errorType, 'Runtime.HandlerNotFound');
	assert.equal(e2.errorMessage, 'index.handler is not a function');
});

test('init error: malformed handler names are Runtime.MalformedHandlerName', async () => {
	const e = await initFailure({ 'index.js': 'exports.handler = async () => 1;\n' }, 'index');
	assert.equal(e.errorType, 'Runtime.MalformedHandlerName');
	assert.equal(e.errorMessage, 'Bad handler');
	const e2 = await initFailure({ 'index.js': 'exports.handler = async () => 1;\n' }, '../index.handler');
	assert.equal(e2.errorType, 'Runtime.MalformedHandlerName');
	assert.match(e2.errorMessage, /Relative paths are not supported/);
});

test('init error: syntax errors are Runtime.UserCodeSyntaxError (CommonJS and ESM)', async () => {
	const e = await initFailure({ 'index.js': 'exports.handler = async () => {\n' }, 'index.handler');
	assert.equal(e.errorType, 'Runtime.UserCodeSyntaxError');
	assert.match(e.errorMessage, /^SyntaxError: /);
	const e2 = await initFailure({ 'index.mjs': 'export const handler = async () => { return 1 +; };\n' }, 'index.handler');
	assert.equal(e2.errorType, 'Runtime.UserCodeSyntaxError');
	assert.match(e2.errorMessage, /^SyntaxError: /);
});

test('init error: module code that throws is reported with its own type', async () => {
	const e = await initFailure({ 'index.js': 'throw new RangeError("config missing");\n' }, 'index.handler');
	assert.equal(e.errorType, 'RangeError');
	assert.equal(e.errorMessage, 'config missing');
});

/* ---------------------------------------------------------------------------------- */

test('module code runs once across three invocations', async () => {
	const out = await runRuntime({
		files: {
			'index.js': `let inits = (globalThis.__inits || 0) + 1; globalThis.__inits = inits;
			console.log('module init');
			let calls = 0;
			exports.handler = async () => ({ inits, calls: ++calls });\n`,
		},
		handler: 'index.handler',
		events: [ev({}), ev({}), ev({})],
	});
	assert.equal(out.answers.length, 3);
	assert.deepEqual(out.answers.map((a) => a.json), [
		{ inits: 1, calls: 1 }, { inits: 1, calls: 2 }, { inits: 1, calls: 3 }]);
	assert.equal(out.stdout.match(/module init/g).length, 1);
	assert.equal(out.connections, 1, 'the runtime did not keep its connection alive');
	assert.match(out.stdout, /\tundefined\tINFO\tmodule init\n/);
});

test('console lines carry the time, request id and level', async () => {
	const out = await runRuntime({
		files: {
			'index.js': `exports.handler = async (event) => {
				console.log('hello %s', 'world', 42);
				console.info('info line');
				console.warn('warn line');
				console.error('error line', { a: 1 });
				console.debug('debug line');
				console.log('two\\nlines');
				return 1;
			};\n`,
		},
		handler: 'index.handler',
		events: [ev({}), ev({})],
	});
	assert.equal(out.answers.length, 2);
	const ts = '\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z';
	for (const { id } of out.served) {
		for (const [level, msg] of [['INFO', 'hello world 42'], ['INFO', 'info line'], ['WARN', 'warn line'],
					    ['ERROR', 'error line { a: 1 }'], ['DEBUG', 'debug line'], ['INFO', 'two\rlines']]) {
			assert.match(out.stdout, new RegExp(`^${ts}\\t${id}\\t${level}\\t${msg.replace(/[{}]/g, '\\$&')}$`, 'm'),
				     `${level} ${msg} for ${id}:\n${out.stdout}`);
		}
	}
});

/* ---------------------------------------------------------------------------------- */
/* Response streaming                                                                  */

const streamRun = (code, events = [ev({})]) => runRuntime({ files: { 'index.mjs': code }, handler: 'index.handler', events });

function oneStream(out) {
	const a = oneAnswer(out);
	assert.equal(a.kind, 'stream', `not streamed: ${a.body}\n${out.stderr}`);
	assert.equal(a.id, out.served[0].id);
	assert.equal(a.headers['transfer-encoding'], 'chunked');
	return a;
}

test('streamifyResponse: each write reaches the Runtime API while the handler runs', async () => {
	const out = await streamRun(`
		import http from 'node:http';
		// Answers once the Runtime API has received our first chunk; a runtime that
		// buffered the response would never get that answer and the test would hang.
		const firstChunkSeen = () => new Promise((resolve, reject) =>
			http.get('http://' + process.env.AWS_LAMBDA_RUNTIME_API + '/test/first-chunk', (res) => {
				let b = '';
				res.on('data', (c) => (b += c));
				res.on('end', () => resolve(b));
			}).on('error', reject));
		export const handler = awslambda.streamifyResponse(async (event, responseStream, context) => {
			responseStream.setContentType('text/plain');
			responseStream.write('first;');
			const seen = await firstChunkSeen();
			responseStream.write('the Runtime API had it: ' + seen + ';');
			responseStream.end('last ' + context.awsRequestId);
		});
	`);
	const a = oneStream(out);
	assert.equal(a.chunks[0].toString(), 'first;');
	assert.equal(a.body.toString(), `first;the Runtime API had it: seen;last ${a.id}`);
	assert.equal(a.headers['content-type'], 'text/plain');
	assert.equal(a.trailers['lambda-runtime-function-error-type'], undefined);
});

test('streamifyResponse: HttpResponseStream.from writes the prelude, pipeline from a Readable', async () => {
	const out = await streamRun(`
		import { pipeline } from 'node:stream/promises';
		import { Readable } from 'node:stream';
		export const handler = awslambda.streamifyResponse(async (event, responseStream) => {
			const s = awslambda.HttpResponseStream.from(responseStream, {
				statusCode: 201, headers: { 'x-custom': 'yes' }, cookies: ['a=1'] });
			await pipeline(Readable.from(['x'.repeat(100000), 'y'.repeat(100000)]), s);
		});
	`);
	const a = oneStream(out);
	assert.equal(a.headers['content-type'], 'application/vnd.awslambda.http-integration-response');
	const body = a.body;
	const sep = body.indexOf(Buffer.alloc(8));
	assert.ok(sep > 0, 'no 8-NUL separator');
	assert.deepEqual(JSON.parse(body.subarray(0, sep).toString()),
			 { statusCode: 201, headers: { 'x-custom': 'yes' }, cookies: ['a=1'] });
	assert.equal(body.subarray(sep + 8).toString(), 'x'.repeat(100000) + 'y'.repeat(100000));
});

test('streamifyResponse: an error mid-stream ends it with the error trailers', async () => {
	const out = await streamRun(`
		export const handler = awslambda.streamifyResponse(async (event, responseStream) => {
			responseStream.write('partial');
			await new Promise((r) => setTimeout(r, 10));
			throw new TypeError('broke midway');
		});
	`);
	const a = oneStream(out);
	assert.equal(a.body.toString(), 'partial');
	assert.equal(a.trailers['lambda-runtime-function-error-type'], 'TypeError');
	const doc = JSON.parse(Buffer.from(a.trailers['lambda-runtime-function-error-body'], 'base64').toString());
	assert.equal(doc.errorType, 'TypeError');
	assert.equal(doc.errorMessage, 'broke midway');
	assert.match(out.stdout, /ERROR\tInvoke Error/);
});

test('streamifyResponse: an error before any write, then a second invocation streams again', async () => {
	const out = await streamRun(`
		let n = 0;
		export const handler = awslambda.streamifyResponse(async (event, responseStream) => {
			if (++n === 1)
				throw new Error('nothing written');
			responseStream.end('second');
		});
	`, [ev({}), ev({})]);
	assert.equal(out.answers.length, 2, out.stderr);
	const [a, b] = out.answers;
	assert.equal(a.kind, 'stream');
	assert.equal(a.body.length, 0);
	assert.equal(a.trailers['lambda-runtime-function-error-type'], 'Error');
	assert.equal(b.kind, 'stream');
	assert.equal(b.body.toString(), 'second');
	assert.equal(b.trailers['lambda-runtime-function-error-type'], undefined);
	assert.equal(out.connections, 1, 'the runtime did not keep its connection alive');
});

test('streamifyResponse: a handler that returns without ending the stream has it ended', async () => {
	const out = await streamRun(`
		export const handler = awslambda.streamifyResponse(async (event, responseStream) => {
			responseStream.write(JSON.stringify(event));
		});
	`, [ev({ k: 'v' })]);
	const a = oneStream(out);
	assert.equal(a.body.toString(), '{"k":"v"}');
});
