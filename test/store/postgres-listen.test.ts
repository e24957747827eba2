import pino from "pino";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { listen, type Listener } from "../../src/store/postgres/listen.js";
import { clientConfig, openPostgres, type Postgres } from "../../src/store/postgres/pool.js";
import { startPostgres, type TestPostgres } from "../helpers/postgres.js";

/** What a listener received, with a way to wait for the next thing without sleeping. */
class Inbox {
  readonly payloads: string[] = [];
  reconnects = 0;
  private waiters: (() => void)[] = [];
  notify = (p: string) => {
    this.payloads.push(p);
    this.wake();
  };
  reconnected = () => {
    this.reconnects++;
    this.wake();
  };
  private wake() {
    for (const w of this.waiters.splice(0)) w();
  }
  async until(cond: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!cond()) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}; got ${JSON.stringify(this.payloads)}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }
}

describe("PostgreSQL LISTEN helper", () => {
  let pgc: TestPostgres;
  let db: Postgres;
  const log = pino({ level: "silent" });
  const listeners: Listener[] = [];
  beforeAll(async () => {
    pgc = await startPostgres();
    db = openPostgres({ url: pgc.url, log, applicationName: "notifier" });
  });
  afterEach(async () => {
    await Promise.all(listeners.splice(0).map((l) => l.close()));
  });
  afterAll(async () => {
    await db?.close();
    await pgc?.destroy();
  });

  const start = async (
    channel: string,
    app = "listener",
    beat: { heartbeatMs?: number; heartbeatTimeoutMs?: number } = {},
  ) => {
    const inbox = new Inbox();
    const config = clientConfig({ url: pgc.url, log, applicationName: app });
    listeners.push(await listen({ config, log, ...beat }, channel, inbox.notify, inbox.reconnected));
    return inbox;
  };
  const notify = (channel: string, payload: string) => db.query("SELECT pg_notify($1, $2)", [channel, payload]);
  /** The server process serving the listener's connection. */
  const backendPid = async (app: string) => {
    const out = await pgc.psql(
      `SELECT pid FROM pg_stat_activity WHERE application_name = '${app}' AND backend_type = 'client backend';`,
    );
    expect(out).toMatch(/^\d+$/); // exactly one
    return Number(out);
  };

  it("delivers NOTIFY payloads of its channel only, at commit of the sending transaction", async () => {
    const inbox = await start("changes");
    await notify("other", "not for us");
    await notify("changes", "one");
    await inbox.until(() => inbox.payloads.length >= 1, "the first notification");
    await db.tx(async (c) => {
      await c.query("SELECT pg_notify('changes', 'sent in a transaction')");
      await notify("changes", "sent outside, committed first");
      await inbox.until(() => inbox.payloads.length >= 2, "the committed notification");
      // Notifications arrive in commit order: the open transaction's has not come.
      expect(inbox.payloads).toEqual(["one", "sent outside, committed first"]);
    });
    await inbox.until(() => inbox.payloads.length >= 3, "the notification sent in a transaction");
    expect(inbox.payloads).toEqual(["one", "sent outside, committed first", "sent in a transaction"]);
    expect(inbox.reconnects).toBe(0);
  });

  it("reconnects after the database restarts, tells the caller, and receives again", async () => {
    const inbox = await start("restarts");
    await pgc.restart();
    await inbox.until(() => inbox.reconnects === 1, "onReconnect");
    await notify("restarts", "after the restart");
    await inbox.until(() => inbox.payloads.includes("after the restart"), "a notification after the restart");
  });

  it("reconnects when its session is terminated by an administrator", async () => {
    const inbox = await start("terminated", "listener-terminated");
    const pid = await backendPid("listener-terminated");
    await pgc.psql(`SELECT pg_terminate_backend(${pid});`);
    await inbox.until(() => inbox.reconnects === 1, "onReconnect");
    expect(await backendPid("listener-terminated")).not.toBe(pid);
    await notify("terminated", "again");
    await inbox.until(() => inbox.payloads.includes("again"), "a notification on the new connection");
  });

  it("notices a connection that went silent (a frozen server process) by its heartbeat, and reconnects", async () => {
    const inbox = await start("frozen", "listener-frozen", { heartbeatMs: 200, heartbeatTimeoutMs: 1000 });
    const pid = await backendPid("listener-frozen");
    process.kill(pid, "SIGSTOP"); // no error, no close: the connection just stops answering
    try {
      await inbox.until(() => inbox.reconnects === 1, "onReconnect after the heartbeat timed out");
    } finally {
      process.kill(pid, "SIGCONT");
    }
    await notify("frozen", "thawed");
    await inbox.until(() => inbox.payloads.includes("thawed"), "a notification on the new connection");
  });

  it("rejects with `unavailable` when the database is down at the start; close() ends its connection for good", async () => {
    await pgc.stop();
    try {
      await expect(start("down")).rejects.toMatchObject({ code: "unavailable" });
    } finally {
      await pgc.restart();
    }
    const inbox = await start("closing", "listener-closing");
    await backendPid("listener-closing");
    await listeners.pop()!.close();
    expect(await pgc.psql(`SELECT count(*) FROM pg_stat_activity WHERE application_name = 'listener-closing';`)).toBe(
      "0",
    );
    expect(inbox.reconnects).toBe(0);
  });
});
