/**
 * The keyring helper of a standalone executable: the protocol of the helper source in
 * packages/store/src/keychain.ts (one JSON request per line on stdin, one JSON answer per line on
 * stdout), with `@napi-rs/keyring` and its native addon compiled into the executable instead of
 * resolved from node_modules. The store kills this process when a call outlives its time limit.
 *
 * @module
 */
import type { KeyringModule } from '../../packages/store/src/keychain.ts'

interface Request {
  readonly id: number
  readonly op: 'get' | 'set' | 'delete'
  readonly service: string
  readonly account: string
  readonly value?: string
}

let keyring: KeyringModule | undefined
let buffer = ''

async function handle({ id, op, service, account, value }: Request): Promise<void> {
  try {
    keyring ??= (await import('@napi-rs/keyring')) as unknown as KeyringModule
    const entry = new keyring.AsyncEntry(service, account, { linux: { store: 'secret-service' } })
    const result =
      op === 'get'
        ? await entry.getPassword()
        : op === 'set'
          ? await entry.setPassword(value ?? '')
          : await entry.deleteCredential()
    process.stdout.write(`${JSON.stringify({ id, ok: true, result: result ?? null })}\n`)
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error)
    process.stdout.write(`${JSON.stringify({ id, ok: false, message })}\n`)
  }
}

process.stdin.setEncoding('utf8')
process.stdin.on('end', () => process.exit(0))
process.stdin.on('data', (chunk: string) => {
  buffer += chunk
  for (let newline = buffer.indexOf('\n'); newline >= 0; newline = buffer.indexOf('\n')) {
    const line = buffer.slice(0, newline)
    buffer = buffer.slice(newline + 1)
    void handle(JSON.parse(line) as Request)
  }
})
