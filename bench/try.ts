import { httpBench } from "./http.js";
import { signingBench } from "./signing.js";
const which = process.argv[2];
if (which === "sign") console.log(signingBench(3, 1000));
if (which === "http") console.log(JSON.stringify(await httpBench(8), null, 1));
