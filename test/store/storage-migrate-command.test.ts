import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { LATEST_SCHEMA_VERSION } from "../../src/store/postgres/schema.js";
import { SSHCAD, writeConfig } from "../helpers/daemon.js";
import { startPostgres, type TestPostgres } from "../helpers/postgres.js";
import { run } from "../helpers/procs.js";
import { e2eConfig } from "../helpers/scenario.js";
import { tempDir } from "../helpers/tmp.js";

/** `sshcad storage migrate` and `sshcad config check` with storage settings, as an operator runs them (built dist/). */
describe("sshcad storage migrate", () => {
  let pgc: TestPostgres;
  beforeAll(async () => {
    pgc = await startPostgres();
  });
  afterAll(async () => {
    await pgc?.destroy();
  });

  const urlFile = (url: string, mode = 0o600) => {
    const path = join(tempDir("pgurl"), "postgres-url");
    writeFileSync(path, `${url}\n`, { mode });
    return path;
  };
  const sshcad = async (storage: object, ...args: string[]) => {
    const r = await run(
      process.execPath,
      [SSHCAD, "--config", writeConfig(e2eConfig({ extra: { storage } })), ...args],
      {
        env: { ...process.env, CREDENTIALS_DIRECTORY: "" },
      },
    );
    // Whatever happens, the password is not printed.
    expect(r.stdout + r.stderr).not.toContain(pgc.password);
    return r;
  };

  test("with the embedded backend there is nothing to migrate", async () => {
    const r = await sshcad({}, "storage", "migrate");
    expect(r).toMatchObject({ code: 0, stderr: "storage.backend is embedded: nothing to migrate\n" });
  });

  test("migrates a new database, then finds nothing to do", async () => {
    const storage = { backend: "postgres", urlFile: urlFile(await pgc.createDatabase()) };
    const first = await sshcad(storage, "storage", "migrate");
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).toBe(`database schema migrated from version 0 to ${LATEST_SCHEMA_VERSION}\n`);
    const again = await sshcad(storage, "storage", "migrate");
    expect(again.stderr).toBe(`database schema is at version ${LATEST_SCHEMA_VERSION}; nothing to migrate\n`);
  });

  test("refuses a database a newer sshcad migrated, with exit 78", async () => {
    const url = await pgc.createDatabase();
    const storage = { backend: "postgres", urlFile: urlFile(url) };
    expect((await sshcad(storage, "storage", "migrate")).code).toBe(0);
    await pgc.psql(`UPDATE sshca_meta SET value = '99' WHERE key = 'schema_version';`, new URL(url).pathname.slice(1));
    const r = await sshcad(storage, "storage", "migrate");
    expect(r.code).toBe(78);
    expect(r.stderr).toBe(
      `sshcad: database schema version 99 is newer than this sshcad (knows up to ${LATEST_SCHEMA_VERSION}); upgrade sshcad\n`,
    );
  });

  test("a database that is down: exit 1 with a short reason, no URL", async () => {
    const storage = { backend: "postgres", urlFile: urlFile(pgc.url) };
    await pgc.stop();
    try {
      const r = await sshcad(storage, "storage", "migrate");
      expect(r.code).toBe(1);
      expect(r.stderr).toBe("sshcad: the database is unavailable: connection refused\n");
      expect(r.stdout + r.stderr).not.toContain("postgresql://");
    } finally {
      await pgc.restart();
    }
  });

  test("config check reads the URL file (and its mode) without connecting", async () => {
    const ok = await sshcad({ backend: "postgres", urlFile: urlFile(pgc.url) }, "config", "check");
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stderr).toMatch(/: ok \(.*, postgres storage\)\n$/);
    const open = urlFile(pgc.url, 0o644);
    const loose = await sshcad({ backend: "postgres", urlFile: open }, "config", "check");
    expect(loose.code).toBe(78);
    expect(loose.stderr).toMatch(/storage\.urlFile .* may be read by others \(mode 0644\)/);
    const inline = await sshcad({ backend: "postgres", url: pgc.url }, "config", "check");
    expect(inline.code).toBe(78);
    expect(inline.stderr).toMatch(/storage\.url: the database URL carries its password .* storage\.urlFile/);
  });
});
