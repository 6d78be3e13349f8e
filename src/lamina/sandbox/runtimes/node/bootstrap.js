/**
 * Lamina's Node.js runtime bootstrap: the Lambda Runtime API client that runs the user's handler.
 *
 * Run as `node bootstrap.js` inside the execution environment (Node 18 or later, standard library
 * only). It behaves like AWS's Node.js runtime, aws-lambda-nodejs-runtime-interface-client 3.x (the
 * JavaScript client of the nodejs18.x-22.x runtimes), as seen by user code and by the platform; each
 * copied quirk says so where it is made.
 *
 * Reads AWS_LAMBDA_RUNTIME_API, _HANDLER, LAMBDA_TASK_ROOT (default: the cwd), AWS_LAMBDA_LOG_FORMAT,
 * AWS_LAMBDA_LOG_LEVEL, AWS_LAMBDA_FUNCTION_NAME/VERSION/MEMORY_SIZE and AWS_LAMBDA_LOG_GROUP_NAME/
 * STREAM_NAME. NODE_PATH needs nothing here: Node's CommonJS loader reads it at startup.
 *
 * Wire: GET /2018-06-01/runtime/invocation/next (no timeout: a long poll), then POST
 * .../invocation/{id}/response with JSON.stringify(result) (undefined is `null`), or
 * .../invocation/{id}/error with {"errorType","errorMessage","trace"} and the headers
 * Lambda-Runtime-Function-Error-Type and Lambda-Runtime-Function-XRay-Error-Cause. Init failures
 * go to POST /runtime/init/error in the same shape. Every log record is written to fd 1 with
 * fs.writeSync before the POST that follows it: the platform drains the output pipe when a result
 * arrives.
 *
 * Exit status: 129 after reporting an uncaught exception, 128 after an unhandled rejection (AWS's
 * codes, at init or during an invocation); 2 when the Runtime API is unreachable, answers GET next
 * with anything but 200, or answers a POST with a 5xx (one line on stderr first, as Lamina's Python
 * bootstrap). A 4xx answer to a POST is written to stderr and the loop goes on.
 *
 * Deviations from AWS: results are POSTed with Node's http client instead of the native
 * aws-lambda-cpp client (same bytes, asynchronous instead of blocking the event loop); the telemetry
 * log fd framing is not used (records go to stdout, as under the Runtime Interface Emulator);
 * response streaming is buffered into one response; the "Require stack" of an import error names
 * this file where AWS's names /var/runtime/index.mjs.
 */

'use strict';

// Cold start budget: fs, path, util, url and stream are loaded by Node's own startup before this file
// runs (process.moduleLoadList), so requiring them is free; http is not (~3 ms on a small VM) and
// loads when the client is built, the one thing that needs it before the first GET next.
const fs = require('fs');
const path = require('path');
const util = require('util');

const API = '/2018-06-01/runtime';
const EXIT_UNCAUGHT_EXCEPTION = 129; // AWS's runtime: Runtime.js _setErrorCallbacks
const EXIT_UNHANDLED_REJECTION = 128;
const EXIT_RUNTIME_API_ERROR = 2; // Lamina's own, as the Python bootstrap's EXIT_RUNTIME_API_ERROR
const XRAY_CAUSE_LIMIT = 64 * 1024; // common HTTP servers refuse longer header lines

// --- errors -------------------------------------------------------------------------------------

// AWS's Errors.js: each class's prototype.name is "Runtime.<class>", while constructor.name stays
// the bare class name (the JSON log format reports that one as errorType).
class ImportModuleError extends Error {} // message: String(the require error), e.g.
// "Error: Cannot find module 'index'\nRequire stack:\n- .../bootstrap.js"
class HandlerNotFound extends Error {} // "index.nope is undefined or not exported" | "... is not a function"
class MalformedHandlerName extends Error {} // "Bad handler" | "'../x.h' is not a valid handler name. ..."
class UserCodeSyntaxError extends Error {} // String(the SyntaxError): "SyntaxError: Unexpected token '='"
class MalformedStreamingHandler extends Error {}
class NodeJsExit extends Error {
  constructor() {
    super('The Lambda runtime client detected an unexpected Node.js exit code. This is most commonly ' +
      'caused by a Promise that was never settled. For more information, see ' +
      'https://nodejs.org/docs/latest/api/process.html#exit-codes');
  }
}
class UnhandledPromiseRejection extends Error {
  constructor(reason, promise) {
    super(describe(reason)); // errorMessage "Error: boom" for reject(new Error('boom'))
    this.reason = reason; // enumerable on purpose: AWS's log record shows "reason" and "promise"
    this.promise = promise;
  }
}
for (const cls of [ImportModuleError, HandlerNotFound, MalformedHandlerName, UserCodeSyntaxError,
  MalformedStreamingHandler, NodeJsExit, UnhandledPromiseRejection]) {
  cls.prototype.name = `Runtime.${cls.name}`;
}

