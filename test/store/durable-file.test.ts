import { readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { DurableJsonFile } from "../../src/store/durable-file.js";
import { StateStore } from "../../src/store/state.js";
import { tempDir } from "../helpers/tmp.js";

describe("durable state file", () => {
  test("writes mode 0600 even under a permissive umask", async () => {
    const path = join(tempDir("state"), "state.json");
    const old = process.umask(0o000);
    try {
      await new DurableJsonFile<object>(path).write({ a: 1 });
    } finally {
      process.umask(old);
    }
    expect((statSync(path).mode & 0o777).toString(8)).toBe("600");
    expect(JSON.parse(readFileSync(path, "utf8"))).toEqual({ a: 1 });
  });

  test("concurrent writes are coalesced and the last change wins", async () => {
    const path = join(tempDir("state"), "state.json");
    let encodes = 0;
    const file = new DurableJsonFile<{ n: number }>(path, (d) => {
      encodes++;
      return JSON.stringify(d);
    });
    const doc = { n: 0 };
    await Promise.all(
      Array.from({ length: 100 }, (_, i) => {
        doc.n = i;
        return file.write(doc);
      }),
    );
    expect(JSON.parse(readFileSync(path, "utf8"))).toEqual({ n: 99 });
    expect(encodes).toBeLessThanOrEqual(3);
  });

  test.each([
    { name: "empty", content: "", msg: /is empty; refusing to start/ },
    {
      name: "truncated",
      content: '{"format":"sshca-state/1","users":{',
      msg: /is corrupt .*refusing to start/,
    },
    { name: "not ours", content: '{"hello":1}', msg: /not an sshca state document/ },
  ])("fail/$name state file stops the daemon and is left as it was", async ({ content, msg }) => {
    const path = join(tempDir("state"), "state.json");
    writeFileSync(path, content);
    await expect(StateStore.open(path, new Date())).rejects.toThrow(msg);
    expect(readFileSync(path, "utf8")).toBe(content);
  });

  test("a missing file is a fresh start", async () => {
    const store = await StateStore.open(join(tempDir("state"), "state.json"), new Date());
    expect(store.isNew).toBe(true);
    expect(store.data.requests).toEqual({});
  });
});
