// Build the wallet into dist/ (git-ignored; aggregator/wallet_app serves it at /wallet):
// one minified ES module bundle (esbuild), the page, stylesheet, manifest, icon, and the
// service worker with the shell's file list and a version hash of its contents.
import { build } from 'esbuild'
import { createHash } from 'node:crypto'
import { copyFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises'

const src = new URL('./src/', import.meta.url)
const dist = new URL('./dist/', import.meta.url)
/** Files copied as they are, and where the page is served (the shell the worker keeps). */
const STATIC = ['index.html', 'app.css', 'manifest.webmanifest', 'icon.svg']
const URLS = { 'index.html': '/wallet', 'app.js': '/wallet/app.js', 'app.css': '/wallet/app.css', 'manifest.webmanifest': '/wallet/manifest.webmanifest', 'icon.svg': '/wallet/icon.svg' }

await rm(dist, { recursive: true, force: true })
await mkdir(dist, { recursive: true })
await build({
  entryPoints: [new URL('app/main.js', src).pathname],
  outfile: new URL('app.js', dist).pathname,
  bundle: true,
  format: 'esm',
  minify: true,
  target: ['es2022'],
  platform: 'browser',
  legalComments: 'eof',
  logLevel: 'warning'
})
for (const name of STATIC) await copyFile(new URL(name, src), new URL(name, dist))

const hash = createHash('sha256')
for (const name of Object.keys(URLS).sort()) hash.update(name).update(await readFile(new URL(name, dist)))
const version = hash.digest('hex').slice(0, 16)
const worker = (await readFile(new URL('sw.js', src), 'utf8'))
  .replace('__VERSION__', version)
  .replace('__SHELL__', JSON.stringify(Object.values(URLS)))
await writeFile(new URL('sw.js', dist), worker)
await writeFile(new URL('version.txt', dist), version + '\n')
console.log(`wallet built: dist/ version ${version}`)
