// The orders handler in Node, as an HTTP endpoint for `ebbflow work`
// (handler = { http = "http://127.0.0.1:PORT/orders" }).
//
// ebbflow POSTs each message: the body is the order, the X-Ebbflow-* headers
// say which message it is. 2xx: done. 400: a bad order, dead-lettered at once.
// 429/503 would slow ebbflow down; 5xx would be retried.
const http = require("node:http");

const port = Number(process.env.PORT || 8080);

function handle(body, headers) {
  let order;
  try {
    order = JSON.parse(body);
  } catch (e) {
    return [400, `not JSON: ${e.message}`];
  }
  if (order === null || typeof order !== "object" || !("id" in order)) {
    return [400, "an order needs an id"];
  }
  if (typeof order.total !== "number" || order.total <= 0) {
    return [400, `order ${order.id}: total must be above zero, got ${JSON.stringify(order.total)}`];
  }
  // Charging and reserving stock would go here; headers["x-ebbflow-receive-count"] says which try this is.
  return [200, "ok"];
}

const server = http.createServer((req, res) => {
  if (req.method !== "POST" || req.url !== "/orders") {
    res.writeHead(404).end("POST /orders");
    return;
  }
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    const [status, text] = handle(Buffer.concat(chunks).toString("utf8"), req.headers);
    res.writeHead(status, { "content-type": "text/plain" }).end(text);
  });
});

server.listen(port, "127.0.0.1", () => console.error(`orders handler on http://127.0.0.1:${port}/orders`));
process.on("SIGTERM", () => server.close(() => process.exit(0)));
