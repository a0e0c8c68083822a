// The case work page's script as a browser fetches it (dist/casework.js), raw and
// gzipped (level 9). Prints JSON: {"bytes", "bytes_gzip"}.
import { readFile } from 'node:fs/promises'
import { gzipSync } from 'node:zlib'

const data = await readFile(new URL('../dist/casework.js', import.meta.url))
console.log(JSON.stringify({ bytes: data.length, bytes_gzip: gzipSync(data, { level: 9 }).length }))
