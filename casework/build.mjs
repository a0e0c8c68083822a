// Build the case work page's one script into dist/ (git-ignored; aggregator/case_pages
// serves it at /staff/cases/casework.js): a minified ES module bundle (esbuild) of
// src/main.js.
import { build } from 'esbuild'
import { mkdir, rm } from 'node:fs/promises'

const dist = new URL('./dist/', import.meta.url)
await rm(dist, { recursive: true, force: true })
await mkdir(dist, { recursive: true })
await build({
  entryPoints: [new URL('./src/main.js', import.meta.url).pathname],
  outfile: new URL('casework.js', dist).pathname,
  bundle: true,
  format: 'esm',
  minify: true,
  target: ['es2022'],
  platform: 'browser',
  legalComments: 'eof',
  logLevel: 'warning'
})
console.log('casework built: dist/casework.js')