function describe(value) {
  try {
    return String(value);
  } catch {
    return Object.prototype.toString.call(value); // a Symbol or an object without toString
  }
}

function intoError(err) {
  return err instanceof Error ? err : new Error(describe(err));
}

/** The error body AWS posts (Errors.toRapidResponse): `trace`, not `stackTrace`. */
function errorBody(error) {
  try {
    if (util.types.isNativeError(error) || isErrorLike(error)) {
      // 0x7F is escaped because the Runtime API rejects it in the error-type header.
      return {
        errorType: error.name?.replaceAll('\x7F', '%7F'),
        errorMessage: error.message?.replaceAll('\x7F', '%7F'),
        trace: error.stack.replaceAll('\x7F', '%7F').split('\n'),
      };
    }
    // callback('text') or a rejection with a non-Error: the type is typeof, as on AWS.
    return { errorType: typeof error, errorMessage: error.toString(), trace: [] };
  } catch {
    return {
      errorType: 'handled',
      errorMessage: 'callback called with Error argument, but there was a problem while retrieving ' +
        'one or more of its message, name, and stack',
    };
  }
}

function isErrorLike(obj) {
  return Boolean(obj && obj.name && obj.message && obj.stack && typeof obj.name === 'string' &&
    typeof obj.message === 'string' && typeof obj.stack === 'string');
}

/** The X-Ray exception blob AWS sends in Lambda-Runtime-Function-XRay-Error-Cause (XRayError.js). */
function xrayCause(error) {
  try {
    const stack = [];
    if (error && typeof error.stack === 'string') {
      for (const raw of error.stack.split('\n').slice(1)) {
        let line = raw.trim().replace(/\(|\)/g, '');
        line = line.substring(line.indexOf(' ') + 1);
        const cut = line.lastIndexOf(' ');
        const label = cut >= 0 ? line.slice(0, cut) : null;
        const where = (label ? line.slice(cut + 1) : line).split(':');
        stack.push({ path: where[0], line: parseInt(where[1], 10), label: label || 'anonymous' });
      }
    }
    return JSON.stringify({
      working_directory: process.cwd(),
      exceptions: [{ type: error?.name, message: error?.message, stack }],
      paths: [...new Set(stack.map((entry) => entry.path))],
    });
  } catch {
    return '';
  }
}

// --- logging ------------------------------------------------------------------------------------

const LEVELS = { TRACE: 1, DEBUG: 2, INFO: 3, WARN: 4, ERROR: 5, FATAL: 6 };
let currentRequestId; // undefined until the first invoke: AWS prints "undefined" in init records
let currentTenantId;
let logError = () => {}; // AWS's structuredConsole.logError, set by patchConsole

/**
 * Write all of `text` to fd 1 now, in one write. fs.writeSync, not process.stdout: the record must
 * be in the pipe before the result is POSTed (AWS's runtime writes its telemetry fd the same way).
 *
 * Once user code has opened process.stdout (or stderr, when both share the pipe) the pipe is
 * non-blocking and libuv may hold a backlog of the user's writes; a record then goes through
 * process.stdout behind that backlog, so lines never interleave, and every POST waits for the
 * backlog to drain (afterStdioDrained).
 */
function writeStdout(text) {
  if (stdoutStream !== null && stdoutStream.writableLength > 0 && !stdoutStream.destroyed) {
    stdoutStream.write(text);
    return;
  }
  const buffer = Buffer.from(text, 'utf8');
  let written = 0;
  while (written < buffer.length) {
    try {
      written += fs.writeSync(1, buffer, written, buffer.length - written);
    } catch (error) {
      if (error.code !== 'EAGAIN') return; // stdout closed (EPIPE, EBADF): the record is lost
      if (stdoutStream !== null && !stdoutStream.destroyed) {
        stdoutStream.write(buffer.subarray(written)); // queued in order; drained before the POST
        return;
      }
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1); // the pipe is full: wait
    }
  }
}

