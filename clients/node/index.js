'use strict';
// snapdiffd client: JSON-RPC 2.0, one JSON object per line, on a Unix
// socket. No dependencies. See docs/protocol.md in the snapdiff repository.

const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const ErrorCodes = Object.freeze({
  PARSE_ERROR: -32700,
  INVALID_REQUEST: -32600,
  METHOD_NOT_FOUND: -32601,
  INVALID_PARAMS: -32602,
  INTERNAL_ERROR: -32603,
  ERROR: -32000,
  OVER_BUDGET: -32001,
  BUSY: -32002,
  NOT_FOUND: -32003,
  INVALID: -32004,
  IO: -32005,
  CHANGED: -32006,
  LOCKED: -32007,
  CORRUPT: -32008,
  NO_SPACE: -32009,
  UNSAFE_PATH: -32010,
  TOO_BIG: -32011,
  CANCELED: -32012,
});

class SnapdiffError extends Error {
  constructor(error, method) {
    super(error && error.message ? error.message : 'snapdiffd error');
    this.name = 'SnapdiffError';
    this.code = error ? error.code : ErrorCodes.ERROR;
    this.data = error ? error.data : undefined;
    this.method = method;
    /** true when the same request may simply be retried later */
    this.retry = !!(this.data && this.data.retry);
  }
}

/** The socket snapdiffd listens on by default. */
function defaultSocketPath() {
  const rt = process.env.XDG_RUNTIME_DIR;
  if (rt && rt.startsWith('/')) return path.join(rt, 'snapdiff.sock');
  const uid = typeof process.getuid === 'function' ? process.getuid() : os.userInfo().uid;
  return `/tmp/snapdiff-${uid}/snapdiff.sock`;
}

/**
 * One connection. Requests may be issued concurrently; the daemon answers
 * them in order, one at a time per connection (open several clients for
 * parallel work).
 */
class SnapdiffClient {
  constructor(options = {}) {
    this.socketPath = options.socketPath || defaultSocketPath();
    this.maxLineBytes = options.maxLineBytes || 64 * 1024 * 1024;
    this._nextId = 1;
    this._pending = new Map(); // id -> {resolve, reject, onFile, method}
    this._socket = null;
    this._connecting = null;
    this._buf = [];
    this._bufLen = 0;
    this._closed = false;
  }

  /** Connects (done lazily by the first call). */
  connect() {
    if (this._socket) return Promise.resolve(this);
    if (this._connecting) return this._connecting;
    this._connecting = new Promise((resolve, reject) => {
      const sock = net.createConnection({ path: this.socketPath });
      const onError = (err) => {
        this._connecting = null;
        reject(err);
      };
      sock.once('error', onError);
      sock.once('connect', () => {
        sock.removeListener('error', onError);
        this._socket = sock;
        this._closed = false;
        sock.on('data', (chunk) => this._onData(chunk));
        sock.on('error', (err) => this._fail(err));
        sock.on('close', () => this._fail(new Error('snapdiffd closed the connection')));
        resolve(this);
      });
    });
    return this._connecting;
  }

  /** Closes the connection; calls in flight are rejected. */
  close() {
    this._closed = true;
    if (this._socket) this._socket.destroy();
    this._fail(new Error('the client was closed'));
  }

  _fail(err) {
    this._socket = null;
    this._connecting = null;
    for (const p of this._pending.values()) p.reject(err);
    this._pending.clear();
  }

