/**
 * The documentation site in a real browser (Debian's chromium through playwright-core): every page
 * of the built site loads without a console error, and the playground walks a device flow to a
 * decoded token with nothing but the page running. Screenshots go to test-results/docs/.
 *
 * The site is built by the vitest global setup (`turbo run build`, cached); this test serves the
 * static output on 127.0.0.1 and a free port.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { extname, join, relative, resolve, sep } from 'node:path'
import { type Browser, chromium, type Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const docs = join(import.meta.dirname, '..')
const dist = join(docs, '.vitepress', 'dist')
const shots = join(docs, '..', '..', 'test-results', 'docs', `node${process.versions.node.split('.')[0]}`)
const CHROMIUM =
  process.env.CHROMIUM_PATH ?? ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find(existsSync)

if (!CHROMIUM && process.env.CI === 'true')
  throw new Error(
    'the docs browser test is required under CI=true but chromium is missing (scripts/ci-system-deps.sh installs it)',
  )
if (!CHROMIUM)
  console.warn('skipping the docs browser test: no chromium (apt-get install chromium, or set CHROMIUM_PATH)')

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript',
  '.css': 'text/css',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.woff2': 'font/woff2',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain',
}

/** The file a clean URL maps to, as VitePress's hosting guide describes (`/a/b` → `a/b.html`). */
function fileFor(pathname: string): string | undefined {
  const path = resolve(dist, `.${decodeURIComponent(pathname)}`)
  if (path !== dist && !path.startsWith(dist + sep)) return undefined
  for (const candidate of [path, `${path}.html`, join(path, 'index.html')])
    if (existsSync(candidate) && statSync(candidate).isFile()) return candidate
  return undefined
}

function pagesOf(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) return name === 'assets' ? [] : pagesOf(path)
    if (!name.endsWith('.html') || name === '404.html') return []
    const url = `/${relative(dist, path).split(sep).join('/')}`.replace(/(index)?\.html$/, '')
    return [url]
  })
}

let server: Server
let base: string
let browser: Browser

beforeAll(async () => {
  if (!CHROMIUM) return
  if (!existsSync(join(dist, 'index.html')))
    throw new Error(`the site is not built (${dist}); the vitest global setup runs turbo build`)
  server = createServer((request, response) => {
    const file = fileFor(new URL(request.url ?? '/', 'http://x').pathname)
    response.writeHead(file ? 200 : 404, {
      'content-type': TYPES[extname(file ?? '.html')] ?? 'application/octet-stream',
    })
    response.end(readFileSync(file ?? join(dist, '404.html')))
  })
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done))
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] })
  mkdirSync(shots, { recursive: true })
}, 60_000)

afterAll(async () => {
  await browser?.close()
  await new Promise((done) => (server ? server.close(done) : done(undefined)))
})

/** A page that records console errors and uncaught exceptions. */
async function open(): Promise<{ page: Page; problems: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } })
  const problems: string[] = []
  page.on('console', (message) => {
    if (message.type() === 'error')
      problems.push(`console: ${message.text()} (${message.location().url || 'no url'})`)
  })
  page.on('pageerror', (error) => problems.push(`pageerror: ${error.message}`))
  // VitePress prefetches the chunks of linked pages; moving on to the next page aborts those
  // (net::ERR_ABORTED), which is not a broken site. Every other failure counts.
  page.on('requestfailed', (request) => {
    const reason = request.failure()?.errorText ?? 'unknown'
    if (reason !== 'net::ERR_ABORTED') problems.push(`request failed: ${request.url()} (${reason})`)
  })
  page.on('response', (response) => {
    if (response.status() >= 400) problems.push(`${response.status()}: ${response.url()}`)
  })
  return { page, problems }
}

/** Waits for the playground's tokens; an error it shows instead fails with its text. */
async function tokensOf(page: Page, timeout = 30_000): Promise<Record<string, unknown>> {
  await page.locator('[data-testid="token"], [data-testid="error"]').first().waitFor({ timeout })
  const error = page.getByTestId('error')
  if (await error.count()) throw new Error(`the playground showed an error: ${await error.textContent()}`)
  return JSON.parse((await page.getByTestId('claims').first().textContent()) ?? '{}')
}

describe.skipIf(!CHROMIUM)('the docs site in chromium', () => {
  it('every page loads without a console error', async () => {
    const pages = pagesOf(dist)
    // The guides, the CLI reference, the playground and the generated API reference.
    for (const expected of ['/', '/guide/', '/guide/device', '/cli', '/playground', '/api/'])
      expect(pages).toContain(expected)
    expect(pages.some((p) => p.startsWith('/api/@keyfob/'))).toBe(true)
    // Three tabs share the pages: each page still waits for network idle (500 ms without a
    // request) alone in its tab, but the tabs' idle waits overlap instead of adding up.
    const tabs = 3
    const visited: string[] = []
    const problems: string[] = []
    await Promise.all(
      Array.from({ length: tabs }, async (_, tab) => {
        const opened = await open()
        for (const path of pages.filter((_, i) => i % tabs === tab)) {
          const response = await opened.page.goto(base + path, { waitUntil: 'networkidle' })
          expect(response?.status(), path).toBe(200)
          await expect(opened.page.locator('h1').first().textContent()).resolves.toBeTruthy()
          visited.push(path)
        }
        await opened.page.close()
        problems.push(...opened.problems)
      }),
    )
    expect(problems).toEqual([])
    expect(visited.sort()).toEqual([...pages].sort())
  }, 180_000)

  it('the playground walks a device flow to a decoded token', async () => {
    const { page, problems } = await open()
    await page.goto(`${base}/playground`, { waitUntil: 'networkidle' })
    await page.getByTestId('ready').waitFor()
    await page.getByTestId('device-start').click()
    const userCode = page.getByTestId('user-code')
    await userCode.waitFor()
    expect(await userCode.textContent()).toMatch(/^[A-Z0-9-]{6,}$/)
    await page.screenshot({ path: join(shots, 'playground-device-code.png'), fullPage: true })
    await page.getByTestId('device-approve').click()
    const claims = await tokensOf(page)
    expect(claims).toMatchObject({ iss: 'https://mock-idp.test', sub: 'alice' })
    expect(await page.getByTestId('token').count()).toBe(2) // the access token and the ID token
    expect(await page.getByTestId('device-status').textContent()).toContain('approved')
    await page.screenshot({ path: join(shots, 'playground-device-token.png'), fullPage: true })

    // Code + PKCE and client credentials run in the same page.
    await page.getByRole('tab', { name: 'Code + PKCE' }).click()
    await page.getByTestId('code-start').click()
    const url = new URL((await page.getByTestId('authorization-url').textContent()) ?? '')
    expect(url.searchParams.get('code_challenge_method')).toBe('S256')
    expect(url.searchParams.get('state')).toBeTruthy()
    await page.getByTestId('code-continue').click()
    expect((await tokensOf(page)).sub).toBe('alice')
    await page.screenshot({ path: join(shots, 'playground-code.png'), fullPage: true })

    await page.getByRole('tab', { name: 'Client credentials' }).click()
    await page.getByTestId('client-start').click()
    expect((await tokensOf(page)).client_id).toBe('svc')
    await page.screenshot({ path: join(shots, 'playground-client-credentials.png'), fullPage: true })
    await page.close()
    expect(problems).toEqual([])
  }, 120_000)
})
