import { cpSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { auditRecords } from "../helpers/audit-files.js";
import { startDaemon, type TestDaemon, writeConfig } from "../helpers/daemon.js";
import { json, makePerson } from "../helpers/people.js";
import { startPostgres, type TestPostgres } from "../helpers/postgres.js";
import { run } from "../helpers/procs.js";
import { e2eConfig } from "../helpers/scenario.js";
import { tempDir } from "../helpers/tmp.js";

/**
 * Moving from embedded to PostgreSQL as the README says: stop the daemon, point the config at
 * the database, `sshcad storage copy --to postgres`, start. The chain in the database is the
 * same chain; a tampered embedded log is refused and leaves the database empty.
 */

let pg: TestPostgres;
let embedded: TestDaemon;
let aliceToken: string;
let requestId: string;
const config = e2eConfig();

beforeAll(async () => {
  pg = await startPostgres();
  embedded = await startDaemon({ configPath: writeConfig(config) });
  aliceToken = await embedded.addUser("alice", ["dev"]);
  const alice = await makePerson("alice", embedded, aliceToken);
  const done = json<{ id: string }>(
    await alice.sshca([
      "login",
      "--role",
      "selfserve",
      "--host",
      "web-1",
      "--reason",
      "before the move",
      "--no-agent",
      "--json",
    ]),
  );
  requestId = done.id;
  await embedded.stop();
}, 60_000);
afterAll(async () => {
  await pg?.destroy();
});

async function postgresConfig(): Promise<{ path: string; dbName: string }> {
  const url = await pg.createDatabase();
  const urlFile = join(tempDir("pgurl"), "postgres-url");
  writeFileSync(urlFile, `${url}\n`, { mode: 0o600 });
  return {
    path: writeConfig({ ...config, storage: { backend: "postgres", urlFile } }),
    dbName: new URL(url).pathname.slice(1),
  };
}

const sshcad = (configPath: string, dataDir: string, args: string[]) =>
  run(process.execPath, [
    join(import.meta.dirname, "..", "..", "dist", "src", "main.js"),
    "--config",
    configPath,
    "--data-dir",
    dataDir,
    ...args,
  ]);

describe("sshcad storage copy --to postgres", () => {
  test("copies state and the whole chain, verified on both sides; the daemon then runs on the database with the same users and history", async () => {
    const dataDir = join(tempDir("copy-ok"), "d");
    cpSync(embedded.dataDir, dataDir, { recursive: true });
    const before = auditRecords(dataDir);
    const { path } = await postgresConfig();
    const copied = await sshcad(path, dataDir, ["storage", "copy", "--to", "postgres"]);
    expect(copied.code, copied.stderr).toBe(0);
    const head = before.at(-1)!;
    expect(copied.stderr).toContain(`copied ${before.length} audit records`);
    expect(copied.stderr).toContain(`head ${head.seq}:${head.hash}`);

    const onPg = await startDaemon({ configPath: path, dataDir });
    try {
      const alice = await makePerson("alice", onPg, aliceToken); // the old token works
      const shown = json<{ state: string }>(await alice.sshca(["request", "show", requestId, "--json"]));
      expect(shown.state).toBe("issued");
      const verified = await onPg.sshcad(["audit", "verify"]);
      expect(verified.code, verified.stderr).toBe(0);
      // Copying again into the same database is refused: it is no longer empty.
    } finally {
      await onPg.stop();
    }
    const offline = await sshcad(path, dataDir, ["audit", "verify", "--expect-head", `${head.seq}:${head.hash}`]);
    expect(offline.code, offline.stderr).toBe(0);
    const again = await sshcad(path, dataDir, ["storage", "copy", "--to", "postgres"]);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toContain("the database already holds sshca data");
  });

  test("refuses a tampered embedded log and copies nothing", async () => {
    const dataDir = join(tempDir("copy-bad"), "d");
    cpSync(embedded.dataDir, dataDir, { recursive: true });
    const auditDir = join(dataDir, "audit");
    const segment = join(
      auditDir,
      readdirSync(auditDir).find((f) => f.endsWith(".jsonl"))!,
    );
    writeFileSync(segment, readFileSync(segment, "utf8").replace("before the move", "before the mowe"));
    const { path, dbName } = await postgresConfig();
    const r = await sshcad(path, dataDir, ["storage", "copy", "--to", "postgres"]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/fails verification .*modified|fails verification/);
    expect(r.stderr).toContain("nothing was copied");
    expect(
      await pg.psql(
        "SELECT seq FROM audit_head; SELECT count(*) FROM audit; SELECT count(*) FROM state_entries;",
        dbName,
      ),
    ).toBe("0\n0\n0");
  });
});
