#!/usr/bin/env node
// The `keyfob` command from a checkout: runs the bundle the build writes (`npm run build -w
// @keyfob/cli`). The published package's `bin` is that bundle itself, dist/keyfob.cjs.
import '../dist/keyfob.cjs'
