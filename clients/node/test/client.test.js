'use strict';
// Runs the client against a real snapdiffd on a temporary socket.
// SNAPDIFFD names the daemon binary (default: ../../build/service/snapdiffd).

const { test, before, after } = require('node:test');
const assert = require('node:assert');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { SnapdiffClient, SnapdiffError, ErrorCodes } = require('..');

const daemonPath =
  process.env.SNAPDIFFD || path.resolve(__dirname, '../../../build/service/snapdiffd');
let dir, sock, daemon, wt, store;

function canConnect(p) {
  return new Promise((resolve) => {
    const s = net.createConnection({ path: p });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'snapdiff-node-'));
  sock = path.join(dir, 'd.sock');
  wt = path.join(dir, 'wt');
  store = path.join(dir, 'store');
  daemon = spawn(daemonPath, ['--foreground', '--socket', sock, '--log-level', 'warn'], {
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  for (let i = 0; i < 500 && !(await canConnect(sock)); i++) {
    await new Promise((r) => setTimeout(r, 20));
  }
  fs.mkdirSync(path.join(wt, 'src'), { recursive: true });
  fs.writeFileSync(path.join(wt, 'keep.txt'), 'a\nb\nc\n');
  fs.writeFileSync(path.join(wt, 'src', 'main.c'), 'int a;\nint b;\n');
  fs.writeFileSync(path.join(wt, 'bin.dat'), Buffer.from([0, 1, 2, 255]));
});

after(async () => {
  const exited = new Promise((resolve) => daemon.once('exit', (code) => resolve(code)));
  daemon.kill('SIGTERM');
  assert.strictEqual(await exited, 0);
  assert.ok(!fs.existsSync(sock), 'socket removed');
  fs.rmSync(dir, { recursive: true, force: true });
});

test('ping and stats', async () => {
  const c = new SnapdiffClient({ socketPath: sock });
  const p = await c.ping();
  assert.strictEqual(p.pong, true);
  const s = await c.stats();
  assert.strictEqual(s.memory_limit, 64 * 1024 * 1024);
  assert.ok(s.live_bytes > 0 && s.peak_bytes >= s.live_bytes);
  c.close();
});

test('track, log, diff (streamed and whole), patch, file, revert, restore', async () => {
  const c = new SnapdiffClient({ socketPath: sock });
  const t1 = await c.track({ worktree: wt, store, label: 'first' });
  assert.strictEqual(t1.tree.length, 40);
  assert.strictEqual(t1.files, 3);

  fs.writeFileSync(path.join(wt, 'src', 'main.c'), 'int a;\nint B;\nint c;\n');
  fs.writeFileSync(path.join(wt, 'new.txt'), 'fresh\n');
  fs.unlinkSync(path.join(wt, 'keep.txt'));
  const t2 = await c.track({ worktree: wt, store });

  const log = await c.log({ store });
  assert.deepStrictEqual(log.map((s) => s.tree), [t1.tree, t2.tree]);
  assert.strictEqual(log[0].label, 'first');

  const whole = await c.diff({ store, from: t1.tree, to: t2.tree });
  assert.deepStrictEqual(whole.files.map((f) => f.path), ['keep.txt', 'new.txt', 'src/main.c']);
  const main = whole.files[2];
  assert.strictEqual(main.additions, 2);
  assert.strictEqual(main.deletions, 1);
  assert.match(main.patch, /^diff --git a\/src\/main.c b\/src\/main.c/);

  const files = [];
  const stream = c.diffStream({ store, from: 'first', to: t2.tree });
  for await (const f of stream) files.push(f);
  assert.deepStrictEqual(files, whole.files);
  assert.deepStrictEqual(stream.result.totals.files, 3);

  const oc = await c.diff({ store, from: t1.tree, to: t2.tree, format: 'opencode' });
  assert.deepStrictEqual(oc[2], {
    file: 'src/main.c',
    patch: main.patch,
    additions: 2,
    deletions: 1,
    status: 'modified',
  });

  fs.writeFileSync(path.join(wt, 'later.txt'), 'x\n');
  const patch = await c.patch({ worktree: wt, store, from: t1.tree });
  assert.deepStrictEqual(patch.files, ['keep.txt', 'later.txt', 'new.txt', 'src/main.c']);

  const slice = await c.file({ store, tree: t2.tree, path: 'src/main.c', offset: 7, length: 6 });
  assert.strictEqual(slice.encoding, 'utf8');
  assert.strictEqual(slice.data, 'int B;');
  const bin = await c.file({ store, tree: t1.tree, path: 'bin.dat' });
  assert.strictEqual(bin.encoding, 'base64');
  assert.deepStrictEqual([...SnapdiffClient.fileBytes(bin)], [0, 1, 2, 255]);

  const rv = await c.revert({ worktree: wt, store, tree: t1.tree, paths: ['keep.txt'] });
  assert.strictEqual(rv.ok, true);
  assert.strictEqual(fs.readFileSync(path.join(wt, 'keep.txt'), 'utf8'), 'a\nb\nc\n');
  const rs = await c.restore({ worktree: wt, store, tree: t1.tree });
  assert.strictEqual(rs.ok, true);
  assert.strictEqual(fs.readFileSync(path.join(wt, 'src', 'main.c'), 'utf8'), 'int a;\nint b;\n');
  c.close();
});

test('errors carry codes a program can act on', async () => {
  const c = new SnapdiffClient({ socketPath: sock });
  await assert.rejects(c.call('no.such.method'), (e) => {
    assert.ok(e instanceof SnapdiffError);
    assert.strictEqual(e.code, ErrorCodes.METHOD_NOT_FOUND);
    return true;
  });
  await assert.rejects(c.diff({ store, from: 5 }), (e) => e.code === ErrorCodes.INVALID_PARAMS);
  await assert.rejects(c.diff({ store, from: 'nope', to: 'nope' }), (e) => {
    assert.strictEqual(e.code, ErrorCodes.NOT_FOUND);
    assert.strictEqual(e.data.error, 'not_found');
    assert.strictEqual(e.retry, false);
    return true;
  });
  await assert.rejects(
    c.revert({ worktree: wt, store, tree: 'first', paths: ['../x'] }),
    (e) => e.code === ErrorCodes.UNSAFE_PATH,
  );
  assert.strictEqual((await c.ping()).pong, true);
  c.close();
});

test('breaking out of a streamed diff closes the connection; others go on', async () => {
  for (let i = 0; i < 200; i++) fs.writeFileSync(path.join(wt, `many-${i}.txt`), `line ${i}\n`);
  const tracker = new SnapdiffClient({ socketPath: sock });
  const t = await tracker.track({ worktree: wt, store });
  tracker.close();
  const c = new SnapdiffClient({ socketPath: sock });
  let n = 0;
  for await (const f of c.diffStream({ store, from: 'first', to: t.tree })) {
    assert.ok(f.path);
    if (++n === 3) break;
  }
  assert.strictEqual(n, 3);
  const other = new SnapdiffClient({ socketPath: sock });
  assert.strictEqual((await other.ping()).pong, true);
  other.close();
});

test('concurrent clients', async () => {
  const clients = Array.from({ length: 6 }, () => new SnapdiffClient({ socketPath: sock }));
  const results = await Promise.all(clients.map((c) => c.diff({ store, from: 'first', to: 'first' })));
  for (const r of results) assert.strictEqual(r.totals.files, 0);
  clients.forEach((c) => c.close());
});
