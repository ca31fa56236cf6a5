// The peers of bench/guard-gateway/run.mjs, each in its own process: `upstream` (a tiny JSON API on
// node:http) and `plain-proxy` (http-proxy with a keep-alive agent, no auth). Prints the port.
import http from 'node:http'
import httpProxy from 'http-proxy'

const [role, target] = process.argv.slice(2)
let server
if (role === 'upstream') {
  const body = JSON.stringify({ type: 'FeatureCollection', features: [], numberReturned: 0 })
  server = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/geo+json', 'content-length': Buffer.byteLength(body) })
    res.end(body)
  })
} else if (role === 'plain-proxy') {
  const proxy = httpProxy.createProxyServer({
    target,
    agent: new http.Agent({ keepAlive: true, maxSockets: 256 }),
    xfwd: true,
  })
  proxy.on('error', (_error, _req, res) => {
    res.writeHead(502, { 'content-type': 'application/json' })
    res.end('{"error":"bad_gateway"}')
  })
  server = http.createServer((req, res) => proxy.web(req, res))
} else {
  throw new Error(`unknown role ${role}`)
}
server.listen(0, '127.0.0.1', () => console.log(server.address().port))
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => server.close(() => process.exit(0)))
