// The explorer's weight as a browser fetches it, besides the server-rendered HTML: the
// check page's script (dist/explorer.js), the stylesheet and the icon, raw and gzipped
// (level 9). Prints JSON: {"bytes", "bytes_gzip", "files": {name: [bytes, gzip]}}.
import { readFile } from 'node:fs/promises'
import { gzipSync } from 'node:zlib'

const FILES = {
  'explorer.js': new URL('../dist/explorer.js', import.meta.url),
  'explorer.css': new URL('../../aggregator/explorer_app/static/explorer.css', import.meta.url),
  'icon.svg': new URL('../../aggregator/explorer_app/static/icon.svg', import.meta.url)
}
const files = {}
let raw = 0
let gz = 0
for (const [name, url] of Object.entries(FILES)) {
  const data = await readFile(url)
  const zipped = gzipSync(data, { level: 9 }).length
  files[name] = [data.length, zipped]
  raw += data.length
  gz += zipped
}
console.log(JSON.stringify({ bytes: raw, bytes_gzip: gz, files }))
