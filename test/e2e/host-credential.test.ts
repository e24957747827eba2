import { statSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { api } from "../helpers/api.js";
import { startDaemon, type TestDaemon, writeConfig } from "../helpers/daemon.js";
import { makePerson } from "../helpers/people.js";
import { e2eConfig } from "../helpers/scenario.js";
import { tempDir } from "../helpers/tmp.js";

let daemon: TestDaemon;
beforeAll(async () => {
  daemon = await startDaemon({ configPath: writeConfig(e2eConfig()) });
});
afterAll(async () => {
  await daemon?.stop();
});

describe("sshcad host credential, through the running daemon's admin socket and offline", () => {
  test("create writes a new 0600 file, the credential works on /v1/host/ only, revoke stops it", async () => {
    const file = join(tempDir("hostcred"), "web-1.credential");
    const made = await daemon.sshcad(["host", "credential", "create", "web-1", "--token-file", file]);
    expect(made.code, made.stderr).toBe(0);
    expect(made.stdout).toBe(""); // the secret went to the file only
    expect(made.stderr).toMatch(/Host credential [a-z2-7]{16} for web-1/);
    expect((statSync(file).mode & 0o777).toString(8)).toBe("600");
    const token = readFileSync(file, "utf8").trim();
    const id = /^sshca_([a-z2-7]{16})_/.exec(token)![1]!;

    expect((await api(daemon, "GET", "/v1/host/whoami", { token })).body).toEqual({ host: "web-1", credentialId: id });
    // The real CLI as a person with it: refused, with a one-line reason.
    const asUser = await makePerson("web1", daemon, token);
    const who = await asUser.sshca(["whoami"]);
    expect(who.code).toBe(1);
    expect(who.stderr).toMatch(/host credential works only for its host's companion/);
    const req = await asUser.sshca(["login", "--role", "debug", "--host", "web-1", "--reason", "x", "--no-wait"]);
    expect(req.code).toBe(1);
    expect(req.stderr).toMatch(/host credential works only/);

    const listed = JSON.parse((await daemon.sshcad(["host", "credential", "list", "--json"])).stdout);
    expect(listed).toEqual([expect.objectContaining({ credentialId: id, host: "web-1", revokedAt: null })]);
    expect(JSON.stringify(listed)).not.toContain(token.slice(-20));

    const revoked = await daemon.sshcad(["host", "credential", "revoke", token]);
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(revoked.stderr).toContain(`Revoked host credential ${id} of web-1`);
    expect((await api(daemon, "GET", "/v1/host/whoami", { token })).status).toBe(401);
  });

  test("a host outside the inventory gets no credential, and no file is left behind", async () => {
    const file = join(tempDir("hostcred"), "nope.credential");
    const r = await daemon.sshcad(["host", "credential", "create", "nope-1", "--token-file", file]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/no host nope-1 in the inventory/);
    expect(() => statSync(file)).toThrow();
    const bad = await daemon.sshcad(["host", "credential", "create", "web-1", "--ttl", "soon"]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/--ttl soon is not a duration/);
  });

  test("with the daemon stopped, create works on the data directory and the restarted daemon honours it", async () => {
    await daemon.stop();
    const made = await daemon.sshcad(["host", "credential", "create", "web-2", "--json"]);
    expect(made.code, made.stderr).toBe(0);
    const { token, host } = JSON.parse(made.stdout) as { token: string; host: string };
    expect(host).toBe("web-2");
    daemon = await daemon.restart();
    expect((await api(daemon, "GET", "/v1/host/principals", { token })).body.host).toBe("web-2");
  });
});
