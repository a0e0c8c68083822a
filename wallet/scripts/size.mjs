// The wallet's weight as a browser fetches it: every file served under /wallet
// (page, bundle, stylesheet, manifest, icon, service worker), raw and gzipped (level 9).
// Prints JSON: {"page_bytes", "page_bytes_gzip", "files": {name: [bytes, gzip]}}.
import { readFile } from 'node:fs/promises'
import { gzipSync } from 'node:zlib'

const FILES = ['index.html', 'app.js', 'app.css', 'manifest.webmanifest', 'icon.svg', 'sw.js']
const dist = new URL('../dist/', import.meta.url)
const files = {}
let raw = 0
let gz = 0
for (const name of FILES) {
  const data = await readFile(new URL(name, dist))
  const zipped = gzipSync(data, { level: 9 }).length
  files[name] = [data.length, zipped]
  raw += data.length
  gz += zipped
}
console.log(JSON.stringify({ page_bytes: raw, page_bytes_gzip: gz, files }))