/** AWS's text record: `<ISO time>\t<request id>\t<LEVEL>\t<util.format(...)>`, newlines as \r. */
function textRecord(level, message, params) {
  const line = `${new Date().toISOString()}\t${currentRequestId}\t${level}\t${util.format(message, ...params)}`;
  return line.replace(/\n/g, '\r') + '\n';
}

function jsonErrorReplacer(_key, value) {
  if (value instanceof Error) {
    return Object.assign({
      errorType: value?.constructor?.name ?? 'UnknownError',
      errorMessage: value.message,
      stackTrace: typeof value.stack === 'string' ? value.stack.split('\n') : value.stack,
    }, value);
  }
  return value;
}

/**
 * AWS's JSON record (LogPatch.formatJsonMessage): {timestamp, level, requestId, tenantId?, message}.
 * One argument is logged as is (an object stays an object, an Error is expanded); several are
 * util.format'ed, and the first Error among them adds errorType/errorMessage/stackTrace.
 */
function jsonRecord(level, message, params) {
  const record = { timestamp: new Date().toISOString(), level, requestId: currentRequestId };
  if (currentTenantId != null) record.tenantId = currentTenantId;
  let line;
  if (params.length === 0) {
    record.message = message;
    try {
      line = JSON.stringify(record, jsonErrorReplacer);
    } catch {
      record.message = util.format(message);
      line = JSON.stringify(record);
    }
  } else {
    const all = [message, ...params];
    record.message = util.format(...all);
    const error = all.find((param) => param instanceof Error);
    if (error) {
      record.errorType = error?.constructor?.name ?? 'UnknownError';
      record.errorMessage = error.message;
      record.stackTrace = typeof error.stack === 'string' ? error.stack.split('\n') : [];
    }
    line = JSON.stringify(record);
  }
  return line.replace(/\n/g, '\r') + '\n';
}

/** An Error as AWS's text error records show it (Errors.toFormatted): a tab, then JSON. */
function formattedError(error) {
  try {
    return '\t' + JSON.stringify(error, (_key, value) => {
      if (!(value instanceof Error)) return value;
      const out = Object.assign({ errorType: value.name, errorMessage: value.message, code: value.code }, value);
      if (typeof value.stack === 'string') out.stack = value.stack.split('\n');
      return out;
    });
  } catch {
    return '\t' + JSON.stringify(errorBody(error));
  }
}

/**
 * Replace console.trace/debug/info/log/warn/error (and add console.fatal) as AWS's LogPatch does.
 * AWS_LAMBDA_LOG_LEVEL filters in either format (AWS itself only sets it with the JSON format); an
 * unknown or missing level logs everything. console.trace prints no stack, as on AWS.
 */
function patchConsole(env) {
  const json = env.AWS_LAMBDA_LOG_FORMAT?.toUpperCase() === 'JSON';
  const format = json ? jsonRecord : textRecord;
  const threshold = LEVELS[env.AWS_LAMBDA_LOG_LEVEL?.toUpperCase()] ?? LEVELS.TRACE;
  const noop = () => {};
  const logger = (level) => (message, ...params) => writeStdout(format(level, message, params));
  const filtered = (level) => (LEVELS[level] >= threshold ? logger(level) : noop);
  console.trace = filtered('TRACE');
  console.debug = filtered('DEBUG');
  console.info = filtered('INFO');
  console.log = console.info;
  console.warn = filtered('WARN');
  console.error = filtered('ERROR');
  console.fatal = logger('FATAL');
  // Calls console.error as it is at the time, as AWS does: a user's replacement sees these records.
  logError = json
    ? (_title, error) => console.error(intoError(error))
    : (title, error) => console.error(title, formattedError(intoError(error)));
}

// process.stdout/stderr are lazy getters; remember the streams user code opens, so that what it
// wrote through them (queued by libuv when the pipe was full) is drained before a result is posted.
const openedStdio = [];
let stdoutStream = null;

function watchStdio() {
  for (const name of ['stdout', 'stderr']) {
    const descriptor = Object.getOwnPropertyDescriptor(process, name);
    if (!descriptor || typeof descriptor.get !== 'function' || !descriptor.configurable) continue;
    Object.defineProperty(process, name, {
      configurable: true,
      enumerable: descriptor.enumerable,
      get() {
        const stream = descriptor.get.call(this);
        if (!openedStdio.includes(stream)) openedStdio.push(stream);
        if (name === 'stdout') stdoutStream = stream;
        return stream;
      },
      set: descriptor.set,
    });
  }
}

