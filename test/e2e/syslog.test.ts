import { writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { afterAll, expect, test } from "vitest";
import { api } from "../helpers/api.js";
import { auditRecords, type Rec } from "../helpers/audit-files.js";
import type { TestDaemon } from "../helpers/daemon.js";
import { json, type Person } from "../helpers/people.js";
import { e2eConfig, startWorld } from "../helpers/scenario.js";
import { type SyslogReceiver, startSyslogReceiver } from "../helpers/syslog-receiver.js";
import { writeSyslogTls } from "../helpers/syslog-tls.js";
import { freePortOn } from "../helpers/listeners.js";
import { startPostgres } from "../helpers/postgres.js";
import { startReplicas } from "../helpers/replicas.js";
import { makePerson } from "../helpers/people.js";
import { tempDir } from "../helpers/tmp.js";

const cleanup: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanup.reverse()) await c().catch(() => undefined);
}, 120_000);

const SD = "sshca@32473";
const seqOf = (m: SyslogReceiver["received"][number]) => Number(m.message.sd[SD]!.seq);

/** The audit log as written so far (a line being appended right now is left for the next look). */
function records(dataDir: string): Rec[] {
  try {
    return auditRecords(dataDir);
  } catch {
    return [];
  }
}

/** Waits until the receiver holds the newest audit record (every one before it is checked by the caller). */
async function caughtUp(
  receiver: SyslogReceiver,
  daemon: TestDaemon,
  newest: () => Promise<number> = async () => records(daemon.dataDir).at(-1)?.seq ?? -1,
): Promise<number> {
  const until = Date.now() + 30_000;
  for (;;) {
    const head = await newest();
    if (receiver.received.some((m) => m.message.appName === "sshcad" && seqOf(m) === head)) return head;
    if (Date.now() > until)
      throw new Error(`syslog receiver: record ${head} not seen; got ${receiver.received.length}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function metric(daemon: TestDaemon, line: RegExp): Promise<number | undefined> {
  const text = String((await api(daemon, "GET", "/metrics")).body);
  const m = line.exec(text);
  return m ? Number(m[1]) : undefined;
}

async function eventually(what: string, check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`${what}: not in time`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const ask = async (who: Person, host: string, reason: string) =>
  json<{ id: string }>(
    await who.sshca(["login", "--role", "debug", "--host", host, "--reason", reason, "--no-wait", "--json"]),
  ).id;

/** Severity as the table in syslog-format says: routine work informational, the rest here notices. */
const sev = (type: string) => (["daemon.started", "audit.head_created", "certificate.fetched"].includes(type) ? 6 : 5);

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

/** Each message is the audit record it names, whole (its hash checks against the log), with the right header. */
function expectFaithful(receiver: SyslogReceiver, daemon: TestDaemon, pri: (type: string) => number): void {
  const bySeq = new Map(records(daemon.dataDir).map((r) => [r.seq, r]));
  for (const { message: m } of receiver.received.filter((x) => x.message.appName === "sshcad")) {
    const body = JSON.parse(m.msg) as Rec;
    const rec = bySeq.get(body.seq)!;
    expect(body).toEqual(rec);
    expect(m.sd[SD]).toMatchObject({ seq: String(rec.seq), hash: rec.hash, actor: rec.actor });
    expect(m).toMatchObject({ msgId: rec.type, hostname: hostname(), bom: true, pri: pri(rec.type) });
    expect(m.timestamp).toBe(new Date(rec.time).toISOString());
  }
}

test("syslog over TCP: every audit event in order, no duplicates across a daemon restart; a receiver outage (and a restart during it) loses nothing", async () => {
  const receiver = await startSyslogReceiver();
  cleanup.push(() => receiver.close());
  const config = e2eConfig({
    extra: {
      // A fixed port, so the people's CLI configs still point at the daemon after its restarts.
      listen: { address: "127.0.0.1", port: await freePortOn("127.0.0.1") },
      scanning: { enabled: false },
      syslog: [
        {
          name: "siem",
          url: `tcp://127.0.0.1:${receiver.port}`,
          from: "start",
          facility: "local3",
          retry: { initial: "1s", max: "1s" },
        },
      ],
    },
  });
  const w = await startWorld(config);
  let daemon = w.daemon;
  cleanup.push(() => daemon.stop());
  await ask(w.alice, "web-1", "first");
  let head = await caughtUp(receiver, daemon);
  expect(receiver.received.map(seqOf)).toEqual(range(1, head));

  // A request, and at once a clean stop: whatever was written before the stop was confirmed by the
  // receiver's close, the rest comes after the restart. Nothing twice, nothing missing.
  await ask(w.alice, "web-2", "just before the restart");
  expect((await daemon.stop()).code).toBe(0);
  daemon = await daemon.restart();
  await ask(w.carol, "web-1", "after the restart");
  head = await caughtUp(receiver, daemon);
  expect(receiver.received.map(seqOf)).toEqual(range(1, head));
  expect(new Set(receiver.received.map((m) => m.message.procId)).size).toBe(2); // two daemon processes
  expectFaithful(receiver, daemon, (type) => 19 * 8 + sev(type));
  await eventually(
    "the durable cursor at the head",
    async () => (await metric(daemon, /^sshca_syslog_lag_records\{destination="siem"\} (\d+)$/m)) === 0,
  );
  expect(await metric(daemon, /^sshca_syslog_sent_total\{destination="siem"\} (\d+)$/m)).toBeGreaterThan(0);

  // The receiver goes down. Events wait (the exporter retries with backoff), across a daemon restart.
  const before = receiver.received.length;
  const lastConn = receiver.connections.length - 1;
  await receiver.close();
  const down = [await ask(w.alice, "web-1", "while down 1"), await ask(w.carol, "web-2", "while down 2")];
  await daemon.proc.waitFor(/syslog (receiver unreachable|connection lost)/, 30_000);
  await eventually(
    "failures counted",
    async () => ((await metric(daemon, /^sshca_syslog_failures_total\{destination="siem"\} (\d+)$/m)) ?? 0) > 0,
  );
  expect((await metric(daemon, /^sshca_syslog_lag_records\{destination="siem"\} (\d+)$/m)) ?? 0).toBeGreaterThan(0);
  expect((await daemon.stop()).code).toBe(0);
  daemon = await daemon.restart();
  down.push(await ask(w.alice, "web-2", "while down 3"));
  await daemon.proc.waitFor(/syslog receiver unreachable/, 30_000);
  await receiver.reopen();
  head = await caughtUp(receiver, daemon);

  // Every record exactly in order on each connection, none missing overall.
  const seqs = receiver.received.map(seqOf);
  expect([...new Set(seqs)].sort((a, b) => a - b)).toEqual(range(1, head));
  let seen = 0;
  for (let conn = 0; conn < receiver.connections.length; conn++) {
    const mine = receiver.received.filter((m) => m.conn === conn).map(seqOf);
    if (mine.length === 0) continue;
    expect(mine).toEqual(range(mine[0]!, mine.at(-1)!)); // in order, contiguous
    expect(mine[0]!).toBeLessThanOrEqual(seen + 1); // no gap between connections
    seen = Math.max(seen, mine.at(-1)!);
  }
  // A resend after the outage repeats only what the last connection before it may not have delivered.
  const resent = seqs.slice(before).filter((s) => s <= seqs[before - 1]!);
  const tail = receiver.received.filter((m) => m.conn === lastConn).map(seqOf);
  expect(resent.every((s) => tail.includes(s))).toBe(true);
  const created = receiver.received
    .filter((m) => m.message.msgId === "request.created")
    .map((m) => (JSON.parse(m.message.msg) as Rec).fields.request as string);
  expect(down.every((id) => created.includes(id))).toBe(true);
  expectFaithful(receiver, daemon, (type) => 19 * 8 + sev(type));
}, 120_000);

