// checkReceipt against an in-memory read API built from the vectors: passes when all is
// well, and names the failed step when the server lies or the key is wrong.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { checkReceipt, normaliseCheckinId } from '../src/check.js'
import { vectors } from './helpers.js'

const NOTE = vectors.notes.find((n) => n.name === 'good').note
const SIZE = 7
const LEDGER = vectors.keys.ledger.vkey

function proofFor (index) {
  const v = vectors.inclusion.find((p) => p.tree_size === SIZE && p.leaf_index === index)
  const leaf = vectors.leaves[index]
  return { leaf_index: index, leaf_hash: v.leaf_hash, tree_size: SIZE, root: v.root, proof: [...v.proof], checkpoint: NOTE, block_height: 3, commit: leaf.commit, kind: leaf.kind }
}

/** A fetch for /v1/checkpoint and /v1/proof/inclusion/<id>; `tamper` edits the proof answer. */
function fakeApi ({ note = NOTE, cosigned = vectors.cosignatures.note, tamper = (p) => p, seen = [] } = {}) {
  return async (url) => {
    seen.push(url)
    if (url === '/v1/checkpoint') return new Response(note, { headers: { 'content-type': 'text/plain' } })
    if (url === '/v1/checkpoint/cosigned') {
      if (cosigned === null) return Response.json({ error: 'no_cosigned_checkpoint', message: 'none' }, { status: 404 })
      return new Response(cosigned, { headers: { 'content-type': 'text/plain' } })
    }
    const c = /^\/v1\/proof\/consistency\?old=(\d+)&new=(\d+)$/.exec(url)
    if (c) {
      const v = vectors.consistency.find((p) => p.old_size === Number(c[1]) && p.new_size === Number(c[2]))
      return Response.json({ old: v.old_size, new: v.new_size, proof: v.proof })
    }
    const m = /^\/v1\/proof\/inclusion\/([0-9a-f]{32})\?tree_size=(\d+)$/.exec(url)
    const index = m ? vectors.leaves.findIndex((l) => l.checkin_id === m[1]) : -1
    if (index < 0) return Response.json({ error: 'unknown_checkin', message: 'no such check-in' }, { status: 404 })
    return Response.json(tamper(proofFor(index)))
  }
}

const reasonOf = async (options) => {
  try { await checkReceipt(options) } catch (err) { return err.reason }
  return 'ok'
}

test('a genuine receipt is verified, against the checkpoint it verified itself', async () => {
  for (const [index, leaf] of vectors.leaves.entries()) {
    const seen = []
    const steps = []
    const result = await checkReceipt({ checkinId: leaf.checkin_id.toUpperCase(), vkey: `  ${LEDGER}\n`, fetch: fakeApi({ seen }), onStep: (s) => steps.push(s) })
    assert.equal(result.leafIndex, index)
    assert.equal(result.kind, leaf.kind)
    assert.equal(result.treeSize, '7')
    assert.equal(result.origin, vectors.keys.ledger.name)
    assert.deepEqual(seen, ['/v1/checkpoint', `/v1/proof/inclusion/${leaf.checkin_id}?tree_size=7`])
    assert.deepEqual(steps, ['key', 'checkpoint', 'proof', 'inclusion'])
  }
})

test('the root the server sends beside the proof is not trusted', async () => {
  const tamper = (p) => ({ ...p, root: '00'.repeat(32), checkpoint: 'anything' })
  assert.equal(await reasonOf({ checkinId: vectors.leaves[2].checkin_id, vkey: LEDGER, fetch: fakeApi({ tamper }) }), 'ok')
})

