import { readFile } from "node:fs/promises";
import type { Logger } from "pino";
import { membersOf } from "../auth/identity.js";
import type { Config, WebhookConfig } from "../config/schema.js";
import { SshcaError } from "../errors.js";
import type { Storage } from "../store/port.js";
import { commitSignal } from "./journal.js";
import { recipientsFor } from "./recipients.js";
import { WebhookWorker } from "./webhook-worker.js";

/** A webhook's shared secret, from its file or environment variable; refused if empty. */
export function webhookSecret(hook: WebhookConfig, env: NodeJS.ProcessEnv): Promise<string> {
  return readSecret(`webhook ${hook.name}`, hook, env);
}

/** A shared secret named by secretFile or secretEnv (webhooks, approver bots); refused if empty. */
export async function readSecret(
  what: string,
  ref: { secretFile?: string | undefined; secretEnv?: string | undefined },
  env: NodeJS.ProcessEnv,
): Promise<string> {
  let secret: string | undefined;
  if (ref.secretFile) {
    try {
      secret = (await readFile(ref.secretFile, "utf8")).trim();
    } catch (err) {
      throw new SshcaError(
        "config_invalid",
        `${what}: cannot read secretFile ${ref.secretFile}: ${(err as Error).message}`,
      );
    }
  } else if (ref.secretEnv) {
    secret = env[ref.secretEnv]?.trim();
  }
  if (!secret) throw new SshcaError("config_invalid", `${what}: its secret is empty or missing`);
  return secret;
}

/**
 * Starts one delivery worker per configured webhook (the journald line of every event is
 * written by the audit log itself, see openCore's `journal`). Returns the function that stops them.
 */
export async function startNotifications(deps: {
  config: () => Config;
  storage: Storage;
  env: NodeJS.ProcessEnv;
  log: Logger;
  onWebhookFailure?: (hook: string) => void;
}): Promise<() => Promise<void>> {
  const { storage, log } = deps;
  const signal = commitSignal(1000);
  storage.onCommit(signal.listener);
  const workers: WebhookWorker[] = [];
  for (const hook of deps.config().webhooks) {
    const secret = await webhookSecret(hook, deps.env);
    workers.push(
      new WebhookWorker(hook, secret, {
        storage,
        log,
        nextCommit: signal.next,
        consoleUrl: () => deps.config().console.url,
        recipients: (record) =>
          recipientsFor(record, deps.config(), (groups) => membersOf(deps.config(), storage.state, groups)),
        ...(deps.onWebhookFailure ? { onFailure: deps.onWebhookFailure } : {}),
      }),
    );
  }
  for (const w of workers) w.start();
  return async () => {
    await Promise.all(workers.map((w) => w.stop()));
  };
}