test("syslog over TLS: the receiver's certificate is checked against caFile, sshcad shows its client certificate; a reload applies new settings without a gap", async () => {
  const good = writeSyslogTls(tempDir("syslog-tls"));
  const other = writeSyslogTls(tempDir("syslog-other"));
  const receiver = await startSyslogReceiver({
    tls: { key: good.serverKey, cert: good.serverCert, ca: good.caPem, requestCert: true },
  });
  cleanup.push(() => receiver.close());
  const siem = {
    name: "siem",
    url: `tls://127.0.0.1:${receiver.port}`,
    caFile: good.caFile,
    certFile: good.clientCertFile,
    keyFile: good.clientKeyFile,
    from: "start",
    retry: { initial: "1s", max: "1s" },
  };
  // The same receiver, but trusting another CA: the handshake must fail, nothing is sent.
  const impostor = { ...siem, name: "wrong", appName: "sshcad-wrong", caFile: other.caFile };
  const config = e2eConfig({ extra: { scanning: { enabled: false }, syslog: [siem, impostor] } }) as Record<
    string,
    unknown
  >;
  const w = await startWorld(config);
  let daemon = w.daemon;
  cleanup.push(() => daemon.stop());
  await ask(w.alice, "web-1", "over tls");
  let head = await caughtUp(receiver, daemon);
  expect(receiver.received.map(seqOf)).toEqual(range(1, head));
  expect(receiver.connections.length).toBeGreaterThan(0);
  expect(receiver.connections.every((c) => c.peerCn === "sshcad-client")).toBe(true);
  await eventually(
    "the impostor destination refused",
    async () => ((await metric(daemon, /^sshca_syslog_failures_total\{destination="wrong"\} (\d+)$/m)) ?? 0) > 0,
  );
  expect(receiver.received.some((m) => m.message.appName === "sshcad-wrong")).toBe(false);
  expectFaithful(receiver, daemon, (type) => 10 * 8 + sev(type));

  // Reload: the impostor goes, the facility changes. The exporter restarts from its cursor.
  const facilityBefore = receiver.received.length;
  writeFileSync(daemon.configPath, JSON.stringify({ ...config, syslog: [{ ...siem, facility: "local5" }] }));
  daemon.proc.proc.kill("SIGHUP");
  await daemon.proc.waitFor(/config reloaded/, 20_000);
  await ask(w.carol, "web-2", "after the reload");
  head = await caughtUp(receiver, daemon);
  expect(receiver.received.map(seqOf)).toEqual(range(1, head));
  const afterReload = receiver.received.slice(facilityBefore).map((m) => m.message);
  expect(afterReload.find((m) => m.msgId === "request.created")!.pri).toBe(21 * 8 + 5);

  // And across a restart, still nothing twice.
  expect((await daemon.stop()).code).toBe(0);
  daemon = await daemon.restart();
  head = await caughtUp(receiver, daemon);
  expect(receiver.received.map(seqOf)).toEqual(range(1, head));
  expect(receiver.received.some((m) => m.message.appName === "sshcad-wrong")).toBe(false);
}, 120_000);

