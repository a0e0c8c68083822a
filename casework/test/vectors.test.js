// The case work page's cryptography and CSV against protocol/vectors/casework.json
// (written by `python -m authority.casework_vectors` from the Python implementation).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { decryptKeyFile, KeyFileError, loadAuthorityKey } from '../src/keyfile.js'
import { openBatchList, openCaseOpening, openContact, openFromAuthority, openOwner, PURPOSES, SealError } from '../src/seal.js'
import { noticeTag } from '../src/tags.js'
import { csvCell, exposureCsv, COLUMNS } from '../src/csv.js'
import { fromHex, toHex } from '../src/bytes.js'

const V = JSON.parse(await readFile(new URL('../../protocol/vectors/casework.json', import.meta.url), 'utf8'))
const key = await loadAuthorityKey(V.key_file.pem, V.key_file.passphrase)

test('constants agree', () => {
  assert.deepEqual(PURPOSES, V.constants.padded_sizes)
  assert.deepEqual(COLUMNS, V.constants.csv_columns)
})

test('the key file decrypts to the raw key', async () => {
  for (const pem of [V.key_file.pem, V.key_file.pem_cheap]) {
    assert.equal(toHex(await decryptKeyFile(pem, V.key_file.passphrase)), V.key_file.private_raw)
  }
})

test('a wrong passphrase is refused as such', async () => {
  await assert.rejects(decryptKeyFile(V.key_file.pem, V.key_file.wrong_passphrase), (e) => e instanceof KeyFileError && e.reason === 'passphrase')
})

test('what is not a key file is refused as such', async () => {
  const body = V.key_file.pem.split('\n')[1]
  const longer = V.key_file.pem.replace(body, body.slice(0, 3) + String.fromCharCode(body.charCodeAt(3) + 1) + body.slice(4)) // DER length off by one
  for (const text of ['', 'hello', V.key_file.public, V.key_file.pem.replace('ENCRYPTED ', ''), longer]) {
    await assert.rejects(decryptKeyFile(text, V.key_file.passphrase), (e) => e instanceof KeyFileError && e.reason === 'not-a-key-file', text)
  }
})

test('batch lists open', async () => {
  for (const v of V.batches) assert.deepEqual((await openBatchList(key, fromHex(v.blob))).map(toHex), v.credentials)
})

test('a kept case opening opens to its blobs and card ids', async () => {
  for (const v of V.case_openings) {
    const kept = await openCaseOpening(key, fromHex(v.blob))
    assert.deepEqual(kept.batches.map(toHex), v.batches)
    assert.deepEqual(kept.owners.map(toHex), v.owners)
    assert.deepEqual(kept.credentials.map(toHex), v.credentials)
    await assert.rejects(openBatchList(key, fromHex(v.blob)), (e) => e instanceof SealError && e.reason === 'size')
  }
})

test('owners open', async () => {
  for (const v of V.owners) assert.equal(toHex(await openOwner(key, fromHex(v.blob))), v.enrolment)
})

test('contacts open', async () => {
  for (const v of V.contacts) {
    const c = await openContact(key, fromHex(v.blob))
    assert.deepEqual({ ...c, notify: toHex(c.notify) }, { phone: v.phone, lang: v.lang, notify: v.notify, name: v.name })
  }
})

test('bad blobs are refused with their reason', async () => {
  for (const v of V.bad_blobs) {
    await assert.rejects(openFromAuthority(key, v.purpose, fromHex(v.blob)), (e) => e instanceof SealError && e.reason === v.why, v.why)
  }
})

test('notice tags', async () => {
  for (const v of V.notice_tags) assert.equal(toHex(await noticeTag(fromHex(v.notify), fromHex(v.notice))), v.tag)
})

test('CSV cells', () => {
  for (const v of V.csv.cells) assert.equal(csvCell(v.in), v.out, JSON.stringify(v.in))
})

test('CSV exposure lists', () => {
  for (const v of V.csv.lists) assert.equal(exposureCsv(v.rows, v.tz), v.text, v.tz)
})

// AES-CBC has no integrity: a change to the ciphertext over the raw key gives another
// key, which then opens no blob (SealError 'key', audited by the page as decrypt-failed).
test('every one-byte change to the key file is refused, or gives another key', async () => {
  // The same structure as V.key_file.pem at 1,000 PBKDF2 iterations: hundreds of opens.
  const lines = V.key_file.pem_cheap.trim().split('\n')
  const der = Uint8Array.from(atob(lines.slice(1, -1).join('')), (c) => c.charCodeAt(0))
  const pem = (bytes) => `${lines[0]}\n${btoa(String.fromCharCode(...bytes)).match(/.{1,64}/g).join('\n')}\n${lines.at(-1)}\n`
  const reasons = new Set()
  for (let i = 0; i < der.length; i++) {
    for (const flip of [0x01, 0x80]) {
      const bad = der.slice()
      bad[i] ^= flip
      try {
        const raw = await decryptKeyFile(pem(bad), V.key_file.passphrase)
        assert.notEqual(toHex(raw), V.key_file.private_raw, `byte ${i} ^ ${flip} still opened`)
        reasons.add('another key')
      } catch (err) {
        assert.ok(err instanceof KeyFileError, `byte ${i} ^ ${flip}: ${err}`)
        reasons.add(err.reason)
      }
    }
  }
  assert.deepEqual([...reasons].sort(), ['another key', 'not-a-key-file', 'not-x25519', 'passphrase'])
  await assert.rejects(decryptKeyFile(pem(der.slice(0, 40)), V.key_file.passphrase), KeyFileError)
})
