import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { api } from "../helpers/api.js";
import { auditRecords } from "../helpers/audit-files.js";
import { confirmDeviceCode, launchBrowser, signInAtProvider, type TestBrowser } from "../helpers/browser.js";
import { startDaemon, type TestDaemon, writeConfig } from "../helpers/daemon.js";
import { type IdpUser, startIdp, type TestIdp } from "../helpers/idp.js";
import { json, makePerson, type Person } from "../helpers/people.js";
import { e2eConfig, LOGIN, targetHost } from "../helpers/scenario.js";
import { ssh, type TestSshd } from "../helpers/sshd.js";

/**
 * Single sign-on with a real OpenID provider (oidc-provider, its own process on loopback HTTPS)
 * and a real browser (Debian's chromium): the real sshca CLI signs people in through the
 * authorization code flow with PKCE and through the device flow, against a real sshcad; then a
 * request, an approval by a signed-in approver, and a real ssh login.
 */

const user = (login: string, groups: string[]): IdpUser => ({
  password: `${login}-pw`,
  sub: `sub-${login}`,
  claims: { preferred_username: login, email: `${login}@example.test`, groups },
});
const users = {
  alice: user("alice", ["Engineering"]),
  bob: user("bob", ["SRE"]),
  carol: user("carol", ["Marketing"]),
};

let idp: TestIdp;
let daemon: TestDaemon;
let browser: TestBrowser;
let web1: TestSshd | undefined;

/** A person with no token: the CLI must sign them in. BROWSER makes "opening the browser" succeed; the test is the browser. */
async function person(name: string): Promise<Person> {
  const p = await makePerson(name, daemon, "", { BROWSER: "/bin/true" });
  delete p.env.SSHCA_TOKEN;
  return p;
}

/** Follows the CLI's printed sign-in URL in chromium, as the person would. */
async function browserSignIn(run: Person["spawn"] extends (...a: never[]) => infer R ? R : never, login: string) {
  const url = (await run.waitFor(/visit:\n\s+(https:\/\/\S+)/))[1]!;
  await signInAtProvider(await browser.newPage(), url, { login, password: `${login}-pw` });
}

beforeAll(async () => {
  idp = await startIdp({ users });
  daemon = await startDaemon({
    configPath: writeConfig(
      e2eConfig({
        extra: {
          auth: {
            oidc: {
              issuer: idp.issuer,
              clientId: idp.clientId,
              clientSecretFile: idp.clientSecretFile,
              caFile: idp.caFile,
              scopes: ["openid", "profile", "email", "groups"],
              groupMap: { Engineering: "dev", SRE: "sre" },
              sessionTtl: "1h",
            },
          },
        },
      }),
    ),
  });
  browser = await launchBrowser({ trust: [idp.caFile] });
});
afterAll(async () => {
  await web1?.stop();
  await browser?.close();
  await daemon?.stop();
  await idp?.stop();
});

