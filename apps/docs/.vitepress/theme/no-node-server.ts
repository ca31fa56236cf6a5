// Stands in for `@hono/node-server` in the site's browser bundle: `@keyfob/mock-idp`'s `serve()`
// imports it lazily to listen on a socket, which a page cannot do. The playground uses
// `createMockIdp()` and its in-process fetch instead.
export function serve(): never {
  throw new Error('serve() needs a socket; in a browser use createMockIdp() and its fetch')
}