test("syslog with two replicas on PostgreSQL: one sends at a time (the lease), each record once; when it stops the other takes over from the cursor; a database outage does not stop it", async () => {
  const pg = await startPostgres();
  cleanup.push(() => pg.destroy());
  const receiver = await startSyslogReceiver();
  cleanup.push(() => receiver.close());
  const r = await startReplicas(
    pg,
    2,
    e2eConfig({
      extra: {
        scanning: { enabled: false },
        syslog: [
          { name: "siem", url: `tcp://127.0.0.1:${receiver.port}`, from: "start", retry: { initial: "1s", max: "1s" } },
        ],
      },
    }),
  );
  cleanup.push(() => r.stop());
  const [a, b] = r.daemons as [TestDaemon, TestDaemon];
  const newest = async () => (await r.records()).at(-1)?.seq ?? -1;
  const alice = await makePerson("alice", b, await a.addUser("alice", ["dev"]));
  await ask(alice, "web-1", "on replica B");
  let head = await caughtUp(receiver, a, newest);
  expect(receiver.received.map(seqOf)).toEqual(range(1, head));
  expect(receiver.connections).toHaveLength(1); // one replica holds the destination
  const sender = receiver.received[0]!.message.procId;
  const [holder, other] = String(a.proc.proc.pid) === sender ? [a, b] : [b, a];

  // The holder stops cleanly (releasing the lease); the other replica carries on from the cursor.
  expect((await holder.stop()).code).toBe(0);
  const carol = await makePerson("carol", other, await other.addUser("carol", ["dev"]));
  await ask(carol, "web-2", "after the handover");
  head = await caughtUp(receiver, other, newest);
  expect(receiver.received.map(seqOf)).toEqual(range(1, head));
  expect(receiver.received.at(-1)!.message.procId).toBe(String(other.proc.proc.pid));
  expect((await r.records()).map((x) => x.seq)).toEqual(range(1, head));

  // A database outage does not stop the export: its lease and cursor are in the database, and
  // the exporter waits for it rather than giving up. Down for longer than a lease renewal
  // (every 10 s), so the exporter meets it when renewing and again when taking the lease anew.
  await pg.kill();
  await new Promise((x) => setTimeout(x, 15_000));
  await pg.restart();
  await eventually("the replica ready again", async () => (await api(other, "GET", "/readyz")).status === 200);
  const dan = await makePerson("dan", other, await other.addUser("dan", ["dev"]));
  await ask(dan, "web-1", "after the database outage");
  head = await caughtUp(receiver, other, newest);
  // Nothing missing, and first seen in order; what was sent while the cursor could not be
  // moved (the database down) is sent again: at least once.
  expect([...new Set(receiver.received.map(seqOf))]).toEqual(range(1, head));
}, 180_000);
