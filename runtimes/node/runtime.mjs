// lambdad's Node.js runtime: loads the handler named by $_HANDLER from $LAMBDA_TASK_ROOT
// and serves invocations over the Lambda Runtime API, behaving as AWS's Node.js runtime
// does (handler styles, context, error shapes, log format). Plain Node 18+, no packages.

import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import util from 'node:util';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

const require = createRequire(import.meta.url);
const API_PREFIX = '/2018-06-01/runtime';

/* ---------------------------------------------------------------------------------- */
/* Errors                                                                              */

// The runtime's own error classes report themselves as "Runtime.<Class>" (AWS's names).
class RuntimeError extends Error {}
class ImportModuleError extends RuntimeError {}
class HandlerNotFound extends RuntimeError {}
class MalformedHandlerName extends RuntimeError {}
class UserCodeSyntaxError extends RuntimeError {}
class MarshalError extends RuntimeError {}
class UnhandledPromiseRejection extends RuntimeError {
	constructor(reason, promise) {
		super(reason);
		this.reason = reason;
		this.promise = promise;
	}
}
for (const c of [ImportModuleError, HandlerNotFound, MalformedHandlerName, UserCodeSyntaxError,
		 MarshalError, UnhandledPromiseRejection])
	c.prototype.name = `Runtime.${c.name}`;

function isErrorLike(v) {
	return v !== null && typeof v === 'object' && typeof v.name === 'string' &&
	       typeof v.message === 'string' && typeof v.stack === 'string';
}

function errorName(err) {
	if (typeof err.name === 'string' && err.name !== '')
		return err.name;
	return (err.constructor && err.constructor.name) || 'Error';
}

/*
 * Turns any thrown or rejected value into the body posted to /error:
 * {errorType, errorMessage, trace}. An Error gives its name, message and stack lines;
 * another value gives its typeof and its string form, as AWS's runtime does.
 */
function toRuntimeResponse(err) {
	try {
		if (util.types.isNativeError(err) || isErrorLike(err)) {
			const stack = typeof err.stack === 'string' ? err.stack : `${errorName(err)}: ${err.message}`;
			return { errorType: errorName(err), errorMessage: String(err.message), trace: stack.split('\n') };
		}
		return { errorType: typeof err, errorMessage: err.toString(), trace: [] };
	} catch {
		return {
			errorType: 'handled',
			errorMessage: 'callback called with Error argument, but there was a problem while ' +
				      'retrieving one or more of its message, name, and stack',
			trace: [],
		};
	}
}

/* The form AWS's runtime logs an error in: a tab, then JSON with its stack as lines. */
function toFormatted(err) {
	try {
		if (util.types.isNativeError(err) || isErrorLike(err)) {
			const out = Object.assign({ errorType: errorName(err), errorMessage: err.message, code: err.code },
						  err);
			if (typeof err.stack === 'string')
				out.stack = err.stack.split('\n');
			return '\t' + JSON.stringify(out);
		}
		return '\t' + JSON.stringify(err === undefined ? null : err);
	} catch {
		return '\t' + JSON.stringify(toRuntimeResponse(err));
	}
}

/* ---------------------------------------------------------------------------------- */
/* Logging                                                                             */

let currentRequestId; // undefined outside an invocation, printed as "undefined" like AWS

const LEVELS = { TRACE: 1, DEBUG: 2, INFO: 3, WARN: 4, ERROR: 5, FATAL: 6 };

/*
 * Replaces the console methods so every line carries the time, the request id and the
 * level: "<ISO time>\t<request id>\tINFO\t<message>". One call stays one log event, as on
 * AWS: with _LAMBDA_TELEMETRY_LOG_FD (lambdad sets it, as AWS does) each call is one
 * frame of AWS's telemetry log format on that fd (type 0xa55a0003, length, timestamp in
 * µs, big-endian, then the message), newlines and all; without it newlines inside a
 * message become "\r". AWS_LAMBDA_LOG_FORMAT=JSON and AWS_LAMBDA_LOG_LEVEL are honoured
 * as AWS's runtime honours them.
 */
