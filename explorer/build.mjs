// Build the explorer's one script into dist/ (git-ignored; aggregator/explorer_app serves
// it at /ledger/explorer.js): a minified ES module bundle (esbuild) of src/main.js.
import { build } from 'esbuild'
import { mkdir, rm } from 'node:fs/promises'

const dist = new URL('./dist/', import.meta.url)
await rm(dist, { recursive: true, force: true })
await mkdir(dist, { recursive: true })
await build({
  entryPoints: [new URL('./src/main.js', import.meta.url).pathname],
  outfile: new URL('explorer.js', dist).pathname,
  bundle: true,
  format: 'esm',
  minify: true,
  target: ['es2022'],
  platform: 'browser',
  legalComments: 'eof',
  logLevel: 'warning'
})
console.log('explorer built: dist/explorer.js')
