/** The SSH wire reader lives with the other wire encodings (src/ca/ssh-wire.ts). */
export { SshReader } from "../ca/ssh-wire.js";
