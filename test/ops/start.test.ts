import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { type AddressInfo, connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { email, type GqlResponse, ME, PASSWORD, SIGN_IN, SIGN_UP } from '../helpers.js';
import { freePort } from '../ports.js';
import { childEnv } from './npm.js';

/**
 * The two-command promise: `npm start` with no DATABASE_URL brings up an embedded Postgres,
 * migrates and serves; SIGTERM shuts all of it down cleanly.
 */

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const READY_WITHIN_MS = 60_000;
const EXIT_WITHIN_MS = 15_000;

let dataDir: string;
const children: ChildProcess[] = [];

type Started = { child: ChildProcess; base: string; output: () => string; exited: Promise<number | null> };

/**
 * `tsx src/main.ts` as `npm start` runs it, with the default embedded Postgres (on a Unix
 * socket), in its own process group so cleanup can reach everything.
 */
async function start(): Promise<Started> {
  const port = await freePort();
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PORT: String(port),
    HOST: '127.0.0.1',
    DATA_DIR: dataDir,
    LOG_LEVEL: 'silent',
  };
  delete env.DATABASE_URL;
  delete env.TEST_DATABASE_URL;
  delete env.NODE_ENV;
  delete env.EMBEDDED_PG_PORT;
  const child = spawn(join(ROOT, 'node_modules/.bin/tsx'), ['src/main.ts'], {
    cwd: ROOT,
    env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return watch(child, port);
}

/** A started child, cleaned up after the tests, with its output collected and its exit awaited. */
function watch(child: ChildProcess, port: number): Started {
  children.push(child);
  let out = '';
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, base: `http://127.0.0.1:${port}`, output: () => out, exited };
}

/** Polls /readyz until 200; fails early with the process output if the process dies. */
async function waitReady(s: Started): Promise<void> {
  const deadline = Date.now() + READY_WITHIN_MS;
  let dead = false;
  void s.exited.then(() => {
    dead = true;
  });
  while (Date.now() < deadline) {
    if (dead) throw new Error(`authgate exited before it was ready:\n${s.output()}`);
    try {
      const res = await fetch(`${s.base}/readyz`, { signal: AbortSignal.timeout(2000) });
      if (res.status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 150));
  }
  throw new Error(`authgate was not ready within ${READY_WITHIN_MS} ms:\n${s.output()}`);
}

async function gql(base: string, query: string, variables?: Record<string, unknown>, token?: string) {
  const res = await fetch(`${base}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  return (await res.json()) as GqlResponse;
}

/** Resolves with the exit code, or rejects when the process is still running after `ms`. */
function exitWithin(s: Started, ms: number): Promise<number | null> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    s.exited,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`still running ${ms} ms after SIGTERM:\n${s.output()}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

function portRefuses(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect({ host: '127.0.0.1', port });
    sock.setTimeout(2000);
    sock.once('connect', () => {
      sock.destroy();
      resolve(false);
    });
    sock.once('timeout', () => {
      sock.destroy();
      resolve(false);
    });
    sock.once('error', () => resolve(true));
  });
}

/** The command lines of the Postgres processes whose data is in `dir`. */
function postgresOf(dir: string): string[] {
  return execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' })
    .split('\n')
    .filter((l) => l.includes('postgres') && l.includes(dir));
}

/** The TCP ports process `pid` listens on, from /proc (Linux): its sockets that are listening TCP sockets. */
function tcpPortsOf(pid: number): number[] {
  const listening = new Map<string, number>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    if (!existsSync(table)) continue;
    for (const row of readFileSync(table, 'utf8').trim().split('\n').slice(1)) {
      const f = row.trim().split(/\s+/);
      if (f[3] === '0A') listening.set(f[9]!, Number.parseInt(f[1]!.split(':')[1]!, 16));
    }
  }
  return readdirSync(`/proc/${pid}/fd`)
    .map((fd) => /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`))?.[1])
    .flatMap((inode) => (inode && listening.has(inode) ? [listening.get(inode)!] : []));
}

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'authgate-start-'));
});

afterAll(async () => {
  for (const c of children) {
    if (!c.pid) continue;
    try {
      // The whole group this test started (npm or tsx, the gateway and its Postgres), even
      // when its leader has exited: what outlives the leader is what these tests look for.
      process.kill(-c.pid, 'SIGKILL');
    } catch {}
  }
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

describe('npm start without DATABASE_URL', () => {
  const mail = email('start');
  let first: Started;

  it(
    'starts an embedded Postgres on a Unix socket only, migrates, and serves sign-up and me',
    async () => {
      first = await start();
      await waitReady(first);
      expect(first.output()).toContain(
        `starting embedded Postgres (data in ${dataDir}/pg, Unix socket in ${dataDir}/pg)`,
      );
      expect((await fetch(`${first.base}/healthz`)).status).toBe(200);
      // Postgres was told to listen on no address and on a socket in its data folder, and does.
      const opts = readFileSync(join(dataDir, 'pg', 'postmaster.opts'), 'utf8');
      expect(opts).toContain('"listen_addresses="');
      expect(opts).toContain(`"unix_socket_directories="${dataDir}/pg""`);
      expect(existsSync(join(dataDir, 'pg', '.s.PGSQL.5432'))).toBe(true);
      const postmaster = Number(readFileSync(join(dataDir, 'pg', 'postmaster.pid'), 'utf8').split('\n')[0]);
      expect(tcpPortsOf(postmaster)).toEqual([]);

      const up = await gql(first.base, SIGN_UP, {
        input: { email: mail, password: PASSWORD, data: { username: 'starter' } },
      });
      expect(up.errors).toBeUndefined();
      const me = await gql(first.base, ME, {}, up.data!.signUp.accessToken);
      expect(me.errors).toBeUndefined();
      expect(me.data!.me).toMatchObject({ id: up.data!.signUp.user.id, email: mail, profile: { username: 'starter' } });

      // No SMTP_URL: a local catcher takes the mail and its link is printed on the console.
      expect(first.output()).toContain('mails go to a local catcher');
      const asked = await gql(first.base, 'mutation M($e: String!) { signInWithOtp(email: $e) }', { e: mail });
      expect(asked.data).toEqual({ signInWithOtp: true });
      const deadline = Date.now() + 5000;
      let link: RegExpExecArray | null = null;
      while (!link && Date.now() < deadline) {
        link = /mail to (\S+): Your sign-in link\n\s+(http\S+)/.exec(first.output());
        if (!link) await new Promise((r) => setTimeout(r, 50));
      }
      expect(link?.[1]).toBe(mail);
      const token = new URL(link![2]!).searchParams.get('token');
      const signedIn = await gql(
        first.base,
        'mutation V($t: String!) { verifyMagicLink(token: $t) { accessToken user { id } } }',
        {
          t: token,
        },
      );
      expect(signedIn.data!.verifyMagicLink.user.id).toBe(up.data!.signUp.user.id);
      // The six-digit code is printed too, under its link: verifyOtp completes locally as well.
      const printed = first.output().length;
      expect((await gql(first.base, 'mutation M($e: String!) { signInWithOtp(email: $e) }', { e: mail })).errors).toBe(
        undefined,
      );
      let code: RegExpExecArray | null = null;
      while (!code && Date.now() < deadline + 5000) {
        code = /Your sign-in link\n\s+http\S+\n\s+code: (\d{6})\n/.exec(first.output().slice(printed));
        if (!code) await new Promise((r) => setTimeout(r, 50));
      }
      const byCode = await gql(
        first.base,
        'mutation O($e: String!, $c: String!) { verifyOtp(email: $e, code: $c) { user { id } } }',
        { e: mail, c: code?.[1] },
      );
      expect(byCode.data?.verifyOtp.user.id).toBe(up.data!.signUp.user.id);
      // The link was the address's first proof: the password set before it is gone, and
      // the session the link made (a fresh sign-in) sets one again.
      expect(
        (await gql(first.base, SIGN_IN, { input: { email: mail, password: PASSWORD } })).errors?.[0]?.extensions?.code,
      ).toBe('INVALID_CREDENTIALS');
      const reset = await gql(
        first.base,
        'mutation U($input: UpdateUserInput!) { updateUser(input: $input) { id } }',
        { input: { password: PASSWORD } },
        signedIn.data!.verifyMagicLink.accessToken,
      );
      expect(reset.errors).toBeUndefined();
    },
    READY_WITHIN_MS + 10_000,
  );

  it(
    'a second start on the same DATA_DIR exits ≠ 0 saying its Postgres already runs, and the first keeps serving',
    async () => {
      const second = await start();
      expect(await exitWithin(second, READY_WITHIN_MS)).not.toBe(0);
      const pid = readFileSync(join(dataDir, 'pg', 'postmaster.pid'), 'utf8').split('\n')[0];
      expect(second.output()).toContain(
        `authgate: the embedded Postgres of ${dataDir}/pg is already running (pid ${pid}): another authgate? stop it, or set DATA_DIR`,
      );
      expect(second.output()).not.toContain('unknown error');
      expect(second.output()).not.toMatch(/^\s+at /m);
      // The second Postgres gave up at the data folder's lock, before touching the socket.
      const res = await gql(first.base, SIGN_IN, { input: { email: mail, password: PASSWORD } });
      expect(res.data?.signIn?.user?.email).toBe(mail);
    },
    READY_WITHIN_MS + 10_000,
  );

  it(
    'on SIGTERM finishes the requests in flight, stops Postgres and exits 0',
    async () => {
      // Sign-ins spend an argon2 hash each before their database work, so they are still
      // running when the signal arrives; the database must outlive them.
      const inFlight = Array.from({ length: 3 }, () =>
        gql(first.base, SIGN_IN, { input: { email: mail, password: PASSWORD } }),
      );
      await new Promise((r) => setTimeout(r, 20));
      expect(first.child.kill('SIGTERM')).toBe(true);
      const outcomes = (await Promise.allSettled(inFlight)).map((r) =>
        r.status === 'rejected'
          ? `failed: ${(r.reason as Error).message}`
          : (r.value.errors?.[0]?.extensions?.code ?? r.value.data?.signIn?.user?.email),
      );
      expect(outcomes).toEqual([mail, mail, mail]);
      expect(await exitWithin(first, EXIT_WITHIN_MS)).toBe(0);
      expect(postgresOf(dataDir)).toEqual([]);
      expect(existsSync(join(dataDir, 'pg', '.s.PGSQL.5432'))).toBe(false);
    },
    EXIT_WITHIN_MS + 10_000,
  );

  it(
    'keeps its data in DATA_DIR across a restart, and exits 0 on SIGTERM again',
    async () => {
      const s = await start();
      await waitReady(s);
      const res = await gql(s.base, SIGN_IN, { input: { email: mail, password: PASSWORD } });
      expect(res.errors).toBeUndefined();
      expect(res.data!.signIn.user.email).toBe(mail);

      expect(s.child.kill('SIGTERM')).toBe(true);
      expect(await exitWithin(s, EXIT_WITHIN_MS)).toBe(0);
      expect(postgresOf(dataDir)).toEqual([]);
    },
    READY_WITHIN_MS + EXIT_WITHIN_MS + 10_000,
  );
});

/**
 * `npm start` as a user runs it, in its own session: npm, its script and whatever they start
 * (the gateway, its Postgres) share the process group this test can watch and clean up. Its
 * Postgres listens on TCP (EMBEDDED_PG_PORT), the other way it can run.
 */
describe('npm start, signalled or failing, leaves nothing behind', () => {
  let npmDataDir: string;
  let npmPgPort: number;

  beforeAll(async () => {
    npmDataDir = await mkdtemp(join(tmpdir(), 'authgate-npm-start-'));
    // As root the embedded Postgres runs as the user `postgres`, which must reach its folder.
    await chmod(npmDataDir, 0o755);
    npmPgPort = await freePort();
  });
  afterAll(async () => {
    if (npmDataDir) await rm(npmDataDir, { recursive: true, force: true });
  });

  async function npmStart(port: number, args = ['start'], cwd = ROOT): Promise<Started> {
    const child = spawn('npm', args, {
      cwd,
      env: childEnv({
        PORT: String(port),
        HOST: '127.0.0.1',
        EMBEDDED_PG_PORT: String(npmPgPort),
        DATA_DIR: npmDataDir,
        LOG_LEVEL: 'silent',
      }),
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return watch(child, port);
  }

  /** Whether any process of the group `pgid` (npm's, as it was spawned detached) still runs. */
  function groupAlive(pgid: number): boolean {
    try {
      process.kill(-pgid, 0);
      return true;
    } catch (err) {
      return (err as NodeJS.ErrnoException).code !== 'ESRCH';
    }
  }

  /** Polls until nothing of the group runs; returns what still does after `ms`. */
  async function groupGone(pgid: number, ms: number): Promise<string> {
    const deadline = Date.now() + ms;
    while (groupAlive(pgid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    if (!groupAlive(pgid)) return '';
    return execFileSync('ps', ['-eo', 'pid,ppid,pgid,user,args'], { encoding: 'utf8' })
      .split('\n')
      .filter((l) => l.trim().split(/\s+/)[2] === String(pgid))
      .join('\n');
  }

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(
      `${signal} to the npm process stops npm, the gateway and its Postgres`,
      async () => {
        const s = await npmStart(await freePort());
        await waitReady(s);
        const pgid = s.child.pid!;
        expect(groupAlive(pgid)).toBe(true);
        expect(postgresOf(npmDataDir)).not.toEqual([]);
        expect(s.output()).toContain(
          `starting embedded Postgres (data in ${npmDataDir}/pg, on 127.0.0.1:${npmPgPort})`,
        );
        expect(await portRefuses(npmPgPort)).toBe(false);

        process.kill(pgid, signal); // npm's pid only, as `kill <pid>` does
        expect(await groupGone(pgid, EXIT_WITHIN_MS)).toBe('');
        expect(await portRefuses(npmPgPort)).toBe(true);
        expect(postgresOf(npmDataDir)).toEqual([]);
        expect(s.output()).toContain('draining');
      },
      READY_WITHIN_MS + EXIT_WITHIN_MS + 10_000,
    );
  }

  it(
    'SIGTERM to the npx process of `npx authgate start` stops the gateway and its Postgres',
    async () => {
      // A project with authgate installed: this checkout, linked as npm would install it.
      const project = await mkdtemp(join(tmpdir(), 'authgate-npx-'));
      try {
        await mkdir(join(project, 'node_modules', '.bin'), { recursive: true });
        await writeFile(join(project, 'package.json'), '{ "name": "npx-start", "private": true }\n');
        await symlink(ROOT, join(project, 'node_modules', 'authgate'));
        await symlink('../authgate/bin/authgate.mjs', join(project, 'node_modules', '.bin', 'authgate'));
        const s = await npmStart(await freePort(), ['exec', '--', 'authgate', 'start'], project);
        await waitReady(s);
        const pgid = s.child.pid!;
        // npm runs the command through `sh -c`, which dies of SIGTERM without passing it on.
        process.kill(pgid, 'SIGTERM');
        expect(await groupGone(pgid, EXIT_WITHIN_MS)).toBe('');
        expect(await portRefuses(npmPgPort)).toBe(true);
        expect(s.output()).toContain('npm has exited, stopping');
      } finally {
        await rm(project, { recursive: true, force: true });
      }
    },
    READY_WITHIN_MS + EXIT_WITHIN_MS + 10_000,
  );

  it(
    'a start whose PORT is taken exits ≠ 0 naming the port and PORT, and stops its Postgres',
    async () => {
      const taken = createServer();
      await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
      const port = (taken.address() as AddressInfo).port;
      try {
        const s = await npmStart(port);
        const code = await exitWithin(s, READY_WITHIN_MS);
        expect(code).not.toBe(0);
        // The embedded Postgres was up before the listen failed.
        expect(s.output()).toContain('starting embedded Postgres');
        expect(s.output()).toContain(`authgate: port ${port} is in use (set PORT)`);
        expect(s.output()).not.toContain('unknown error');
        expect(s.output()).not.toMatch(/^\s+at /m);
        expect(await groupGone(s.child.pid!, EXIT_WITHIN_MS)).toBe('');
        expect(await portRefuses(npmPgPort)).toBe(true);
        expect(postgresOf(npmDataDir)).toEqual([]);
      } finally {
        await new Promise((resolve) => taken.close(resolve));
      }
    },
    READY_WITHIN_MS + EXIT_WITHIN_MS + 10_000,
  );

  it(
    'a start whose EMBEDDED_PG_PORT is taken exits ≠ 0 and says so',
    async () => {
      const taken = createServer();
      await new Promise<void>((resolve) => taken.listen(npmPgPort, '127.0.0.1', resolve));
      try {
        const s = await npmStart(await freePort());
        expect(await exitWithin(s, READY_WITHIN_MS)).not.toBe(0);
        expect(s.output()).toContain(`port ${npmPgPort} is in use (another authgate? set EMBEDDED_PG_PORT)`);
        expect(s.output()).not.toContain('unknown error');
        expect(await groupGone(s.child.pid!, EXIT_WITHIN_MS)).toBe('');
      } finally {
        await new Promise((resolve) => taken.close(resolve));
      }
    },
    READY_WITHIN_MS + EXIT_WITHIN_MS + 10_000,
  );
});
