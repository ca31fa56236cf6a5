#!/usr/bin/env node
// The `keyfob` command by its former path, which the end-to-end tests spawn: runs the bundle the
// build writes. The package's `bin` is keyfob.cjs next to this file.
import '../dist/keyfob.cjs'