/**
 * Run `send` once every stdio stream user code opened has handed its queued writes to the OS; at
 * once (no extra tick) when nothing is queued, the usual case. Returns what `send` returns.
 */
function afterStdioDrained(send) {
  const stream = openedStdio.find((s) => s.writableLength > 0 && !s.destroyed);
  if (stream === undefined) return send();
  return new Promise((resolve) => {
    const done = () => {
      stream.off('drain', done).off('close', done).off('error', done);
      resolve();
    };
    stream.on('drain', done).on('close', done).on('error', done);
  }).then(() => afterStdioDrained(send));
}

// --- the Runtime API client -----------------------------------------------------------------------

class RuntimeApiError extends Error {}

/**
 * The Runtime API over Node's http client on one keep-alive connection (maxSockets 1, as AWS's
 * RAPIDClient). Each POST carries Content-Length and its whole body in end(), so Node sends
 * headers and body in one write. A request on a reused connection that the server had already closed is
 * retried once on a fresh one.
 */
class RuntimeApiClient {
  constructor(address) {
    const at = address.lastIndexOf(':');
    const port = Number(address.slice(at + 1));
    if (at <= 0 || !Number.isInteger(port) || port <= 0) {
      throw new RuntimeApiError(`AWS_LAMBDA_RUNTIME_API is not host:port: '${address}'`);
    }
    this.http = require('http');
    this.host = address.slice(0, at).replace(/^\[|\]$/g, '');
    this.port = port;
    this.agent = new this.http.Agent({ keepAlive: true, maxSockets: 1 });
    this.userAgent = `lamina-node/${process.version}`;
  }

  /** Wait for the next invocation: {headers (lower-case names), body (a string)}. */
  async next() {
    const answer = await this.request('GET', `${API}/invocation/next`, {}, null);
    if (answer.status !== 200) {
      throw new RuntimeApiError(`GET invocation/next answered ${answer.status}: ${answer.body.slice(0, 200)}`);
    }
    return answer;
  }

  postResponse(requestId, body, contentType = 'application/json') {
    return this.post(`/invocation/${encodeURIComponent(requestId)}/response`, body, { 'Content-Type': contentType });
  }

  postError(requestId, error) {
    const body = errorBody(error);
    const headers = {
      'Content-Type': 'application/json', 'Lambda-Runtime-Function-Error-Type': headerValue(body.errorType),
    };
    const cause = asciiJson(xrayCause(error));
    if (cause && cause.length < XRAY_CAUSE_LIMIT) headers['Lambda-Runtime-Function-XRay-Error-Cause'] = cause;
    return this.post(`/invocation/${encodeURIComponent(requestId)}/error`, JSON.stringify(body), headers);
  }

  postInitError(error) {
    const body = errorBody(error);
    return this.post('/init/error', JSON.stringify(body),
      { 'Content-Type': 'application/json', 'Lambda-Runtime-Function-Error-Type': headerValue(body.errorType) });
  }

  /** POST a string or Buffer; returns the status. A 5xx is a RuntimeApiError ("exit promptly"). */
  async post(route, body, headers) {
    headers['Content-Length'] = Buffer.byteLength(body);
    const answer = await this.request('POST', API + route, headers, body);
    if (answer.status >= 500) {
      throw new RuntimeApiError(`POST ${route} answered ${answer.status}: ${answer.body.slice(0, 200)}`);
    }
    return answer.status;
  }

  request(method, route, headers, body, retried = false) {
    headers['User-Agent'] = this.userAgent;
    return new Promise((resolve, reject) => {
      const request = this.http.request({
        host: this.host, port: this.port, method, path: route, headers, agent: this.agent,
      }, (response) => {
        const chunks = [];
        response.on('data', (chunk) => chunks.push(chunk));
        response.on('end', () => resolve({
          status: response.statusCode, headers: response.headers, body: Buffer.concat(chunks).toString('utf8'),
        }));
        response.on('close', () => {
          if (!response.complete) reject(new RuntimeApiError('Runtime API connection closed inside a response'));
        });
      });
      request.on('error', (error) => {
        if (!retried && request.reusedSocket && (error.code === 'ECONNRESET' || error.code === 'EPIPE')) {
          resolve(this.request(method, route, headers, body, true)); // a stale keep-alive connection
        } else if (error.code === 'ECONNREFUSED' || error.code === 'ENOENT' || error.code === 'ENOTFOUND') {
          const where = `${this.host}:${this.port}`;
          reject(new RuntimeApiError(`cannot connect to the Runtime API at ${where}: ${error.message}`));
        } else {
          reject(new RuntimeApiError(`Runtime API connection failed: ${error.message}`));
        }
      });
      request.end(body ?? undefined);
    });
  }
}

