import { appendFileSync, existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { JournaledJsonFile } from "../../src/store/journaled-file.js";
import { StateStore } from "../../src/store/state.js";
import { tempDir } from "../helpers/tmp.js";

type Doc = { format: string; n: number; items: Record<string, { v: number }> };
const open = async (dir: string, minJournal = 1 << 20) => {
  const f = new JournaledJsonFile<Doc>(join(dir, "state.json"), ["items"], minJournal);
  const doc = (await f.read()) ?? { format: "t", n: 0, items: {} };
  return { f, doc };
};
/** Entries change through the adapter's dirty tracking, as StateStore.put does. */
const put = (f: JournaledJsonFile<Doc>, doc: Doc, k: string, v: { v: number }) => {
  doc.items[k] = v;
  f.markDirty("items", k);
};
const del = (f: JournaledJsonFile<Doc>, doc: Doc, k: string) => {
  delete doc.items[k];
  f.markDirty("items", k);
};
/** A state file whose snapshot holds item a and whose journal holds one batch adding b. */
const snapshotThenJournal = async (dir: string) => {
  const { f, doc } = await open(dir);
  put(f, doc, "a", { v: 1 });
  await f.write(doc);
  put(f, doc, "b", { v: 2 });
  await f.write(doc);
};
const journalOf = (dir: string) =>
  join(
    dir,
    readdirSync(dir).find((n) => n.startsWith("state.json.journal-"))!,
  );

describe("journaled state file", () => {
  test("the snapshot is 0600 even under a permissive umask; changes go to a journal and read back", async () => {
    const dir = tempDir("state");
    const old = process.umask(0o000);
    try {
      const { f, doc } = await open(dir);
      put(f, doc, "a", { v: 1 });
      await f.write(doc); // first write: a snapshot
      put(f, doc, "b", { v: 2 });
      doc.n = 7;
      await f.write(doc); // then only what changed
      del(f, doc, "a");
      await f.write(doc);
    } finally {
      process.umask(old);
    }
    expect((statSync(join(dir, "state.json")).mode & 0o777).toString(8)).toBe("600");
    expect((statSync(journalOf(dir)).mode & 0o777).toString(8)).toBe("600");
    expect(readFileSync(journalOf(dir), "utf8")).not.toContain('"v":1}'); // entry a was never rewritten
    const { doc } = await open(dir);
    expect(doc).toEqual({ format: "t", n: 7, items: { b: { v: 2 } } });
  });

  test("a write costs what changed: one entry among 10,000 appends one line", async () => {
    const dir = tempDir("state");
    const { f, doc } = await open(dir);
    for (let i = 0; i < 10_000; i++) put(f, doc, `k${i}`, { v: i });
    await f.write(doc);
    put(f, doc, "k5", { v: -5 });
    await f.write(doc);
    expect(statSync(journalOf(dir)).size).toBeLessThan(100);
    expect(statSync(join(dir, "state.json")).size).toBeGreaterThan(100_000);
  });

  test("a batch without its commit line (a torn, never acknowledged write) is ignored", async () => {
    const dir = tempDir("state");
    await snapshotThenJournal(dir);
    appendFileSync(journalOf(dir), '{"c":"items","k":"c","v":{"v":3}}\n{"c":"items","k":"d","v":{"v"');
    expect((await open(dir)).doc.items).toEqual({ a: { v: 1 }, b: { v: 2 } });
  });

  test("the journal is folded into a new snapshot when it grows; an old generation is never replayed", async () => {
    const dir = tempDir("state");
    const { f, doc } = await open(dir, 4096);
    for (let i = 0; i < 300; i++) {
      put(f, doc, `k${i % 20}`, { v: i });
      await f.write(doc);
    }
    const files = readdirSync(dir).filter((n) => n.startsWith("state.json.journal-"));
    expect(files.length).toBe(1);
    expect(Number(files[0]!.split("-").at(-1))).toBeGreaterThan(2);
    // A journal of an older generation (left by a crash right after a snapshot) does not apply.
    writeFileSync(join(dir, "state.json.journal-1"), '{"c":"items","k":"k1","v":{"v":-1}}\n{"commit":1}\n');
    expect((await open(dir)).doc.items.k1).toEqual({ v: 281 });
  });

  test.each([
    { name: "empty", content: "", msg: /is empty; refusing to start/ },
    { name: "truncated", content: '{"format":"sshca-state/1","users":{', msg: /is corrupt .*refusing to start/ },
    { name: "not ours", content: '{"hello":1}', msg: /not an sshca state document/ },
  ])("fail/$name state file stops the daemon and is left as it was", async ({ content, msg }) => {
    const path = join(tempDir("state"), "state.json");
    writeFileSync(path, content);
    await expect(StateStore.open(path, new Date())).rejects.toThrow(msg);
    expect(readFileSync(path, "utf8")).toBe(content);
  });

  test("a corrupt journal line before the tail stops the daemon", async () => {
    const dir = tempDir("state");
    await snapshotThenJournal(dir);
    writeFileSync(journalOf(dir), `garbage\n${readFileSync(journalOf(dir), "utf8")}`);
    await expect(open(dir)).rejects.toThrow(/state journal .* is corrupt at line 1/);
  });

  test("a missing file is a fresh start", async () => {
    const dir = tempDir("state");
    const store = await StateStore.open(join(dir, "state.json"), new Date());
    expect(store.isNew).toBe(true);
    expect(existsSync(join(dir, "state.json"))).toBe(false);
  });

  test("concurrent writes are coalesced and the last change wins", async () => {
    const dir = tempDir("state");
    const { f, doc } = await open(dir);
    await f.write(doc);
    await Promise.all(
      Array.from({ length: 100 }, (_, i) => {
        put(f, doc, "x", { v: i });
        return f.write(doc);
      }),
    );
    expect((await open(dir)).doc.items.x).toEqual({ v: 99 });
    const commits = readFileSync(journalOf(dir), "utf8")
      .split("\n")
      .filter((l) => l.startsWith('{"commit"'));
    expect(commits.length).toBeLessThanOrEqual(3);
  });
});

test("after a torn tail the next write starts a new snapshot instead of appending to the fragment", async () => {
  const dir = tempDir("state");
  await snapshotThenJournal(dir);
  appendFileSync(journalOf(dir), '{"c":"items","k":"x","v":{"v"');
  const again = await open(dir);
  put(again.f, again.doc, "c", { v: 3 });
  await again.f.write(again.doc);
  expect((await open(dir)).doc.items).toEqual({ a: { v: 1 }, b: { v: 2 }, c: { v: 3 } });
});