function patchConsole() {
	const json = (process.env.AWS_LAMBDA_LOG_FORMAT || '').toUpperCase() === 'JSON';
	const min = LEVELS[(process.env.AWS_LAMBDA_LOG_LEVEL || '').toUpperCase()] || LEVELS.TRACE;
	let telemetryFd = /^\d+$/.test(process.env._LAMBDA_TELEMETRY_LOG_FD || '')
		? Number(process.env._LAMBDA_TELEMETRY_LOG_FD)
		: -1;
	delete process.env._LAMBDA_TELEMETRY_LOG_FD;
	const frame = (line) => {
		const msg = Buffer.from(line, 'utf8');
		const buf = Buffer.allocUnsafe(16 + msg.length);
		buf.writeUInt32BE(0xa55a0003, 0);
		buf.writeUInt32BE(msg.length, 4);
		buf.writeBigUInt64BE(BigInt(Date.now()) * 1000n, 8);
		msg.copy(buf, 16);
		try {
			for (let off = 0; off < buf.length; ) off += fs.writeSync(telemetryFd, buf, off);
			return true;
		} catch {
			telemetryFd = -1; // the fd is gone: plain lines from now on
			return false;
		}
	};
	const write = (level, args) => {
		let line;
		if (json) {
			line = JSON.stringify({
				timestamp: new Date().toISOString(),
				level,
				requestId: currentRequestId,
				message: util.format(...args),
			});
		} else {
			line = `${new Date().toISOString()}\t${currentRequestId}\t${level}\t${util.format(...args)}`;
		}
		if (telemetryFd >= 0 && frame(line + '\n')) return;
		if (!json) line = line.replace(/\n/g, '\r');
		process.stdout.write(line + '\n');
	};
	const method = (level) => (LEVELS[level] >= min ? (...args) => write(level, args) : () => {});
	console.trace = method('TRACE');
	console.debug = method('DEBUG');
	console.info = method('INFO');
	console.log = method('INFO');
	console.warn = method('WARN');
	console.error = method('ERROR');
	console.fatal = method('FATAL');
}

/* ---------------------------------------------------------------------------------- */
/* Runtime API client                                                                  */

function apiAddress() {
	const addr = process.env.AWS_LAMBDA_RUNTIME_API || '127.0.0.1:9001';
	const m = /^\[(.*)\]:(\d+)$/.exec(addr) || /^([^:]*):(\d+)$/.exec(addr);
	return m ? { host: m[1], port: Number(m[2]) } : { host: addr, port: 80 };
}

const api = apiAddress();
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

/*
 * One request to the Runtime API. Resolves to {status, headers, body} with the body as a
 * string once it has been read whole (so the socket goes back to the agent); rejects on
 * a connection error.
 */
function apiRequest(method, urlPath, body, headers = {}) {
	return new Promise((resolve, reject) => {
		const req = http.request({ host: api.host, port: api.port, method, path: API_PREFIX + urlPath, agent,
					   headers: body === undefined ? headers
								       : { ...headers,
									   'Content-Length': Buffer.byteLength(body) } });
		req.setNoDelay(true);
		req.on('error', reject);
		req.on('response', (res) => {
			const chunks = [];
			res.on('data', (c) => chunks.push(c));
			res.on('error', reject);
			res.on('end', () => resolve({ status: res.statusCode, headers: res.headers,
						      body: Buffer.concat(chunks).toString('utf8') }));
		});
		req.end(body);
	});
}

async function postError(urlPath, err, errorTypeHeader) {
	const resp = toRuntimeResponse(err);
	const body = JSON.stringify(resp);
	const r = await apiRequest('POST', urlPath, body, {
		'Content-Type': 'application/vnd.aws.lambda.error+json',
		'Lambda-Runtime-Function-Error-Type': errorTypeHeader || resp.errorType,
	});
	if (r.status >= 300)
		process.stderr.write(`lambdad runtime: POST ${urlPath} returned ${r.status}: ${r.body}\n`);
}

/* ---------------------------------------------------------------------------------- */
/* Response streaming                                                                  */

// The marks AWS's runtime puts on a streamified handler (the same global symbols).
const HANDLER_STREAMING = Symbol.for('aws.lambda.runtime.handler.streaming');
const HANDLER_HIGHWATERMARK = Symbol.for('aws.lambda.runtime.handler.streaming.highWaterMark');
const HTTP_INTEGRATION_TYPE = 'application/vnd.awslambda.http-integration-response';

/* awslambda.streamifyResponse(handler): the handler is called (event, responseStream,
 * context) and what it writes to responseStream is streamed to the caller. */
function streamifyResponse(handler, options) {
	handler[HANDLER_STREAMING] = 'response';
	if (options && Number.isInteger(options.highWaterMark))
		handler[HANDLER_HIGHWATERMARK] = options.highWaterMark;
	return handler;
}

