import { httpBench } from "./http.js";
import { signingBench } from "./signing.js";
const which = process.argv[2];
if (which === "sign") console.log(signingBench(3, 1000));
if (which === "http") console.log(JSON.stringify(await httpBench(8), null, 1));
if (which === "scale") {
  const { scaleBench } = await import("./scale.js");
  console.log(JSON.stringify(await scaleBench(8, Number(process.argv[3] ?? 1_000_000), 10_000), null, 1));
}
if (which === "people") {
  const { peopleBench } = await import("./people.js");
  console.log(JSON.stringify(await peopleBench(10), null, 1));
}
if (which === "scans") {
  const { scansBench } = await import("./scans.js");
  console.log(JSON.stringify(await scansBench(300, 10), null, 1));
}
