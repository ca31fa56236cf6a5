#!/usr/bin/env node
// The `keyfob` command: the bundle the build writes (scripts/bundle.mjs), dist/keyfob.cjs.
//
// `bin` names this committed file rather than the bundle itself because npm links a bin only if
// its file exists at install time: in a fresh checkout, `npm ci` runs before any build, and a bin
// pointing into dist/ would get no `node_modules/.bin/keyfob` at all (so `npx keyfob` would look
// for a package of that name on the registry). One `require` costs well under a millisecond.
require('../dist/keyfob.cjs')
