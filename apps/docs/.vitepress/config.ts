import { existsSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vitepress'

interface SidebarItem {
  text?: string
  link?: string
  items?: SidebarItem[]
  collapsed?: boolean
}

// Written by scripts/api.mjs (typedoc-vitepress-theme) before every build.
const apiSidebarFile = fileURLToPath(new URL('../api/typedoc-sidebar.json', import.meta.url))
const apiSidebar: SidebarItem[] = existsSync(apiSidebarFile)
  ? (JSON.parse(readFileSync(apiSidebarFile, 'utf8')) as SidebarItem[])
  : []

export default defineConfig({
  title: 'keyfob',
  description:
    'OAuth 2.0 / OpenID Connect for client authors: flows, sessions, token stores, a scriptable mock IdP, an API guard and a CLI.',
  cleanUrls: true,
  head: [['link', { rel: 'icon', type: 'image/svg+xml', href: '/favicon.svg' }]],
  lastUpdated: false,
  // A broken link fails the build (VitePress's default, stated here so nobody turns it off).
  ignoreDeadLinks: false,
  srcExclude: ['README.md', 'test/**', 'scripts/**', '.samples/**', '.cli/**'],
  themeConfig: {
    logo: '/favicon.svg',
    nav: [
      { text: 'Guide', link: '/guide/' },
      { text: 'Playground', link: '/playground' },
      { text: 'CLI', link: '/cli' },
      { text: 'API', link: '/api/' },
    ],
    sidebar: [
      {
        text: 'Start',
        items: [
          { text: 'Getting started', link: '/guide/' },
          { text: 'Install', link: '/guide/install' },
          { text: 'Standalone executables', link: '/guide/standalone' },
          { text: 'Playground', link: '/playground' },
        ],
      },
      {
        text: 'Logging in',
        items: [
          { text: 'Device flow', link: '/guide/device' },
          { text: 'Browser + PKCE', link: '/guide/browser' },
          { text: 'Client credentials', link: '/guide/client-credentials' },
          { text: 'Password', link: '/guide/password' },
          { text: 'Refresh and sessions', link: '/guide/sessions' },
          { text: 'DPoP: sender-constrained tokens', link: '/guide/dpop' },
          { text: 'Pushed authorization requests', link: '/guide/par' },
          { text: 'Resource indicators', link: '/guide/resource-indicators' },
        ],
      },
      {
        text: 'Keeping tokens',
        items: [
          { text: 'File store', link: '/guide/store-file' },
          { text: 'Keychain store', link: '/guide/store-keychain' },
          { text: 'Memory store', link: '/guide/store-memory' },
          { text: 'Writing your own store', link: '/guide/store-custom' },
        ],
      },
      {
        text: 'Testing and APIs',
        items: [
          { text: 'The mock IdP in your tests', link: '/guide/mock-idp' },
          { text: 'Protect an API with guard', link: '/guide/guard' },
          { text: 'DPoP and resource indicators at the API', link: '/guide/guard-dpop' },
          { text: 'keyfob-guard: from fastgeoapi', link: '/guide/gateway' },
          { text: 'Compose your own client', link: '/guide/compose' },
        ],
      },
      {
        text: 'Command line',
        items: [
          { text: 'CLI reference', link: '/cli' },
          { text: 'Migrating from openeo-auth', link: '/guide/openeo-auth' },
        ],
      },
      { text: 'API reference', link: '/api/', items: apiSidebar, collapsed: true },
    ],
    search: { provider: 'local' },
    outline: [2, 3],
  },
  vite: {
    // Read the packages' TypeScript sources (their `source` export condition): the site always
    // documents and runs the code in this checkout, with no build step in between.
    resolve: {
      conditions: ['source'],
      alias: {
        '@hono/node-server': fileURLToPath(new URL('./theme/no-node-server.ts', import.meta.url)),
      },
    },
    ssr: { resolve: { conditions: ['source'], externalConditions: ['source'] } },
    build: { chunkSizeWarningLimit: 2048 },
  },
})
