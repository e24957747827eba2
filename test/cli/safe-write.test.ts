import { lstatSync, readFileSync, readlinkSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { tempPathFor, writeFileSafely } from "../../cli/safe-write.js";
import { tempDir } from "../helpers/tmp.js";

/** Randomness the test controls: these nonces in turn (then the last one again). */
const nonces = (...hex: string[]) => {
  let i = 0;
  return (n: number) => {
    const b = Buffer.from(hex[Math.min(i++, hex.length - 1)]!, "hex");
    expect(b.length).toBe(n);
    return b;
  };
};
const A = "aa".repeat(16);
const B = "bb".repeat(16);

/** A directory with a target path, a victim file and the victim's original content. */
function setup() {
  const dir = tempDir("safe-write");
  const victim = join(tempDir("victim"), "victim");
  writeFileSync(victim, "precious\n");
  return { dir, target: join(dir, "config.json"), victim };
}

describe("CLI file writes never follow a planted symlink", () => {
  test("a symlink planted at the temp name is not written through; another random name is used", async () => {
    const { target, victim } = setup();
    const planted = tempPathFor(target, Buffer.from(A, "hex"));
    symlinkSync(victim, planted);
    const r = await writeFileSafely(target, "new\n", 0o600, nonces(A, B));
    expect(r).toEqual({ replaced: false });
    expect(readFileSync(victim, "utf8")).toBe("precious\n");
    expect(lstatSync(target).isFile()).toBe(true);
    expect(readFileSync(target, "utf8")).toBe("new\n");
    expect((statSync(target).mode & 0o777).toString(8)).toBe("600");
    expect(readlinkSync(planted)).toBe(victim); // left alone
  });

  test("when every temp name is taken it fails and writes nothing", async () => {
    const { target, victim } = setup();
    writeFileSync(target, "old\n");
    symlinkSync(victim, tempPathFor(target, Buffer.from(A, "hex")));
    await expect(writeFileSafely(target, "new\n", 0o644, nonces(A))).rejects.toThrow(/EEXIST/);
    expect(readFileSync(victim, "utf8")).toBe("precious\n");
    expect(readFileSync(target, "utf8")).toBe("old\n");
  });

  test("a symlink at the target itself is replaced by the file, not written through", async () => {
    const { target, victim } = setup();
    symlinkSync(victim, target);
    const r = await writeFileSafely(target, "new\n", 0o644, nonces(A));
    expect(r).toEqual({ replaced: true });
    expect(readFileSync(victim, "utf8")).toBe("precious\n");
    expect(lstatSync(target).isFile()).toBe(true);
    expect((statSync(target).mode & 0o777).toString(8)).toBe("644");
  });

  test("the mode is set explicitly, whatever the file had", async () => {
    const { target } = setup();
    writeFileSync(target, "old\n", { mode: 0o666 });
    expect(await writeFileSafely(target, Buffer.from("x"), 0o600, nonces(B))).toEqual({ replaced: true });
    expect((statSync(target).mode & 0o777).toString(8)).toBe("600");
  });
});
