import { appendFileSync, renameSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { FileSource } from "../../cli/host/file-source.js";
import type { LogEntry } from "../../cli/host/source.js";
import { tempDir } from "../helpers/tmp.js";

const lines = (es: LogEntry[]) => es.map((e) => e.line);
const last = (es: LogEntry[]) => es.at(-1)!.position as { kind: "file"; ino: number; offset: number };

describe("following sshd's log file", () => {
  test("ok/the first run starts at the end; then whole lines only, a half-written one waits", async () => {
    const path = join(tempDir("log"), "sshd.log");
    writeFileSync(path, "old line\n");
    const src = new FileSource(path, undefined);
    expect(await src.read()).toEqual([]);
    appendFileSync(path, "one\ntwo\nthr");
    expect(lines(await src.read())).toEqual(["one", "two"]);
    appendFileSync(path, "ee\n");
    expect(lines(await src.read())).toEqual(["three"]);
    await src.close();
  });

  test("ok/a restart resumes at the saved position; a file that is not there yet is waited for", async () => {
    const dir = tempDir("log");
    const path = join(dir, "sshd.log");
    const early = new FileSource(path, undefined);
    expect(await early.read()).toEqual([]);
    writeFileSync(path, "a\n");
    const pos = last(await early.read());
    await early.close();
    appendFileSync(path, "b\nc\n");
    const again = new FileSource(path, pos);
    expect(lines(await again.read())).toEqual(["b", "c"]);
    await again.close();
  });

  test("ok/rotation: the old file is read to its end, then the new one from its start", async () => {
    const dir = tempDir("log");
    const path = join(dir, "sshd.log");
    writeFileSync(path, "");
    const src = new FileSource(path, undefined);
    expect(await src.read()).toEqual([]);
    appendFileSync(path, "before\n");
    expect(lines(await src.read())).toEqual(["before"]);
    appendFileSync(path, "late in the old file\n");
    renameSync(path, `${path}.1`);
    writeFileSync(path, "first in the new file\n");
    expect(lines(await src.read())).toEqual(["late in the old file"]);
    expect(lines(await src.read())).toEqual(["first in the new file"]);
    await src.close();
  });

  test("ok/truncation (copytruncate) starts over at the beginning; a saved position of another file too", async () => {
    const dir = tempDir("log");
    const path = join(dir, "sshd.log");
    writeFileSync(path, "");
    const src = new FileSource(path, undefined);
    expect(await src.read()).toEqual([]);
    appendFileSync(path, "a long line before the truncation\n");
    const pos = last(await src.read());
    truncateSync(path, 0);
    expect(await src.read()).toEqual([]);
    appendFileSync(path, "x\n");
    expect(lines(await src.read())).toEqual(["x"]);
    await src.close();
    // Restarted after the file was replaced: the saved inode is not this file's, so from the start.
    renameSync(path, `${path}.1`);
    writeFileSync(path, "fresh\n");
    const later = new FileSource(path, pos);
    expect(lines(await later.read())).toEqual(["fresh"]);
    await later.close();
  });
});
