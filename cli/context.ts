import { ApiClient } from "./client.js";
import { resolveSettings, type Settings } from "./settings.js";

/** What every command gets: the environment, output streams and a way to reach the daemon. */
export interface Ctx {
  env: NodeJS.ProcessEnv;
  out: (text: string) => void;
  err: (text: string) => void;
  /** Global flags of `sshca`. */
  globals: () => { url?: string; tokenFile?: string };
  client: () => Promise<ApiClient>;
  settings: () => Promise<Settings>;
}

export function createCtx(env: NodeJS.ProcessEnv, globals: Ctx["globals"]): Ctx {
  const settings = () => resolveSettings(globals(), env);
  return {
    env,
    out: (t) => process.stdout.write(t.endsWith("\n") ? t : `${t}\n`),
    err: (t) => process.stderr.write(t.endsWith("\n") ? t : `${t}\n`),
    globals,
    settings,
    client: async () => new ApiClient(await settings()),
  };
}

/** Prints JSON (stable field names) or the human form. */
export function emit(ctx: Ctx, json: boolean | undefined, data: unknown, human: () => string): void {
  ctx.out(json ? JSON.stringify(data, null, 2) : human());
}
