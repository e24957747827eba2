import pg from "pg";
import type { Logger } from "pino";
import { safeErr } from "../../errors.js";
import { lostReason, mapDbError } from "./errors.js";

/**
 * LISTEN on its own long-lived connection, never a pooled one: a pooled connection goes back
 * to other work and its LISTEN with it. Notifications sent while the connection was down are
 * lost (NOTIFY is not queued for absent listeners), so after every reconnect the caller is
 * told (onReconnect) and re-reads whatever it may have missed. NOTIFY payloads are at most
 * 8000 bytes and arrive when the sending transaction commits.
 */

export interface Listener {
  close(): Promise<void>;
}

export interface ListenDeps {
  config: pg.ClientConfig;
  log: Logger;
  /**
   * A connection that went silent (a frozen server, a partition) sends no error: a SELECT 1
   * this often, answered within heartbeatTimeoutMs, proves it alive (default 30 s and 10 s).
   */
  heartbeatMs?: number;
  heartbeatTimeoutMs?: number;
  random?: () => number;
}

/** Starts listening; rejects (unavailable) if the first connection fails, then keeps reconnecting until close(). */
export async function listen(
  deps: ListenDeps,
  channel: string,
  onNotify: (payload: string) => void,
  onReconnect: () => void,
): Promise<Listener> {
  const { log } = deps;
  const random = deps.random ?? Math.random;
  let current: pg.Client | undefined;
  let closed = false;
  let retry: NodeJS.Timeout | undefined;
  let heartbeat: NodeJS.Timeout | undefined;
  let failures = 0;

  const open = async (): Promise<pg.Client> => {
    const c = new pg.Client(deps.config);
    const lost = (err?: Error) => {
      if (current !== c) return; // an old connection's late events
      current = undefined;
      clearInterval(heartbeat);
      log.warn({ channel, reason: lostReason(err, true) ?? "connection closed" }, "database notifications interrupted");
      c.end().catch(() => undefined);
      schedule();
    };
    c.on("error", lost);
    c.on("end", () => lost());
    c.on("notification", (m) => {
      if (m.channel !== channel) return;
      try {
        onNotify(m.payload ?? "");
      } catch (err) {
        log.error({ channel, err: safeErr(err) }, "notification handler failed");
      }
    });
    try {
      await c.connect();
      await c.query(`LISTEN ${c.escapeIdentifier(channel)}`);
    } catch (err) {
      c.end().catch(() => undefined);
      throw mapDbError(err, true);
    }
    current = c;
    const every = deps.heartbeatMs ?? 30_000;
    let beating = false;
    heartbeat = setInterval(() => {
      if (beating) return; // one heartbeat at a time: pg queues overlapping queries
      beating = true;
      let timer: NodeJS.Timeout | undefined;
      const silent = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error("Query read timeout")), deps.heartbeatTimeoutMs ?? 10_000);
      });
      Promise.race([c.query("SELECT 1"), silent])
        .catch((err: Error) => lost(err))
        .finally(() => {
          clearTimeout(timer);
          beating = false;
        });
    }, every);
    heartbeat.unref();
    return c;
  };

  const schedule = () => {
    if (closed) return;
    // Exponential backoff with jitter (0.1 s doubling to 5 s), so replicas do not reconnect in step.
    const delay = Math.min(5_000, 100 * 2 ** failures) * (0.5 + random() / 2);
    failures++;
    retry = setTimeout(() => {
      open().then(
        (c) => {
          failures = 0;
          if (closed) {
            // close() ran while this connection was being opened
            clearInterval(heartbeat);
            current = undefined;
            c.end().catch(() => undefined);
            return;
          }
          log.info({ channel }, "database notifications resumed");
          try {
            onReconnect();
          } catch (err) {
            log.error({ channel, err: safeErr(err) }, "reconnect handler failed");
          }
        },
        () => schedule(),
      );
    }, delay);
  };

  await open();
  return {
    close: async () => {
      closed = true;
      clearTimeout(retry);
      clearInterval(heartbeat);
      const c = current;
      current = undefined;
      await c?.end().catch(() => undefined);
    },
  };
}