/* awslambda.HttpResponseStream.from(stream, {statusCode, headers, cookies}): the
 * stream's first bytes become that JSON prelude and 8 NUL bytes, which a function URL
 * turns into the HTTP status and headers of its reply. */
class HttpResponseStream {
	static from(underlyingStream, prelude) {
		underlyingStream.setContentType(HTTP_INTEGRATION_TYPE);
		underlyingStream.write(JSON.stringify(prelude || {}));
		underlyingStream.write(new Uint8Array(8));
		return underlyingStream;
	}
}

globalThis.awslambda = { streamifyResponse, HttpResponseStream };

/*
 * Opens the streamed POST of an invocation's response: chunked, each write sent at
 * once, an error at the end as trailers. Returns {stream, responded}: stream is the
 * http.ClientRequest (a writable stream, with setContentType), responded a promise of
 * the Runtime API's answer once the stream has ended.
 */
function openResponseStream(urlPath) {
	const stream = http.request({
		host: api.host, port: api.port, method: 'POST', path: API_PREFIX + urlPath, agent,
		headers: {
			'Lambda-Runtime-Function-Response-Mode': 'streaming',
			'Transfer-Encoding': 'chunked',
			'Trailer': 'Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body',
			'Content-Type': 'application/octet-stream',
		},
	});
	stream.setNoDelay(true);
	stream.setContentType = (type) => {
		if (stream.headersSent)
			throw new Error('setContentType must be called before the first write');
		stream.setHeader('Content-Type', type);
	};
	const responded = new Promise((resolve, reject) => {
		stream.on('error', reject);
		stream.on('response', (res) => {
			const chunks = [];
			res.on('data', (c) => chunks.push(c));
			res.on('error', reject);
			res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString('utf8') }));
		});
	});
	return { stream, responded };
}

/* Ends a response stream with the error as trailers (the body sent so far stands). */
function failResponseStream(stream, err) {
	if (stream.writableEnded)
		return false;
	const resp = toRuntimeResponse(err);
	stream.addTrailers({
		'Lambda-Runtime-Function-Error-Type': resp.errorType,
		'Lambda-Runtime-Function-Error-Body': Buffer.from(JSON.stringify(resp)).toString('base64'),
	});
	stream.end();
	return true;
}

/* ---------------------------------------------------------------------------------- */
/* Loading the handler                                                                 */

function hasPackageJsonTypeModule(file) {
	for (let dir = path.dirname(file); ; dir = path.dirname(dir)) {
		const pj = path.join(dir, 'package.json');
		if (fs.existsSync(pj)) {
			try {
				return JSON.parse(fs.readFileSync(pj, 'utf8')).type === 'module';
			} catch {
				return false;
			}
		}
		if (path.dirname(dir) === dir)
			return false;
	}
}

function tryRequire(file) {
	return fs.existsSync(file) ? require(file) : undefined;
}

async function tryImport(file) {
	return fs.existsSync(file) ? await import(pathToFileURL(file).href) : undefined;
}

/*
 * Loads the user's module "moduleRoot/module" under appRoot, trying in AWS's order: the
 * extensionless file, .js (require unless package.json says "type":"module", then
 * import), .mjs (import), .cjs (require), and finally Node's own resolution from appRoot.
 */
async function loadModule(appRoot, moduleRoot, module) {
	const base = path.resolve(appRoot, moduleRoot, module);
	const esm = hasPackageJsonTypeModule(base);
	let m = tryRequire(base);
	if (m === undefined && !esm)
		m = tryRequire(base + '.js');
	if (m === undefined && esm)
		m = await tryImport(base + '.js');
	if (m === undefined)
		m = await tryImport(base + '.mjs');
	if (m === undefined)
		m = tryRequire(base + '.cjs');
	if (m === undefined)
		m = require(require.resolve(module, { paths: [path.resolve(appRoot, moduleRoot), appRoot] }));
	return m;
}

/*
 * Resolves $_HANDLER ("file.fn", "dir/file.fn" or "file.obj.fn") to a function, running
 * the module's top-level code once. Throws a Runtime.* error for a malformed name, a
 * module that cannot be found or parsed, or a handler that is not exported.
 */
