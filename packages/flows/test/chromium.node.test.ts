/**
 * browserLogin with a person in a real browser (Debian's chromium through playwright-core): the
 * mock IdP's login form, the redirect to the loopback server (which the login page's CSP
 * `form-action` must allow), and the loopback server's success page. Required under CI=true.
 */
import { existsSync } from 'node:fs'
import { serve } from '@keyfob/mock-idp'
import { type Browser, chromium } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { browserLogin } from '../src/index.ts'

const CHROMIUM =
  process.env.CHROMIUM_PATH ?? ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find(existsSync)
if (!CHROMIUM && process.env.CI === 'true')
  throw new Error(
    'the chromium login test is required under CI=true (scripts/ci-system-deps.sh installs chromium)',
  )
if (!CHROMIUM) console.warn('skipping the chromium login test: no chromium (apt-get install chromium)')

let browser: Browser
beforeAll(async () => {
  if (CHROMIUM) browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] })
})
afterAll(async () => {
  await browser?.close()
})

describe.skipIf(!CHROMIUM)('browserLogin in chromium', () => {
  it('a person signs in on the login form and lands on the loopback server', async () => {
    const server = await serve({
      port: 0,
      login: 'form',
      users: [{ sub: 'alice', password: 'correct horse', claims: { name: 'Alice' } }],
      clients: [{ clientId: 'desktop', redirectUris: ['http://127.0.0.1/callback'] }],
    })
    const context = await browser.newContext()
    const page = await context.newPage()
    const blocked: string[] = []
    // A CSP block shows as a console error; the favicon request after the loopback server closed
    // (connection refused) is not ours to judge.
    page.on('console', (m) => {
      if (/content security policy|form-action/i.test(m.text())) blocked.push(m.text())
    })
    try {
      const tokens = await browserLogin({
        issuer: server.issuer,
        client: { clientId: 'desktop' },
        scope: 'openid profile',
        onUrl: () => {},
        loopback: { timeoutMs: 20_000 },
        openBrowser: async (url) => {
          await page.goto(url)
          await page.getByLabel('Username').fill('alice')
          await page.getByLabel('Password').fill('correct horse')
          await page.getByRole('button', { name: 'Sign in' }).click()
          return true
        },
      })
      expect(tokens.record.idToken).toBeTruthy()
      await page.waitForURL(/^http:\/\/127\.0\.0\.1:\d+\/callback\?/)
      expect(await page.locator('h1').textContent()).toMatch(/signed in/i)
      expect(blocked).toEqual([])
      const logins = server.idp.control.journal.entries({ endpoint: 'login' })
      expect(logins.map((e) => e.status)).toEqual([302])
    } finally {
      await context.close()
      await server.close()
    }
  })
})