/** A header value Node accepts whatever an error's name holds: printable ASCII only. */
function headerValue(value) {
  return String(value).replace(/[^\x20-\x7e]/g, '?');
}

function asciiJson(text) {
  return text.replace(/[\u007f-\uffff]/g, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'));
}

// --- loading the handler --------------------------------------------------------------------------

const STREAMING = Symbol.for('aws.lambda.runtime.handler.streaming');
const HIGH_WATER_MARK = Symbol.for('aws.lambda.runtime.handler.streaming.highWaterMark');

/**
 * Load `_HANDLER` ("dir/module.export.path") from appRoot the way AWS's UserFunction.load does: an
 * extensionless file, then `.js` through require unless the nearest package.json says
 * "type": "module", then `.js` (ESM) / `.mjs` through import(), `.cjs` through require (and the
 * TypeScript extensions on Node 24+), and last Node's own resolution (NODE_PATH included).
 */
async function loadHandler(appRoot, fullHandler) {
  if (fullHandler.includes('..')) {
    throw new MalformedHandlerName(`'${fullHandler}' is not a valid handler name. Use absolute paths ` +
      'when specifying root directories in handler names.');
  }
  // AWS's quirk: the module root is what precedes the first occurrence of the base name.
  const base = path.basename(fullHandler);
  const moduleRoot = fullHandler.substring(0, fullHandler.indexOf(base));
  const match = /^([^.]*)\.(.*)$/.exec(base);
  if (!match) throw new MalformedHandlerName('Bad handler');
  const [, moduleName, handlerPath] = match;

  installAwsLambdaGlobal();
  let userModule;
  try {
    userModule = await requireUserModule(appRoot, moduleRoot, moduleName);
  } catch (error) {
    if (error instanceof SyntaxError) throw new UserCodeSyntaxError(error);
    if (error?.code === 'MODULE_NOT_FOUND') throw new ImportModuleError(error);
    throw error; // anything the module's own top level threw, reported under its own name
  }
  const handler = handlerPath.split('.').reduce((object, key) => object && object[key], userModule);
  if (!handler) throw new HandlerNotFound(`${fullHandler} is undefined or not exported`);
  if (typeof handler !== 'function') throw new HandlerNotFound(`${fullHandler} is not a function`);
  return handler;
}

async function requireUserModule(appRoot, moduleRoot, moduleName) {
  const file = path.resolve(appRoot, moduleRoot, moduleName);
  const typeScript = Number(process.versions.node.split('.')[0]) >= 24;
  const required = (extension) => (fs.existsSync(file + extension) ? require(file + extension) : undefined);
  const imported = async (extension) => {
    if (!fs.existsSync(file + extension)) return undefined;
    return import(require('url').pathToFileURL(file + extension).href);
  };
  const extensionless = required('');
  if (extensionless) return extensionless;
  const esm = packageTypeIsModule(path.dirname(file));
  if (!esm) {
    const loaded = required('.js');
    if (loaded) return loaded;
  }
  const loaded = (esm && (await imported('.js'))) ||
    (await imported('.mjs')) ||
    required('.cjs') ||
    (typeScript && !esm && required('.ts')) ||
    (typeScript && esm && (await imported('.ts'))) ||
    (typeScript && (await imported('.mts'))) ||
    (typeScript && required('.cts'));
  if (loaded) return loaded;
  // Node's resolution relative to the task root, not to this file's folder.
  return require(require.resolve(moduleName, { paths: [appRoot, moduleRoot] }));
}

/** Whether the nearest package.json above `folder` says "type": "module" (AWS stops at node_modules). */
function packageTypeIsModule(folder) {
  for (;;) {
    if (folder.endsWith('/node_modules')) return false;
    const manifest = path.join(folder, 'package.json');
    if (fs.existsSync(manifest)) {
      try {
        return JSON.parse(fs.readFileSync(manifest, 'utf8'))?.type === 'module';
      } catch (error) {
        console.warn(`${manifest} cannot be read, it will be ignored for ES module detection purposes.`, error);
        return false;
      }
    }
    if (folder === '/') return false;
    folder = path.resolve(folder, '..');
  }
}

/** `awslambda.streamifyResponse` / `awslambda.HttpResponseStream`, which AWS defines globally. */
function installAwsLambdaGlobal() {
  const off = process.env.AWS_LAMBDA_NODEJS_NO_GLOBAL_AWSLAMBDA;
  if (off === '1' || off === 'true') return;
  globalThis.awslambda = {
    streamifyResponse(handler, options) {
      handler[STREAMING] = 'response';
      if (typeof options?.highWaterMark === 'number') handler[HIGH_WATER_MARK] = parseInt(options.highWaterMark, 10);
      return handler;
    },
    HttpResponseStream: {
      // AWS's wire format for Function URL responses: a JSON prelude, 8 NUL bytes, then the body.
      from(stream, prelude) {
        stream.setContentType('application/vnd.awslambda.http-integration-response');
        stream.write(JSON.stringify(prelude));
        stream.write(new Uint8Array(8));
        return stream;
      },
    },
  };
}

function isStreaming(handler) {
  const mode = handler[STREAMING];
  if (mode === undefined || mode === null || mode === false) return false;
  if (mode !== 'response') throw new MalformedStreamingHandler('Only response streaming is supported.');
  return true;
}

// --- invocations ----------------------------------------------------------------------------------

// AWS keeps one process-wide 'beforeExit' action (BeforeExitListener.js): Node emits beforeExit when
// the event loop has nothing left to do, which is how callbackWaitsForEmptyEventLoop is honoured.
const noBeforeExit = () => {};
let beforeExit = noBeforeExit;

function isPromise(value) {
  return Boolean(value && value.then && typeof value.then === 'function');
}

function serialize(result) {
  let body;
  try {
    body = JSON.stringify(result === undefined ? null : result);
  } catch {
    body = undefined;
  }
  if (typeof body !== 'string') throw new Error('Unable to stringify response body'); // AWS's message
  return body;
}

class Runtime {
  constructor(client, handler, errorCallbacks) {
    this.client = client;
    this.handler = handler;
    this.errorCallbacks = errorCallbacks;
    this.isAsync = handler.constructor?.name === 'AsyncFunction';
    this.streaming = isStreaming(handler);
    this.env = process.env;
  }

  scheduleNext() {
    setImmediate(() => this.handleOnce().catch(fatal));
  }

  async handleOnce() {
    const { headers, body } = await this.client.next();
    const requestId = headers['lambda-runtime-aws-request-id'];
    if (!requestId) throw new RuntimeApiError('GET invocation/next answered without Lambda-Runtime-Aws-Request-Id');
    currentRequestId = requestId;
    currentTenantId = headers['lambda-runtime-aws-tenant-id'];
    // After an invoke has started, a crash is that invoke's error, then the process ends.
    this.errorCallbacks.uncaughtException = (error) => this.reportAndExit(requestId, error, EXIT_UNCAUGHT_EXCEPTION);
    this.errorCallbacks.unhandledRejection = (error) => this.reportAndExit(requestId, error, EXIT_UNHANDLED_REJECTION);
    if (this.streaming) return this.invokeStreaming(requestId, headers, body);

    const [callback, context, markCompleted] = this.callbackContext(requestId);
    try {
      // Without a callback call or a settled promise the invoke ends when the loop empties: a
      // non-async handler's return value is ignored and the response is null (AWS's quirk); an
      // async one that never settles fails with Runtime.NodeJsExit.
      beforeExit = () => {
        markCompleted();
        if (this.isAsync) {
          const error = new NodeJsExit();
          logError('Invoke Error', error);
          this.finish(() => this.client.postError(requestId, error), requestId, 'error');
        } else {
          this.finish(() => this.client.postResponse(requestId, 'null'), requestId, 'response');
        }
      };
      const result = this.handler(JSON.parse(body), this.contextFor(context, headers), callback);
      if (isPromise(result)) result.then(context.succeed, context.fail).catch(context.fail);
    } catch (error) {
      callback(error);
    }
    return undefined;
  }

  /** AWS's CallbackContext.build: [callback, the callback part of the context, markCompleted]. */
  callbackContext(requestId) {
    let waitForEmptyEventLoop = true;
    let completed = false;
    let finished = false;
    const postError = (error) => {
      logError('Invoke Error', error);
      this.finish(() => this.client.postError(requestId, error), requestId, 'error');
    };
    const complete = (result) => {
      if (completed) {
        console.error('Invocation has already been reported as done. Cannot call complete more than once ' +
          'per invocation.');
        return;
      }
      completed = true;
      // Serialized here, synchronously: a result that cannot be stringified throws into the caller,
      // which is how AWS turns it into the invocation's error.
      const body = serialize(result);
      this.finish(() => this.client.postResponse(requestId, body), requestId, 'response');
    };
    const callback = (error, result) => {
      beforeExit = noBeforeExit;
      if (error !== undefined && error !== null) {
        postError(error);
      } else if (!waitForEmptyEventLoop) {
        complete(result);
      } else {
        beforeExit = () => setImmediate(() => complete(result));
      }
    };
    const done = (error, result) => {
      beforeExit = noBeforeExit;
      if (error !== undefined && error !== null) postError(error);
      else complete(result);
    };
    // Only the first of callback/done/succeed/fail counts; one that threw did not count (AWS).
    const once = (fn) => (...args) => {
      if (!finished) {
        fn(...args);
        finished = true;
      }
    };
    const context = {
      get callbackWaitsForEmptyEventLoop() {
        return waitForEmptyEventLoop;
      },
      set callbackWaitsForEmptyEventLoop(value) {
        waitForEmptyEventLoop = value;
      },
      succeed: once((result) => done(null, result)),
      fail: once((error) => (error === undefined || error === null ? done('handled') : done(error, null))),
      done: once(done),
    };
    return [once(callback), context, () => { completed = true; }];
  }

  /** AWS's InvokeContext.attachEnvironmentData: the same fields, in the same order. */
  contextFor(context, headers) {
    const traceId = headers['lambda-runtime-trace-id'];
    if (traceId) process.env._X_AMZN_TRACE_ID = traceId;
    else delete process.env._X_AMZN_TRACE_ID;
    const env = this.env;
    const deadline = headers['lambda-runtime-deadline-ms'];
    return Object.assign(context, {
      functionVersion: env.AWS_LAMBDA_FUNCTION_VERSION,
      functionName: env.AWS_LAMBDA_FUNCTION_NAME,
      memoryLimitInMB: env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE, // a string, as AWS reads it
      logGroupName: env.AWS_LAMBDA_LOG_GROUP_NAME,
      logStreamName: env.AWS_LAMBDA_LOG_STREAM_NAME,
      clientContext: parseHeader(headers['lambda-runtime-client-context'], 'ClientContext'),
      identity: parseHeader(headers['lambda-runtime-cognito-identity'], 'CognitoIdentity'),
      invokedFunctionArn: headers['lambda-runtime-invoked-function-arn'],
      awsRequestId: headers['lambda-runtime-aws-request-id'],
      tenantId: headers['lambda-runtime-aws-tenant-id'],
      // Not clamped at 0: AWS's Node runtime returns deadline - now, negative past the deadline.
      getRemainingTimeInMillis: () => deadline - Date.now(),
    });
  }

  /**
   * A streamed response, buffered: the chunks the handler writes become one response, as when a
   * streaming function is called with Invoke on AWS (Lamina's Runtime API has no streaming mode).
   * A handler whose promise never settles fails with Runtime.NodeJsExit when the loop empties
   * (AWS's runtime would start the next GET and leave the invoke to time out).
   */
  async invokeStreaming(requestId, headers, body) {
    let settled = false;
    const fail = (error) => {
      beforeExit = noBeforeExit;
      if (settled) return;
      settled = true;
      logError('Invoke Error', error);
      this.finish(() => this.client.postError(requestId, intoError(error)), requestId, 'error');
    };
    beforeExit = () => fail(new NodeJsExit());
    const { Writable } = require('stream');
    const chunks = [];
    const highWaterMark = parseInt(this.handler[HIGH_WATER_MARK], 10);
    const stream = new Writable({
      ...(Number.isNaN(highWaterMark) ? {} : { highWaterMark }),
      write(chunk, _encoding, next) {
        chunks.push(Buffer.from(chunk));
        next();
      },
    });
    let contentType = 'application/octet-stream';
    stream.setContentType = (type) => { contentType = type; };
    try {
      const result = this.handler(JSON.parse(body), stream, this.contextFor({}, headers));
      if (!isPromise(result)) throw new Error('Streaming does not support non-async handlers.');
      if ((await result) !== undefined) console.warn('Streaming handlers ignore return values.');
      if (!stream.writableEnded) throw new Error('Response stream is not finished.');
      if (!stream.writableFinished) await new Promise((resolve) => stream.once('finish', resolve));
    } catch (error) {
      return fail(error);
    }
    beforeExit = noBeforeExit;
    if (settled) return undefined;
    settled = true;
    const payload = Buffer.concat(chunks);
    return this.finish(() => this.client.post(`/invocation/${encodeURIComponent(requestId)}/response`,
      payload, { 'Content-Type': contentType }), requestId, 'response');
  }

  /** POST with `send` once the output is drained, then go on to the next invoke. */
  finish(send, requestId, what) {
    Promise.resolve(afterStdioDrained(send)).then((status) => {
      if (status >= 300) {
        writeStderr(`lamina bootstrap: the Runtime API answered ${status} to the ${what} of request ${requestId}\n`);
      }
      this.scheduleNext();
    }, fatal);
  }

  reportAndExit(requestId, error, code) {
    Promise.resolve()
      .then(() => afterStdioDrained(() => this.client.postError(requestId, error)))
      .then(() => process.exit(code), () => process.exit(code));
  }
}

function parseHeader(value, name) {
  if (value === undefined) return undefined;
  try {
    return JSON.parse(value);
  } catch (error) {
    throw new Error(`Cannot parse ${name} as json: ${error.toString()}`);
  }
}

/** The Runtime API failed us: one line on stderr, then exit. */
function fatal(error) {
  if (error instanceof RuntimeApiError) {
    writeStderr(`lamina bootstrap: ${error.message}\n`);
    process.exit(EXIT_RUNTIME_API_ERROR);
  }
  // A bug here, not in user code: AWS logs it and reports it as a crash of the current invoke.
  console.log(`Unexpected Top Level Error: ${describe(error)}`);
  process.emit('uncaughtException', error);
}

function writeStderr(text) {
  try {
    fs.writeSync(2, text);
  } catch {
    // nowhere left to say it
  }
}

// --- main -----------------------------------------------------------------------------------------

async function main() {
  const env = process.env;
  patchConsole(env);
  watchStdio();
  let client;
  try {
    client = new RuntimeApiClient(env.AWS_LAMBDA_RUNTIME_API ?? '');
  } catch (error) {
    return fatal(error);
  }
  // Until the first invoke, a crash is an init error (AWS's index.mjs).
  const errorCallbacks = {
    uncaughtException: (error) => reportInitError(client, error, EXIT_UNCAUGHT_EXCEPTION),
    unhandledRejection: (error) => reportInitError(client, error, EXIT_UNHANDLED_REJECTION),
  };
  process.on('uncaughtException', (error) => {
    logError('Uncaught Exception', error);
    errorCallbacks.uncaughtException(error);
  });
  process.on('unhandledRejection', (reason, promise) => {
    const error = new UnhandledPromiseRejection(reason, promise);
    logError('Unhandled Promise Rejection', error);
    errorCallbacks.unhandledRejection(error);
  });
  process.on('beforeExit', () => beforeExit());

  let handler;
  try {
    handler = await loadHandler(env.LAMBDA_TASK_ROOT || process.cwd(), env._HANDLER ?? '');
  } catch (error) {
    // AWS's loader error surfaces as an uncaught exception of its entry module: same record, same exit.
    process.emit('uncaughtException', error);
    return undefined;
  }
  let runtime;
  try {
    runtime = new Runtime(client, handler, errorCallbacks);
  } catch (error) {
    process.emit('uncaughtException', error);
    return undefined;
  }
  if (env.AWS_LAMBDA_NODEJS_DISABLE_CALLBACK_WARNING === undefined && handler.length === 3 &&
      !runtime.isAsync && !runtime.streaming) {
    console.warn('AWS Lambda plans to remove support for callback-based function handlers starting with ' +
      'Node.js 24. You will need to update this function to use an async handler to use Node.js 24 or ' +
      'later. For more information and to provide feedback on this change, see ' +
      'https://github.com/aws/aws-lambda-nodejs-runtime-interface-client/issues/137. To disable this ' +
      'warning, set the AWS_LAMBDA_NODEJS_DISABLE_CALLBACK_WARNING environment variable.');
  }
  runtime.scheduleNext();
  return undefined;
}

function reportInitError(client, error, code) {
  Promise.resolve()
    .then(() => afterStdioDrained(() => client.postInitError(error)))
    .then(() => process.exit(code), (failure) => {
      writeStderr(`lamina bootstrap: ${failure.message}\n`);
      process.exit(code);
    });
}

main();