async function loadHandler(appRoot, fullHandler) {
	if (fullHandler.includes('..'))
		throw new MalformedHandlerName("'../' not allowed in handler name. Relative paths are not supported.");
	const handlerString = path.basename(fullHandler);
	const moduleRoot = fullHandler.substring(0, fullHandler.length - handlerString.length);
	const match = /^([^.]*)\.(.*)$/.exec(handlerString);
	if (!match || match[1] === '' || match[2] === '')
		throw new MalformedHandlerName('Bad handler');
	const [, module, handlerPath] = match;

	let userApp;
	try {
		userApp = await loadModule(appRoot, moduleRoot, module);
	} catch (e) {
		if (e instanceof SyntaxError || (e && e.name === 'SyntaxError'))
			throw new UserCodeSyntaxError(e);
		if (e && (e.code === 'MODULE_NOT_FOUND' || e.code === 'ERR_MODULE_NOT_FOUND'))
			throw new ImportModuleError(e);
		throw e;
	}
	const fn = handlerPath.split('.').reduce((obj, key) => (obj == null ? undefined : obj[key]), userApp);
	if (fn === undefined || fn === null)
		throw new HandlerNotFound(`${fullHandler} is undefined or not exported`);
	if (typeof fn !== 'function')
		throw new HandlerNotFound(`${fullHandler} is not a function`);
	return fn;
}

/* ---------------------------------------------------------------------------------- */
/* Invocations                                                                         */

// What the process-wide error hooks do: fail init before the first /next, fail the
// current invocation afterwards. Both end the process, as on AWS.
let onFatal = async (err, code) => {
	try {
		await postError('/init/error', err);
	} finally {
		process.exit(code);
	}
};

// A single 'beforeExit' hook that fires the current listener once: it is how a callback
// handler's response waits for the event loop to empty.
let beforeExitListener = null;
process.on('beforeExit', () => {
	const fn = beforeExitListener;
	beforeExitListener = null;
	if (fn)
		fn();
});

function parseJsonHeader(value, name) {
	if (value === undefined)
		return undefined;
	try {
		return JSON.parse(value);
	} catch (e) {
		throw new Error(`Cannot parse ${name} as json: ${e.toString()}`);
	}
}

/*
 * Runs one invocation of handler on the event in next (the /next reply) and posts its
 * outcome. Resolves once the response or error has been posted.
 */
