// The explorer's checks against protocol/vectors/ledger.json: the same verdicts as Python.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { fromHex, toHex, fromBase64 } from '../src/bytes.js'
import { parseCheckpoint } from '../src/checkpoint.js'
import { checkCosignatures, parseWitnessKey } from '../src/cosignature.js'
import { leafData } from '../src/leaf.js'
import { leafHash, verifyInclusion } from '../src/merkle.js'
import { parseKey, parseNote, verifyNote } from '../src/note.js'
import { vectors } from './helpers.js'

const reasonOf = async (promise) => {
  try { await promise } catch (err) { return err.reason }
  return 'ok'
}

test('verifier keys parse to their name, key id and public key', async () => {
  for (const k of Object.values(vectors.keys)) {
    const key = await parseKey(k.vkey)
    assert.equal(key.name, k.name)
    assert.equal(key.keyId.toString(16).padStart(8, '0'), k.key_id)
    assert.equal(toHex(key.publicKey), k.public)
  }
})

test('bad verifier keys are refused as bad_key', async () => {
  const good = vectors.keys.ledger.vkey
  const [name, id, b64] = good.split('+')
  const cases = [
    '', 'nonsense', `${name}+${id}`, `${name}+00000000+${b64}`, `${name}+${id.toUpperCase()}+${b64}`,
    `${name}+${id}+${b64.slice(0, -4)}`, `other+${id}+${b64}`, `${name} x+${id}+${b64}`,
    `${name}+${id}+${b64}=`, vectors.cosignatures.witnesses[0].vkey
  ]
  for (const text of cases) assert.equal(await reasonOf(parseKey(text)), 'bad_key', text)
})

test('every note gets its verdict against the ledger key', async () => {
  const ledger = await parseKey(vectors.keys.ledger.vkey)
  for (const v of vectors.notes) {
    const verdict = await reasonOf((async () => parseCheckpoint((await verifyNote(v.note, ledger)).text))())
    assert.equal(verdict, v.verdict, v.name)
    if (v.verdict === 'ok') {
      const cp = parseCheckpoint(parseNote(v.note).text)
      assert.equal(cp.origin, v.checkpoint.origin)
      assert.equal(cp.size, BigInt(v.checkpoint.size))
      assert.equal(toHex(cp.root), v.checkpoint.root)
    }
  }
})

test('a note signed by the wrong key fails with the wrong key too', async () => {
  const wrong = await parseKey(vectors.keys.wrong.vkey)
  const good = vectors.notes.find((n) => n.name === 'good')
  assert.equal(await reasonOf(verifyNote(good.note, wrong)), 'no_signature')
})

test('cosignatures verify with the witness keys, a flipped one does not', async () => {
  const c = vectors.cosignatures
  const witnesses = await Promise.all(c.witnesses.map((w) => parseWitnessKey(w.vkey)))
  const { text, sigs } = parseNote(c.note)
  const result = await checkCosignatures(text, sigs, witnesses)
  assert.deepEqual(result.map((r) => [r.name, r.ok, Number(r.timestamp)]), c.witnesses.map((w) => [w.name, true, w.timestamp]))
  const bad = parseNote(c.bad_note)
  const badResult = await checkCosignatures(bad.text, bad.sigs, witnesses)
  assert.deepEqual(badResult.map((r) => [r.name, r.ok]), [[c.bad_witness, false], [c.witnesses[1].name, false]])
})

test('check-in and audit leaves and their hashes match byte for byte', async () => {
  for (const leaf of vectors.leaves) {
    const data = leafData(fromHex(leaf.checkin_id), fromHex(leaf.commit), leaf.kind)
    assert.equal(toHex(data), leaf.data)
    assert.equal(toHex(await leafHash(data)), leaf.hash)
  }
})

test('every inclusion proof of trees of 1 to 7 leaves verifies', async () => {
  for (const v of vectors.inclusion) {
    await verifyInclusion(fromHex(v.leaf_hash), v.leaf_index, v.tree_size, v.proof.map((p) => fromHex(p)), fromHex(v.root))
  }
  assert.ok(vectors.inclusion.length >= 28)
})

test('every bad inclusion proof is refused for its reason', async () => {
  for (const v of vectors.bad_inclusion) {
    const run = async () => verifyInclusion(fromHex(v.leaf_hash), v.leaf_index, v.tree_size, v.proof.map((p) => fromHex(p)), fromHex(v.root))
    assert.equal(await reasonOf(run()), v.reason, v.name)
  }
})

test('trees past 2^32 leaves use exact integer arithmetic', async () => {
  // A proof for the last leaf of a tree of 2^40 + 1 leaves is one hash: the root of the
  // first 2^40 leaves, then the leaf (RFC 9162: index 2^40 in a tree of 2^40 + 1).
  const leaf = fromHex(vectors.leaves[0].hash)
  const left = fromHex(vectors.leaves[1].hash)
  const { nodeHash } = await import('../src/merkle.js')
  const root = await nodeHash(left, leaf)
  await verifyInclusion(leaf, 2 ** 40, 2 ** 40 + 1, [left], root)
  assert.equal(await reasonOf(verifyInclusion(leaf, 2 ** 40 + 1, 2 ** 40 + 1, [left], root)), 'index_range')
})

test('base64 is canonical only', () => {
  assert.deepEqual([...fromBase64('AAE=')], [0, 1])
  assert.throws(() => fromBase64('AAF='), /canonical/)
  assert.throws(() => fromBase64('AAE'), /canonical/)
  assert.throws(() => fromBase64('A AE='), /canonical/)
})

test('every consistency proof between trees of 1 to 7 leaves verifies', async () => {
  const { verifyConsistency } = await import('../src/merkle.js')
  for (const v of vectors.consistency) {
    await verifyConsistency(v.old_size, v.new_size, fromHex(v.old_root), fromHex(v.new_root), v.proof.map((p) => fromHex(p)))
  }
  assert.equal(vectors.consistency.length, 28)
})

test('every bad consistency proof is refused for its reason', async () => {
  const { verifyConsistency } = await import('../src/merkle.js')
  for (const v of vectors.bad_consistency) {
    const run = async () => verifyConsistency(v.old_size, v.new_size, fromHex(v.old_root), fromHex(v.new_root), v.proof.map((p) => fromHex(p)))
    assert.equal(await reasonOf(run()), v.reason, v.name)
  }
})
