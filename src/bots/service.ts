import type { Logger } from "pino";
import type { AccessService } from "../access/service.js";
import type { Deadlines } from "../access/deadlines.js";
import { randomBase32 } from "../auth/tokens.js";
import type { Config } from "../config/schema.js";
import type { AccessRequest } from "../domain/request.js";
import { safeErr } from "../errors.js";
import { readSecret } from "../notify/start.js";
import type { Storage } from "../store/port.js";
import { askBot } from "./caller.js";

/** The approver bots a pending request still has to ask (each once). Pure. */
export function botsToAsk(req: AccessRequest): string[] {
  if (req.state !== "pending") return [];
  const named = new Set((req.stages ?? []).flatMap((s) => s.bots ?? []));
  return [...named].filter((b) => req.bots?.[b] === undefined).sort();
}

export interface BotDeps {
  config: () => Config;
  access: AccessService;
  storage: Pick<Storage, "claim" | "release">;
  now: () => Date;
  random: (n: number) => Buffer;
  log: Logger;
  /** Shared secrets by bot name (read at start: approverBots changes need a restart). */
  secrets: ReadonlyMap<string, string>;
}

/**
 * Asks approver bots about pending requests whose stages name them: once per request and bot,
 * derived from the request (its `bots` answers), so after a restart a bot not yet answered is
 * asked then. One replica asks (a lease per request and bot). The answer, whatever it is, goes to
 * AccessService.botAnswered, which audits it and counts a yes.
 */
export class BotService {
  private readonly inFlight = new Set<string>();
  private readonly due: Deadlines;
  private readonly stopping = new AbortController();
  private tickQueued = false;

  constructor(private readonly deps: BotDeps) {
    this.due = deps.access.deadlines((req) => (botsToAsk(req).length > 0 ? 0 : undefined));
  }

  /** Reads each configured bot's secret; a missing one stops the start with its name. */
  static async secrets(config: Config, env: NodeJS.ProcessEnv): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    for (const [name, bot] of Object.entries(config.approverBots))
      out.set(name, await readSecret(`approver bot ${name}`, bot, env));
    return out;
  }

  /** A tick soon (once for a burst of changes), off the caller's path. */
  requestTick(): void {
    if (this.tickQueued) return;
    this.tickQueued = true;
    setImmediate(() => {
      this.tickQueued = false;
      this.tick();
    });
  }

  tick(): void {
    if (this.stopping.signal.aborted) return;
    for (const id of this.due.take(this.deps.now().getTime())) {
      const req = this.deps.access.get(id);
      if (!req) continue;
      // Due until its answers are recorded (which tracks it anew): a call that could not be
      // made or recorded is tried again at a later tick.
      this.due.track(req);
      for (const bot of botsToAsk(req)) void this.ask(req, bot);
    }
  }

  stop(): void {
    this.stopping.abort();
  }

  private async ask(req: AccessRequest, name: string): Promise<void> {
    const key = `${req.id}:${name}`;
    if (this.inFlight.has(key)) return;
    const bot = Object.hasOwn(this.deps.config().approverBots, name)
      ? this.deps.config().approverBots[name]
      : undefined;
    const secret = this.deps.secrets.get(name);
    this.inFlight.add(key);
    try {
      if (!bot || !secret) {
        await this.deps.access.botAnswered(req.id, name, {
          answer: "error",
          error: `approver bot ${name} is not configured (approverBots changes need a restart)`,
          durationMs: 0,
        });
        return;
      }
      if (!(await this.deps.storage.claim("bot", key, (bot.timeout + 30) * 1000))) return;
      const nonce = randomBase32(this.deps.random, 16);
      const result = await askBot(name, bot, secret, req, nonce, this.deps.now, this.stopping.signal);
      if (this.stopping.signal.aborted) return;
      if (result.answer === "error")
        this.deps.log.warn({ request: req.id, bot: name, error: result.error }, "approver bot gave no answer");
      await this.deps.access.botAnswered(req.id, name, result);
    } catch (err) {
      this.deps.log.error({ err: safeErr(err), request: req.id, bot: name }, "approver bot answer not recorded");
    } finally {
      this.inFlight.delete(key);
      await this.deps.storage.release("bot", key).catch(() => undefined);
    }
  }
}