function invoke(handler, next) {
	return new Promise((resolveDone) => {
		const h = next.headers;
		const id = h['lambda-runtime-aws-request-id'];
		const deadline = Number(h['lambda-runtime-deadline-ms']);
		const base = `/invocation/${encodeURIComponent(id)}`;
		let settled = false; // the handler has given its answer (first answer wins)
		let posted = false;  // the answer has gone to the Runtime API

		currentRequestId = id;
		if (h['lambda-runtime-trace-id'] !== undefined)
			process.env._X_AMZN_TRACE_ID = h['lambda-runtime-trace-id'];
		else
			delete process.env._X_AMZN_TRACE_ID;

		const finish = (p) => p.catch((e) => {
			process.stderr.write(`lambdad runtime: cannot reach the Runtime API: ${e.message}\n`);
			process.exit(1);
		}).then(resolveDone);

		let fail = (err) => {
			if (posted)
				return;
			posted = true;
			beforeExitListener = null;
			console.error('Invoke Error', toFormatted(err));
			finish(postError(`${base}/error`, err, 'Unhandled'));
		};
		let complete = (result) => {
			if (posted)
				return;
			let body;
			try {
				body = JSON.stringify(result === undefined ? null : result);
			} catch (e) {
				fail(new MarshalError(`Unable to stringify response body: ${e.message.split('\n')[0]}`));
				return;
			}
			posted = true;
			beforeExitListener = null;
			// A refusal (413 for a response over the limit) is the Runtime API's to report.
			finish(apiRequest('POST', `${base}/response`, body === undefined ? 'null' : body,
					  { 'Content-Type': 'application/json' }).then((r) => {
				if (r.status >= 300)
					process.stderr.write(`lambdad runtime: POST response returned ${r.status}: ${r.body}\n`);
			}));
		};
		const once = (fn) => (...args) => {
			if (settled)
				return;
			settled = true;
			fn(...args);
		};

		const streaming = handler[HANDLER_STREAMING] === 'response';
		let rs; // the response stream of a streamified handler
		if (streaming) {
			rs = openResponseStream(`${base}/response`);
			// Its own failure (the Runtime API went away) is seen where it is awaited.
			rs.responded.catch(() => {});
			// A streamified handler answers through its stream: its end is the response,
			// an error ends it with trailers.
			complete = () => {
				if (posted)
					return;
				posted = true;
				beforeExitListener = null;
				if (!rs.stream.writableEnded)
					rs.stream.end();
				finish(rs.responded.then((r) => {
					if (r.status >= 300)
						process.stderr.write(`lambdad runtime: streamed response returned ${r.status}: ${r.body}\n`);
				}));
			};
			fail = (err) => {
				if (posted)
					return;
				posted = true;
				beforeExitListener = null;
				console.error('Invoke Error', toFormatted(err));
				if (!failResponseStream(rs.stream, err))
					process.stderr.write('lambdad runtime: the handler failed after its response stream ended\n');
				finish(rs.responded.then(() => {}));
			};
		}

		const context = {
			callbackWaitsForEmptyEventLoop: true,
			succeed: once((result) => complete(result)),
			fail: once((err) => fail(err)),
			done: once((err, result) => (err !== undefined && err !== null ? fail(err) : complete(result))),
			functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION,
			functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
			memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
			logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME,
			logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME,
			clientContext: undefined,
			identity: undefined,
			invokedFunctionArn: h['lambda-runtime-invoked-function-arn'],
			awsRequestId: id,
			getRemainingTimeInMillis: () => deadline - Date.now(),
		};
		const callback = once((err, result) => {
			if (err !== undefined && err !== null)
				fail(err);
			else if (!context.callbackWaitsForEmptyEventLoop)
				complete(result);
			else
				beforeExitListener = () => setImmediate(() => complete(result));
		});

		// Fatal errors from here on fail this invocation, then end the process.
		onFatal = async (err, code) => {
			if (!posted) {
				posted = true;
				try {
					if (streaming)
						failResponseStream(rs.stream, err) && await rs.responded;
					else
						await postError(`${base}/error`, err, 'Unhandled');
				} catch { /* the process ends either way */ }
			}
			process.exit(code);
		};
		// A handler that never answers and leaves nothing pending returns null, as on AWS.
		beforeExitListener = () => setImmediate(once(() => complete(null)));

		try {
			context.clientContext = parseJsonHeader(h['lambda-runtime-client-context'], 'ClientContext');
			context.identity = parseJsonHeader(h['lambda-runtime-cognito-identity'], 'CognitoIdentity');
			const event = JSON.parse(next.body);
			if (streaming) {
				const result = handler(event, rs.stream, context);
				if (result !== null && (typeof result === 'object' || typeof result === 'function') &&
				    typeof result.then === 'function')
					result.then(context.succeed, context.fail);
				else
					rs.stream.on('finish', () => context.succeed());
			} else {
				const result = handler(event, context, callback);
				if (result !== null && (typeof result === 'object' || typeof result === 'function') &&
				    typeof result.then === 'function')
					result.then(context.succeed, context.fail);
			}
		} catch (e) {
			context.fail(e);
		}
	});
}

/* ---------------------------------------------------------------------------------- */
/* Main                                                                                */

async function main() {
	patchConsole();
	process.on('uncaughtException', (err) => {
		console.error('Uncaught Exception', toFormatted(err));
		onFatal(err, 129);
	});
	process.on('unhandledRejection', (reason, promise) => {
		let text;
		try {
			text = reason && typeof reason.stack === 'string' && util.types.isNativeError(reason)
				? `${errorName(reason)}: ${reason.message}` : String(reason);
		} catch {
			text = 'unknown reason';
		}
		const err = new UnhandledPromiseRejection(text, promise);
		console.error('Unhandled Promise Rejection', toFormatted(err));
		onFatal(err, 128);
	});

	let handler;
	try {
		handler = await loadHandler(process.env.LAMBDA_TASK_ROOT || '/var/task', process.env._HANDLER || '');
	} catch (err) {
		console.error('Uncaught Exception', toFormatted(err));
		await onFatal(err, 129);
		return;
	}

	for (;;) {
		let next;
		try {
			next = await apiRequest('GET', '/invocation/next');
		} catch (e) {
			process.stderr.write(`lambdad runtime: cannot reach the Runtime API: ${e.message}\n`);
			process.exit(1);
		}
		if (next.status !== 200) {
			process.stderr.write(`lambdad runtime: GET next returned ${next.status}: ${next.body}\n`);
			process.exit(1);
		}
		await invoke(handler, next);
	}
}

main();
