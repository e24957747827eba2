import { randomBytes } from "node:crypto";
import { chmodSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { request } from "node:https";
import { join } from "node:path";
import type { HostileControl, HostileDevice } from "../idp/hostile-control.js";
import { type IdpClient, type IdpConfig, type IdpUser, nativeClient } from "../idp/config.js";
import { ROOT } from "./daemon.js";
import { start } from "./procs.js";
import { tempDir } from "./tmp.js";

export type { HostileControl, HostileMode } from "../idp/hostile-control.js";
export { HOSTILE_MODES } from "../idp/hostile-control.js";
export type { IdpUser } from "../idp/config.js";

const PROVIDER = join(ROOT, "test", "idp", "provider.ts");
const HOSTILE = join(ROOT, "test", "idp", "hostile.ts");

/** What the daemon is configured with, for either provider. */
interface IdpEndpoint {
  /** https://127.0.0.1:PORT (auth.oidc.issuer) */
  issuer: string;
  /** PEM CA certificate of the provider's TLS (auth.oidc.caFile) */
  caFile: string;
  clientId: string;
  /** The client secret alone, no newline, mode 0600 */
  clientSecretFile: string;
  /** SIGTERM and wait. */
  stop(): Promise<void>;
  /** Everything the provider printed (requests, errors). */
  log(): string;
}

export interface TestIdp extends IdpEndpoint {
  configFile: string;
  /** Replaces the users; the next account lookup (sign-in, refresh) sees them. */
  setUsers(users: Record<string, IdpUser>): void;
}

export interface HostileIdp extends IdpEndpoint {
  controlFile: string;
  /** Changes the control file; the next request sees it. */
  set(change: Partial<Omit<HostileControl, "device">> & { device?: Partial<HostileDevice> }): void;
  /** Device-code polls so far: when (epoch ms) and what was answered. */
  devicePolls(): { at: number; answer: string }[];
  /**
   * The polls once at least `count` are logged (the log line may arrive just after the HTTP
   * answer it describes); gives up after 5 s and returns what there is.
   */
  waitForDevicePolls(count: number): Promise<{ at: number; answer: string }[]>;
}

/** Writes JSON atomically (temp file, rename) so a provider never reads half a file. */
function writeJson(path: string, value: unknown): void {
  writeFileSync(`${path}.tmp`, JSON.stringify(value, null, 2), { mode: 0o600 });
  renameSync(`${path}.tmp`, path);
}

function secretFile(dir: string, secret: string): string {
  const path = join(dir, "client-secret");
  writeFileSync(path, secret, { mode: 0o600 });
  chmodSync(path, 0o600);
  return path;
}

async function launch(script: string, args: string[], banner: RegExp) {
  const proc = start(process.execPath, [script, ...args]);
  const issuer = (await proc.waitFor(banner, 20_000))[1]!;
  return {
    issuer,
    log: () => proc.stdout() + proc.stderr(),
    stop: async () => {
      proc.proc.kill("SIGTERM");
      await proc.done;
    },
  };
}

/**
 * Starts the real OpenID provider (test/idp/provider.ts) on a free loopback port with one native
 * confidential client (test/idp/config.ts nativeClient, overridable through `client`).
 * Lifetimes in seconds.
 */
export async function startIdp(opts: {
  users: Record<string, IdpUser>;
  client?: Partial<IdpClient>;
  idTokenTtl?: number;
  accessTokenTtl?: number;
  sessionTtl?: number;
  deviceCodeTtl?: number;
  refreshTokenTtl?: number;
  /** Device-code poll interval in seconds; default 1 (the provider's own default is 5). */
  deviceInterval?: number;
}): Promise<TestIdp> {
  const dir = tempDir("idp");
  chmodSync(dir, 0o700);
  const client = { ...nativeClient("sshca", randomBytes(32).toString("base64url")), ...opts.client };
  const configFile = join(dir, "idp.json");
  const { users, client: _c, ...ttls } = opts;
  let config: IdpConfig = { clients: [client], users, deviceInterval: 1, ...ttls };
  writeJson(configFile, config);
  const tlsDir = join(dir, "tls");
  const p = await launch(
    PROVIDER,
    ["--config", configFile, "--tls-dir", tlsDir, "--port", "0"],
    /idp listening on (\S+)/,
  );
  return {
    ...p,
    caFile: join(tlsDir, "ca.crt"),
    clientId: client.client_id,
    clientSecretFile: secretFile(dir, client.client_secret),
    configFile,
    setUsers: (next) => {
      config = { ...config, users: next };
      writeJson(configFile, config);
    },
  };
}

/**
 * Starts the hostile provider (test/idp/hostile.ts): every sign-in succeeds at once, and its ID
 * token carries the defect `mode` names. Device polls default to 2 pending, one slow_down, tokens.
 */
export async function startHostileIdp(
  opts: Partial<Omit<HostileControl, "device">> & { device?: Partial<HostileDevice> } = {},
): Promise<HostileIdp> {
  const dir = tempDir("hostile");
  chmodSync(dir, 0o700);
  let control: HostileControl = {
    clientId: "sshca",
    clientSecret: randomBytes(32).toString("base64url"),
    mode: "good",
    claims: { sub: "u-alice", preferred_username: "alice", email: "alice@example.test", groups: ["dev"] },
    idTokenTtl: 300,
    ...opts,
    device: { pending: 2, slowDown: true, outcome: "tokens", interval: 1, ...opts.device },
  };
  const controlFile = join(dir, "control.json");
  writeJson(controlFile, control);
  const tlsDir = join(dir, "tls");
  const devicePolls = () =>
    [...p.log().matchAll(/^device-poll (\d+) (\S+)$/gm)].map((m) => ({ at: Number(m[1]), answer: m[2]! }));
  const p = await launch(
    HOSTILE,
    ["--control", controlFile, "--tls-dir", tlsDir, "--port", "0"],
    /hostile idp listening on (\S+)/,
  );
  return {
    ...p,
    caFile: join(tlsDir, "ca.crt"),
    clientId: control.clientId,
    clientSecretFile: secretFile(dir, control.clientSecret),
    controlFile,
    set: (change) => {
      control = { ...control, ...change, device: { ...control.device, ...change.device } };
      writeJson(controlFile, control);
    },
    devicePolls,
    waitForDevicePolls: async (count) => {
      for (let i = 0; i < 100 && devicePolls().length < count; i++) await new Promise((r) => setTimeout(r, 50));
      return devicePolls();
    },
  };
}

/**
 * A fetch that trusts only the given CA file (not the system store), for relying-party libraries
 * that take a custom fetch (oauth4webapi's customFetch, openid-client's customFetch, jose).
 * Redirects are returned, not followed.
 */
export function fetchTrusting(caFile: string): (url: string | URL, init?: RequestInit) => Promise<Response> {
  const ca = readFileSync(caFile, "utf8");
  return (url, init = {}) =>
    new Promise((resolve, reject) => {
      const headers = new Headers(init.headers);
      const body = init.body == null ? undefined : String(init.body);
      const req = request(
        url,
        { method: init.method ?? "GET", headers: Object.fromEntries(headers), ca, signal: init.signal ?? undefined },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("error", reject);
          res.on("end", () => {
            const out = new Headers();
            for (const [k, v] of Object.entries(res.headers)) {
              for (const one of ([] as string[]).concat(v ?? [])) out.append(k, one);
            }
            const status = res.statusCode ?? 500;
            const bodyless = status === 204 || status === 304;
            resolve(new Response(bodyless ? null : Buffer.concat(chunks), { status, headers: out }));
          });
        },
      );
      req.on("error", reject);
      req.end(body);
    });
}
