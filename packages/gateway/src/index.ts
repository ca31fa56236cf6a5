/**
 * `@keyfob/gateway`: `keyfob-guard`, a reverse proxy that puts `@keyfob/guard` in front of any
 * HTTP API (pygeoapi first), configured by flags, environment, an env file, a JSON config file
 * or a fastgeoapi `.env`. Streams bodies both ways, forwards identity headers, serves `/healthz`
 * and `/readyz`, and writes one JSON access-log line per request.
 *
 * @module
 */
export {
  type Combine,
  type GatewaySettings,
  helpText,
  type LoadConfigInput,
  type LoadedConfig,
  loadConfig,
} from './config.ts'
export { GatewayError, type GatewayErrorCode } from './errors.ts'
export { type FastgeoapiTranslation, fromFastgeoapiEnv } from './fastgeoapi.ts'
export { cedarEngine, createGateway, type Gateway, type GatewayRuntime } from './gateway.ts'
export { main, type NodeGateway, nodeForwarder, serveNode } from './node.ts'
export { type PatchOpenApiOptions, patchOpenApi, type SecurityScheme } from './openapi.ts'
export {
  dropHopByHop,
  endToEnd,
  type Forwarder,
  fetchForwarder,
  HOP_BY_HOP,
  headersOf,
  UpstreamError,
  type UpstreamRequest,
} from './proxy.ts'
export type { DependencyState, Readiness } from './readiness.ts'
export { serveWeb, type WebGateway, webMain } from './web.ts'