test('lies and mistakes are named', async () => {
  const id = vectors.leaves[2].checkin_id
  const flip = (h) => (h[0] === '0' ? '1' : '0') + h.slice(1)
  const cases = {
    root_mismatch: { tamper: (p) => ({ ...p, proof: [p.proof[0], flip(p.proof[1]), p.proof[2]] }) },
    proof_length: { tamper: (p) => ({ ...p, proof: p.proof.slice(1) }) },
    not_bound: { tamper: (p) => ({ ...p, commit: vectors.leaves[3].commit }) },
    not_bound_kind: { tamper: (p) => ({ ...p, kind: 'audit' }) },
    malformed_kind: { tamper: (p) => ({ ...p, kind: 'visit' }) },
    wrong_tree: { tamper: (p) => ({ ...p, tree_size: 6 }) },
    malformed: { tamper: (p) => ({ ...p, leaf_hash: 'zz' }) },
    bad_signature: { note: vectors.notes.find((n) => n.name === 'tampered-size').note },
    no_signature: { note: vectors.notes.find((n) => n.name === 'other-signer-only').note }
  }
  for (const [name, api] of Object.entries(cases)) {
    const reason = name.replace(/_kind$/, '')
    assert.equal(await reasonOf({ checkinId: id, vkey: LEDGER, fetch: fakeApi(api) }), reason, name)
  }
  assert.equal(await reasonOf({ checkinId: id, vkey: vectors.keys.wrong.vkey, fetch: fakeApi() }), 'no_signature')
  assert.equal(await reasonOf({ checkinId: id, vkey: 'not a key', fetch: fakeApi() }), 'bad_key')
  assert.equal(await reasonOf({ checkinId: 'ab'.repeat(16), vkey: LEDGER, fetch: fakeApi() }), 'unknown_checkin')
  assert.equal(await reasonOf({ checkinId: 'xyz', vkey: LEDGER, fetch: fakeApi() }), 'bad_id')
  const offline = async () => { throw new TypeError('Failed to fetch') }
  assert.equal(await reasonOf({ checkinId: id, vkey: LEDGER, fetch: offline }), 'network')
  const broken = async () => new Response('oops', { status: 500 })
  assert.equal(await reasonOf({ checkinId: id, vkey: LEDGER, fetch: broken }), 'server_error')
})

test('a key named for another origin does not vouch for this log', async () => {
  const other = vectors.cosignatures.witnesses[0] // not an Ed25519 note key at all
  assert.equal(await reasonOf({ checkinId: vectors.leaves[0].checkin_id, vkey: other.vkey, fetch: fakeApi() }), 'bad_key')
})

test('check-in ids forgive spaces and case, nothing else', () => {
  assert.equal(normaliseCheckinId(' AB'.repeat(16)), 'ab'.repeat(16))
  assert.throws(() => normaliseCheckinId('ab'.repeat(15)), /bad_id/)
  assert.throws(() => normaliseCheckinId('ag'.repeat(16)), /bad_id/)
})

const WITNESSES = vectors.cosignatures.witnesses.map((w) => w.vkey).join('\n')

test('witness cosignatures of the same checkpoint are checked in the browser', async () => {
  const seen = []
  const result = await checkReceipt({ checkinId: vectors.leaves[1].checkin_id, vkey: LEDGER, witnesses: `\n${WITNESSES}\n\n`, fetch: fakeApi({ seen }) })
  assert.equal(result.witnessed.cosignedSize, '7')
  assert.deepEqual(result.witnessed.witnesses.map((w) => [w.name, w.ok, w.timestamp]), vectors.cosignatures.witnesses.map((w) => [w.name, true, w.timestamp]))
  assert.ok(!seen.some((u) => u.startsWith('/v1/proof/consistency')))
})

test('an older witnessed checkpoint is tied to the checked one by a consistency proof', async () => {
  const seen = []
  const result = await checkReceipt({ checkinId: vectors.leaves[1].checkin_id, vkey: LEDGER, witnesses: WITNESSES, fetch: fakeApi({ cosigned: vectors.cosignatures.older_note, seen }) })
  assert.equal(result.witnessed.cosignedSize, '3')
  assert.ok(result.witnessed.witnesses.every((w) => w.ok))
  assert.ok(seen.includes('/v1/proof/consistency?old=3&new=7'))
})

test('a forked witnessed checkpoint, a bad cosignature, none at all', async () => {
  const id = vectors.leaves[1].checkin_id
  const forked = { checkinId: id, vkey: LEDGER, witnesses: WITNESSES, fetch: fakeApi({ cosigned: vectors.cosignatures.forked_note }) }
  assert.equal(await reasonOf(forked), 'inconsistent')
  const bad = await checkReceipt({ checkinId: id, vkey: LEDGER, witnesses: WITNESSES, fetch: fakeApi({ cosigned: vectors.cosignatures.bad_note }) })
  assert.deepEqual(bad.witnessed.witnesses.map((w) => w.ok), [false, false])
  const none = await checkReceipt({ checkinId: id, vkey: LEDGER, witnesses: WITNESSES, fetch: fakeApi({ cosigned: null }) })
  assert.deepEqual(none.witnessed, { cosignedSize: null, witnesses: [] })
  assert.equal(await reasonOf({ checkinId: id, vkey: LEDGER, witnesses: 'nonsense', fetch: fakeApi() }), 'bad_witness_key')
  assert.equal(await reasonOf({ checkinId: id, vkey: LEDGER, witnesses: LEDGER, fetch: fakeApi() }), 'bad_witness_key')
  const noWitnesses = await checkReceipt({ checkinId: id, vkey: LEDGER, fetch: fakeApi() })
  assert.equal(noWitnesses.witnessed, null)
})