  _onData(chunk) {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(10, start);
      if (nl < 0) break;
      this._buf.push(chunk.subarray(start, nl));
      const line = Buffer.concat(this._buf).toString('utf8');
      this._buf = [];
      this._bufLen = 0;
      start = nl + 1;
      if (line.length) this._onLine(line);
    }
    if (start < chunk.length) {
      this._buf.push(chunk.subarray(start));
      this._bufLen += chunk.length - start;
      if (this._bufLen > this.maxLineBytes) {
        this._socket.destroy();
        this._fail(new Error('snapdiffd sent a line over maxLineBytes'));
      }
    }
  }

  _onLine(line) {
    let msg;
    try {
      msg = JSON.parse(line);
    } catch (err) {
      this._fail(new Error(`snapdiffd sent invalid JSON: ${err.message}`));
      return;
    }
    if (msg.method === 'snapshot.diff.file' && msg.params) {
      const p = this._pending.get(msg.params.id);
      if (p && p.onFile) p.onFile(msg.params.file);
      return;
    }
    if (msg.id === undefined) return;
    const p = this._pending.get(msg.id);
    if (!p) return;
    this._pending.delete(msg.id);
    if (msg.error) p.reject(new SnapdiffError(msg.error, p.method));
    else p.resolve(msg.result);
  }

  /** Sends any method; resolves with its result. */
  async call(method, params = {}, onFile = null) {
    await this.connect();
    const id = this._nextId++;
    const line = JSON.stringify({ jsonrpc: '2.0', id, method, params }) + '\n';
    return new Promise((resolve, reject) => {
      this._pending.set(id, { resolve, reject, onFile, method });
      this._socket.write(line);
    });
  }

  ping() {
    return this.call('service.ping');
  }

  stats() {
    return this.call('service.stats');
  }

  track(params) {
    return this.call('snapshot.track', params);
  }

  log(params) {
    return this.call('snapshot.log', params);
  }

  /** Changed paths since `from` (the worktree is tracked first). */
  patch(params) {
    return this.call('snapshot.patch', params);
  }

  restore(params) {
    return this.call('snapshot.restore', params);
  }

  revert(params) {
    return this.call('snapshot.revert', params);
  }

  /** A bounded slice of one file's body: {data, encoding, size, eof, ...}. */
  file(params) {
    return this.call('snapshot.file', params);
  }

  /** The bytes of a snapshot.file result. */
  static fileBytes(result) {
    return Buffer.from(result.data, result.encoding === 'base64' ? 'base64' : 'utf8');
  }

  /** The whole diff at once: {from, to, files, totals} (stream:false). */
  diff(params) {
    return this.call('snapshot.diff', { ...params, stream: false });
  }

  /**
   * The streamed diff: yields each file as soon as the daemon has it; the
   * iterator's return value (and `result` once done) holds {from, to,
   * totals}. Breaking out of the loop closes this connection, which cancels
   * the work in the daemon.
   */
  diffStream(params) {
    const client = this;
    const queue = [];
    let wake = null;
    let done = false;
    let failure = null;
    let final;
    const notify = () => {
      if (wake) {
        const w = wake;
        wake = null;
        w();
      }
    };
    // Backpressure: past HIGH queued files the socket is paused, so the
    // daemon stops producing (it drops a client that stalls for its
    // --write-timeout, 30 s by default).
    const HIGH = 256;
    const started = this.call('snapshot.diff', { ...params, stream: true }, (file) => {
      queue.push(file);
      if (queue.length >= HIGH && client._socket) client._socket.pause();
      notify();
    }).then(
      (result) => {
        final = result;
        iter.result = result;
        done = true;
        notify();
      },
      (err) => {
        failure = err;
        done = true;
        notify();
      },
    );
    const iter = {
      result: undefined,
      [Symbol.asyncIterator]() {
        return this;
      },
      async next() {
        for (;;) {
          if (queue.length) {
            const value = queue.shift();
            if (queue.length < HIGH / 2 && client._socket && client._socket.isPaused()) {
              client._socket.resume();
            }
            return { value, done: false };
          }
          if (done) {
            await started;
            if (failure) throw failure;
            return { value: final, done: true };
          }
          await new Promise((resolve) => {
            wake = resolve;
          });
        }
      },
      async return(value) {
        if (!done) client.close();
        return { value, done: true };
      },
    };
    return iter;
  }
}

module.exports = { SnapdiffClient, SnapdiffError, ErrorCodes, defaultSocketPath };
