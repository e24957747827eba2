import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { parseConfig } from "../../src/config/load.js";
import { readPostgresUrl } from "../../src/store/postgres/url.js";
import { baseConfig } from "../helpers/config.js";
import { tempDir } from "../helpers/tmp.js";

const URL_WITH_SECRET = "postgresql://sshca:s3cret-Pa55@db.internal:5432/sshca";

const parse = (storage: unknown) => parseConfig({ ...baseConfig(), storage }, "test.yaml");
const problems = (storage: unknown): string[] => {
  try {
    parse(storage);
  } catch (err) {
    return (err as { details: { problems: string[] } }).details.problems;
  }
  return [];
};

/** A file with `content`, of `mode`, in a fresh 0700 directory. */
function file(content: string, mode = 0o600): string {
  const path = join(tempDir("pgurl"), "postgres-url");
  writeFileSync(path, content, { mode });
  chmodSync(path, mode);
  return path;
}

describe("storage config", () => {
  test("defaults to the embedded backend", () => {
    expect(parseConfig(baseConfig(), "t").storage).toEqual({ backend: "embedded" });
    expect(parse({ backend: "postgres", urlFile: "/etc/sshca/postgres-url" }).storage).toEqual({
      backend: "postgres",
      urlFile: "/etc/sshca/postgres-url",
    });
    expect(parse({ backend: "postgres" }).storage).toEqual({ backend: "postgres" }); // systemd credential
  });

  test.each([
    {
      name: "a URL in the config file is refused, pointing at urlFile (and never echoed)",
      storage: { backend: "postgres", url: URL_WITH_SECRET },
      want: "storage.url: the database URL carries its password and does not belong in the config file: put it in a file (mode 0600) named by storage.urlFile, or in the systemd credential postgres-url",
    },
    {
      name: "urlFile without the postgres backend",
      storage: { urlFile: "/etc/sshca/postgres-url" },
      want: "storage.urlFile: storage.urlFile applies only with backend: postgres",
    },
    { name: "unknown backend", storage: { backend: "mysql" }, want: "storage.backend: Invalid option" },
    {
      name: "unknown key",
      storage: { backend: "postgres", password: "x" },
      want: 'storage: Unrecognized key: "password"',
    },
  ])("$name", ({ storage, want }) => {
    const found = problems(storage);
    expect(found.some((p) => p.startsWith(want))).toBe(true);
    expect(found.join("\n")).not.toContain("s3cret-Pa55");
  });
});

describe("reading the PostgreSQL URL", () => {
  const postgres = (urlFile?: string) => ({ backend: "postgres" as const, ...(urlFile ? { urlFile } : {}) });

  test("from storage.urlFile (0600), trailing newline dropped", async () => {
    expect(await readPostgresUrl(postgres(file(`${URL_WITH_SECRET}\n`)), {})).toBe(URL_WITH_SECRET);
  });

  test("from the systemd credential postgres-url when no urlFile is given", async () => {
    const dir = tempDir("creds");
    writeFileSync(join(dir, "postgres-url"), URL_WITH_SECRET, { mode: 0o400 });
    expect(await readPostgresUrl(postgres(), { CREDENTIALS_DIRECTORY: dir })).toBe(URL_WITH_SECRET);
  });

  test.each([
    {
      name: "a urlFile others may read",
      storage: () => postgres(file(URL_WITH_SECRET, 0o644)),
      env: {},
      want: /may be read by others \(mode 0644\); the URL carries the database password: chmod 600 it$/,
    },
    {
      name: "a missing urlFile",
      storage: () => postgres("/nonexistent/postgres-url"),
      env: {},
      want: /^cannot read storage.urlFile \/nonexistent\/postgres-url: ENOENT$/,
    },
    {
      name: "neither urlFile nor a credential",
      storage: () => postgres(),
      env: {},
      want: /^storage.backend: postgres needs the database URL .*storage.urlFile.*postgres-url/,
    },
    {
      name: "a credentials directory without postgres-url",
      storage: () => postgres(),
      env: { CREDENTIALS_DIRECTORY: tempDir("creds") },
      want: /^cannot read the systemd credential postgres-url: ENOENT$/,
    },
    {
      name: "a file holding something else (not echoed)",
      storage: () => postgres(file("mysql://root:s3cret-Pa55@db/x\n")),
      env: {},
      want: /does not hold a PostgreSQL URL: expected postgresql:\/\/USER:PASSWORD@HOST:PORT\/DATABASE$/,
    },
    {
      name: "a malformed URL (not echoed)",
      storage: () => postgres(file("postgresql://sshca:s3cret-Pa55@[db/x")),
      env: {},
      want: /does not hold a PostgreSQL URL/,
    },
  ])("refuses $name with config_invalid", async ({ storage, env, want }) => {
    const err = await readPostgresUrl(storage(), env).then(
      () => undefined,
      (e: unknown) => e as Error & { code: string },
    );
    expect(err?.code).toBe("config_invalid");
    expect(err?.message).toMatch(want);
    expect(err?.message).not.toContain("s3cret-Pa55");
  });

  test("a directory as urlFile is refused, not read", async () => {
    const dir = join(tempDir("pgurl"), "d");
    mkdirSync(dir, { mode: 0o700 });
    await expect(readPostgresUrl(postgres(dir), {})).rejects.toMatchObject({ code: "config_invalid" });
  });
});
