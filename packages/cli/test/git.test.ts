/**
 * The pieces of git's credential helper protocol that `keyfob git-credential` and `setup-git`
 * share, as tables: what git writes, which `--host` values are accepted, how the entry is quoted.
 */
import { describe, expect, it } from 'vitest'
import { UsageError } from '../src/context.ts'
import { formatCredential, helperKey, parseCredential, parseOrigin, shellQuote } from '../src/git.ts'

describe('parseCredential', () => {
  const cases: Array<[string, Record<string, string>]> = [
    ['protocol=https\nhost=git.example.org\n', { protocol: 'https', host: 'git.example.org' }],
    // Stops at the blank line that ends a request; later lines are not part of it.
    ['protocol=https\nhost=a.example\n\nhost=b.example\n', { protocol: 'https', host: 'a.example' }],
    // `=` inside a value, CRLF, a line without `=`, the last value of a repeated key.
    ['password=a=b\r\nnoise\nhost=x\nhost=y\n', { password: 'a=b', host: 'y' }],
    [
      'url=https://alice@git.example.org:8443/group/repo.git\n',
      { protocol: 'https', host: 'git.example.org:8443', path: 'group/repo.git', username: 'alice' },
    ],
    ['url=not a url\nprotocol=http\n', { protocol: 'http' }],
    ['capability[]=authtype\nprotocol=https\n', { 'capability[]': 'authtype', protocol: 'https' }],
    ['', {}],
  ]
  for (const [input, expected] of cases)
    it(JSON.stringify(input), () => {
      expect(parseCredential(input)).toEqual(expected)
    })
})

describe('formatCredential', () => {
  it('writes key=value lines in order', () => {
    expect(formatCredential({ protocol: 'https', host: 'h', username: 'u', password: 'p=q' })).toBe(
      'protocol=https\nhost=h\nusername=u\npassword=p=q\n',
    )
  })
  it('refuses a value that would end the answer early', () => {
    expect(() => formatCredential({ password: 'a\nhost=evil' })).toThrow(/newline or NUL/)
    expect(() => formatCredential({ password: 'a\0b' })).toThrow(/newline or NUL/)
  })
})

describe('parseOrigin', () => {
  const accepted: Array<[string, { protocol: string; host: string }, string]> = [
    [
      'git.example.org',
      { protocol: 'https', host: 'git.example.org' },
      'credential.https://git.example.org.helper',
    ],
    [
      'Git.Example.org:8443',
      { protocol: 'https', host: 'git.example.org:8443' },
      'credential.https://git.example.org:8443.helper',
    ],
    [
      'https://git.example.org/',
      { protocol: 'https', host: 'git.example.org' },
      'credential.https://git.example.org.helper',
    ],
    [
      'http://127.0.0.1:8080',
      { protocol: 'http', host: '127.0.0.1:8080' },
      'credential.http://127.0.0.1:8080.helper',
    ],
    ['http://[::1]:9', { protocol: 'http', host: '[::1]:9' }, 'credential.http://[::1]:9.helper'],
    ['http://localhost', { protocol: 'http', host: 'localhost' }, 'credential.http://localhost.helper'],
  ]
  for (const [input, origin, key] of accepted)
    it(`accepts ${input}`, () => {
      expect(parseOrigin(input)).toEqual(origin)
      expect(helperKey(parseOrigin(input))).toBe(key)
    })
  const refused: Array<[string, RegExp]> = [
    ['http://git.example.org', /unencrypted/],
    ['http://127.0.0.1.example.org', /unencrypted/],
    ['ssh://git.example.org', /http\(s\) remotes/],
    ['git.example.org/group/repo.git', /without a path/],
    ['https://user@git.example.org', /without a path or user/],
    ['https://', /not a host name or URL/],
  ]
  for (const [input, message] of refused)
    it(`refuses ${input}`, () => {
      expect(() => parseOrigin(input)).toThrow(message)
      expect(() => parseOrigin(input)).toThrow(UsageError)
    })
})

describe('shellQuote', () => {
  const cases: Array<[string, string]> = [
    ['/usr/bin/node', '/usr/bin/node'],
    ['git-credential', 'git-credential'],
    ['/home/a b/keyfob.mjs', "'/home/a b/keyfob.mjs'"],
    ["it's", `'it'\\''s'`],
    ['$HOME', "'$HOME'"],
    ['', "''"],
  ]
  for (const [word, quoted] of cases)
    it(JSON.stringify(word), () => {
      expect(shellQuote(word)).toBe(quoted)
    })
})
