// Seal every contact of protocol/vectors/wallet.json to its HA key; print one blob (hex) a line.
// tests/unit/test_vectors.py opens them in Python: HPKE is randomised, so bytes cannot be compared.
import { readFileSync } from 'node:fs'
import { sealContact } from '../src/protocol/contact.js'
import { parseAuthorityKey } from '../src/protocol/authorityKey.js'
import { fromHex, toHex } from '../src/protocol/bytes.js'

const vectors = JSON.parse(readFileSync(new URL('../../protocol/vectors/wallet.json', import.meta.url), 'utf8'))
const ha = parseAuthorityKey(vectors.ha_key.public)
for (const c of vectors.contacts) {
  const blob = await sealContact(ha, { phone: c.phone, lang: c.lang, notify: fromHex(c.notify), name: c.name })
  console.log(toHex(blob))
}
