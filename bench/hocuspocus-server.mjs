// Plain Hocuspocus server (no extensions) for bench/run.sh: PORT env, 127.0.0.1 only.
import { Server } from "@hocuspocus/server";

const port = Number.parseInt(process.env.PORT || "1234", 10);
const server = new Server({ port, address: "127.0.0.1", quiet: true });
await server.listen();
console.log(`listening on http://127.0.0.1:${port}`);
