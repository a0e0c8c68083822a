/** The JavaScript formats against protocol/vectors/wallet.json (made by `python -m protocol.vectors`). */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { fromJson, importSeed, vectors } from './helpers.js'
import { encode, decode } from '../src/protocol/cbor.js'
import { toHex, fromHex } from '../src/protocol/bytes.js'
import { present, signedPart } from '../src/protocol/presentation.js'
import { seal } from '../src/protocol/signed.js'
import { contactBytes, pad, sealContact, BLOB_SIZE, nameProblem } from '../src/protocol/contact.js'
import { parseAuthorityKey } from '../src/protocol/authorityKey.js'
import { domain, importPublic, verify } from '../src/protocol/keys.js'

test('vectors file has every section', () => {
  assert.equal(vectors.format, 1)
  assert.ok(vectors.presentations.length >= 3)
  assert.ok(vectors.signed_requests.length >= 4)
  assert.ok(vectors.contacts.length >= 3)
})

test('domain prefix is safecode/v1/ + label + NUL', () => {
  assert.equal(toHex(domain('presentation')), toHex(new TextEncoder().encode('safecode/v1/presentation\0')))
})

for (const v of vectors.presentations) {
  test(`presentation ${v.name}: credential CBOR, signed part, signature, CBOR and QR text`, async () => {
    const credential = fromJson(v.credential)
    assert.equal(toHex(encode(credential)), v.credential_cbor)
    assert.equal(toHex(signedPart(v.code_type, credential, v.timestamp)), v.signed_part)
    const key = await importSeed(v.wallet_seed)
    const shown = await present(key, credential, v.timestamp, v.code_type)
    assert.equal(toHex(shown.signature), v.signature)
    assert.equal(toHex(shown.bytes), v.cbor)
    assert.equal(shown.text, v.text)
  })

  test(`presentation ${v.name}: the issuer signature verifies in WebCrypto`, async () => {
    const credential = fromJson(v.credential)
    const issuer = await importPublic(fromHex(v.issuer_public))
    const ok = await verify(issuer, 'credential', encode(credential.slice(0, 5)), credential[5])
    assert.equal(ok, true)
  })
}

for (const v of vectors.signed_requests) {
  test(`signed request ${v.name} (${v.kind}): byte-identical CBOR`, async () => {
    const key = await importSeed(v.key_seed)
    const fields = fromJson(v.fields)
    const body = encode({ v: 1, type: v.kind, ...fields })
    assert.equal(toHex(body), v.signed_part)
    assert.equal(toHex(await seal(v.kind, fields, key)), v.cbor)
  })
}

for (const [i, v] of vectors.contacts.entries()) {
  test(`contact ${i}: plaintext CBOR and padding`, () => {
    const plain = contactBytes({ phone: v.phone, lang: v.lang, notify: fromHex(v.notify), name: v.name })
    assert.equal(toHex(plain), v.cbor)
    assert.equal(toHex(pad(plain)), v.padded)
  })
}

test('a sealed contact is 433 bytes, version 1, fresh every time', async () => {
  const ha = parseAuthorityKey(vectors.ha_key.public)
  assert.equal(toHex(ha), vectors.ha_key.public_raw)
  const c = vectors.contacts[0]
  const contact = { phone: c.phone, lang: c.lang, notify: fromHex(c.notify), name: c.name }
  const a = await sealContact(ha, contact)
  const b = await sealContact(ha, contact)
  assert.equal(a.length, BLOB_SIZE)
  assert.equal(BLOB_SIZE, vectors.constants.contact_blob_size)
  assert.equal(a[0], 1)
  assert.notEqual(toHex(a), toHex(b))
})

test('bad contacts are refused before sealing', () => {
  const notify = new Uint8Array(32)
  assert.throws(() => contactBytes({ phone: '01012345678', lang: 'ko', notify }))
  assert.throws(() => contactBytes({ phone: '+821012345678', lang: 'KO!', notify }))
  assert.throws(() => contactBytes({ phone: '+821012345678', lang: 'ko', notify: new Uint8Array(31) }))
  assert.throws(() => contactBytes({ phone: '+821012345678', lang: 'ko', notify, name: ' padded' }))
  assert.equal(nameProblem('a\u202eb'), 'control')
  assert.equal(nameProblem('a\nb'), 'control')
  assert.equal(nameProblem('👩\u200d💻'), null)
  assert.equal(nameProblem('가'.repeat(64)), null)
  assert.equal(nameProblem('가'.repeat(65)), 'length')
  assert.equal(nameProblem('e\u0301'), 'spaces') // not NFC
})

test('authority key text is parsed strictly', () => {
  assert.throws(() => parseAuthorityKey(vectors.ha_key.public + ' '))
  assert.throws(() => parseAuthorityKey('safecode-ha-x25519:short'))
  assert.throws(() => parseAuthorityKey(42))
})

test('strict decode refuses non-canonical CBOR and tags', () => {
  assert.deepEqual(decode(fromHex('a2616101616202'), 100), { a: 1, b: 2 })
  assert.throws(() => decode(fromHex('a2616201616102'), 100)) // keys out of order
  assert.throws(() => decode(fromHex('1817'), 100)) // 23 not in shortest form
  assert.throws(() => decode(fromHex('c11a5f000000'), 100)) // tag 1
  assert.throws(() => decode(fromHex('f93c00'), 100)) // a float
  assert.throws(() => decode(fromHex('a2616101616101'), 100)) // duplicate key
  assert.throws(() => decode(new Uint8Array(101), 100)) // too big
})

test('encode refuses what our formats never hold', () => {
  assert.throws(() => encode(1.5))
  assert.throws(() => encode(-0.5))
  assert.throws(() => encode(2 ** 60))
  assert.throws(() => encode(undefined))
})

test('Base45 encodes a Uint8Array view at an offset correctly (RFC 9285 examples)', async () => {
  const { encode: b45 } = await import('../src/protocol/base45.js')
  assert.equal(b45(new TextEncoder().encode('AB')), 'BB8')
  assert.equal(b45(new TextEncoder().encode('Hello!!')), '%69 VD92EX0')
  assert.equal(b45(new TextEncoder().encode('ietf!')), 'QED8WEX0')
  const backing = new TextEncoder().encode('xxietf!')
  assert.equal(b45(backing.subarray(2)), 'QED8WEX0')
})