describe("sign-in through the identity provider", () => {
  test("/readyz reports that discovery and the signing keys can be fetched", async () => {
    const r = await api(daemon, "GET", "/readyz");
    expect(r.status).toBe(200);
    expect(r.body.checks.oidc).toMatchObject({
      ok: true,
      detail: expect.stringMatching(/discovery and \d+ signing key/),
    });
  });

  test("login with no session signs in through the browser first, then asks; an approver signs in with a code; ssh works", async () => {
    const alice = await person("alice");
    const bob = await person("bob");
    const login = alice.spawn(["login", "--role", "debug", "--host", "web-1", "--reason", "INC-7", "--no-agent"]);
    await browserSignIn(login, "alice");
    const id = (await login.waitFor(/Waiting for approval of (rq_[a-z2-7]{16})/))[1]!;
    expect(login.stderr()).toMatch(/Signed in as alice \(groups: dev\) until /);

    // bob, on a terminal without a browser: the device flow.
    const signIn = bob.spawn(["auth", "oidc", "--device"]);
    const m = await signIn.waitFor(/open (https:\/\/\S+) and enter the code: (\S+)/);
    await confirmDeviceCode(await browser.newPage(), m[1]!, m[2]!, { login: "bob", password: "bob-pw" });
    const signedIn = await signIn.done;
    expect(signedIn.code, signedIn.stderr).toBe(0);
    expect(signedIn.stderr).toMatch(/Signed in as bob \(groups: sre\)/);

    expect((await bob.sshca(["approve", id])).code).toBe(0);
    const done = await login.done;
    expect(done.code, done.stderr).toBe(0);
    web1 = await targetHost(bob, "web-1");
    const r = await ssh({ port: web1.port, user: LOGIN, key: alice.key, command: "echo via-sso" });
    expect(r.stdout.trim(), r.stderr).toBe("via-sso");

    const signIns = auditRecords(daemon.dataDir).filter((x) => x.type === "auth.signed_in");
    expect(signIns.map((x) => x.fields)).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          user: "alice",
          method: "oidc",
          flow: "browser",
          issuer: idp.issuer,
          subject: "sub-alice",
          groups: ["dev"],
        }),
        expect.objectContaining({ user: "bob", method: "oidc", flow: "device", subject: "sub-bob", groups: ["sre"] }),
      ]),
    );
    expect(JSON.stringify(signIns)).not.toMatch(/sshca_[a-z2-7]{16}_/);
  });

  test("groups come from the provider at each sign-in: removed there, gone at the next sign-in", async () => {
    const dave = await person("dave");
    idp.setUsers({ ...users, dave: user("dave", ["SRE", "Engineering"]) });
    const first = dave.spawn(["auth", "oidc"]);
    await browserSignIn(first, "dave");
    expect((await first.done).code).toBe(0);
    expect(json<{ groups: string[] }>(await dave.sshca(["whoami", "--json"])).groups).toEqual(["dev", "sre"]);

    idp.setUsers({ ...users, dave: user("dave", ["Engineering"]) });
    const again = dave.spawn(["auth", "oidc"]);
    await browserSignIn(again, "dave");
    expect((await again.done).code).toBe(0);
    expect(json<{ groups: string[] }>(await dave.sshca(["whoami", "--json"])).groups).toEqual(["dev"]);
  });

  test("a person whose groups map to nothing is refused, audited, and nothing is created", async () => {
    const carol = await person("carol");
    const r = carol.spawn(["auth", "oidc"]);
    await browserSignIn(r, "carol");
    const done = await r.done;
    expect(done.code).toBe(1);
    expect(done.stderr).toMatch(
      /sign-in refused: none of carol's groups at the identity provider maps to an sshca group/,
    );
    const failed = auditRecords(daemon.dataDir).filter((x) => x.type === "auth.failed" && x.fields.method === "oidc");
    expect(failed.at(-1)?.fields.reason).toMatch(/maps to an sshca group/);
    const list = JSON.parse((await daemon.sshcad(["user", "list", "--json"])).stdout) as { user: string }[];
    expect(list.map((u) => u.user)).not.toContain("carol");
  });

  test("sshcad user disable ends a single-sign-on session at once; logout ends one on the daemon", async () => {
    const erin = await person("erin");
    idp.setUsers({ ...users, erin: user("erin", ["Engineering"]), frank: user("frank", ["Engineering"]) });
    const s = erin.spawn(["auth", "oidc"]);
    await browserSignIn(s, "erin");
    expect((await s.done).code).toBe(0);
    expect((await daemon.sshcad(["user", "disable", "erin"])).code).toBe(0);
    expect((await erin.sshca(["whoami"])).stderr).toBe("sshca: user erin is disabled\n");
    const again = erin.spawn(["auth", "oidc"]);
    await browserSignIn(again, "erin");
    expect((await again.done).stderr).toMatch(/sign-in refused: user erin is disabled/);

    const frank = await person("frank");
    const f = frank.spawn(["auth", "oidc"]);
    await browserSignIn(f, "frank");
    expect((await f.done).code).toBe(0);
    const token = JSON.parse(
      await import("node:fs/promises").then((fs) =>
        fs.readFile(`${frank.env.XDG_CONFIG_HOME}/sshca/config.json`, "utf8"),
      ),
    ).token as string;
    expect((await frank.sshca(["auth", "logout"])).code).toBe(0);
    const after = await api(daemon, "GET", "/v1/whoami", { token });
    expect(after.status).toBe(401);
    expect(auditRecords(daemon.dataDir).some((x) => x.type === "auth.signed_out" && x.fields.user === "frank")).toBe(
      true,
    );
  });
});
