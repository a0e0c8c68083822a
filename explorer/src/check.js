/**
 * "Check a receipt": everything the explorer page checks in the browser for one check-in,
 * trusting the server for nothing but availability.
 *
 * 1. the ledger's verifier key (given by the page or pasted by the visitor) parses and its
 *    key id matches;
 * 2. GET /v1/checkpoint: the signed note verifies with that key, is a checkpoint, and its
 *    origin is the key's name;
 * 3. GET /v1/proof/inclusion/<id>?tree_size=<that checkpoint's size>: the leaf rebuilt from
 *    the typed check-in id and the proof's commitment hashes to the proof's leaf hash, and
 *    the RFC 9162 path leads from it to the root of the checkpoint verified in step 2 (the
 *    root and checkpoint the proof answer also carries are ignored).
 *
 * `checkReceipt` resolves to the facts shown on success or throws VerifyError whose reason
 * names the failed step; `onStep(name)` reports progress.
 */
import { equal, fromHex, toHex } from './bytes.js'
import { parseCheckpoint } from './checkpoint.js'
import { VerifyError } from './errors.js'
import { leafData } from './leaf.js'
import { leafHash, verifyInclusion } from './merkle.js'
import { parseKey, verifyNote } from './note.js'

const CHECKIN_ID = /^[0-9a-f]{32}$/
const MAX_PROOF = 64

/** The check-in id as typed: 32 hex digits, spaces and case forgiven. */
export function normaliseCheckinId (text) {
  const id = String(text).replace(/\s+/g, '').toLowerCase()
  if (!CHECKIN_ID.test(id)) throw new VerifyError('bad_id', 'a check-in id is 32 hex digits')
  return id
}

async function get (fetchFn, path, what) {
  let response
  try {
    response = await fetchFn(path, { headers: { accept: what === 'note' ? 'text/plain' : 'application/json' }, cache: 'no-store', credentials: 'omit' })
  } catch (err) {
    throw new VerifyError('network', String(err))
  }
  if (!response.ok) {
    let code = ''
    try { code = (await response.json()).error || '' } catch { /* not JSON */ }
    if (['no_checkpoint', 'unknown_checkin', 'not_sealed'].includes(code)) throw new VerifyError(code, `HTTP ${response.status}`)
    throw new VerifyError('server_error', `HTTP ${response.status} ${code}`.trim())
  }
  if (what === 'note') return response.text()
  try {
    return await response.json()
  } catch (err) {
    throw new VerifyError('malformed', 'the proof is not JSON')
  }
}

function proofFields (answer, size) {
  if (answer === null || typeof answer !== 'object') throw new VerifyError('malformed', 'the proof is not an object')
  const { leaf_index: index, tree_size: treeSize, leaf_hash: leaf, proof, commit } = answer
  if (!Number.isSafeInteger(index) || index < 0) throw new VerifyError('malformed', 'leaf_index is not an integer')
  if (!Number.isSafeInteger(treeSize) || BigInt(treeSize) !== size) throw new VerifyError('wrong_tree', `the proof is for tree ${treeSize}, not ${size}`)
  if (!Array.isArray(proof) || proof.length > MAX_PROOF) throw new VerifyError('malformed', 'proof is not a list of hashes')
  return {
    index,
    leaf: fromHex(leaf, 32, 'leaf_hash'),
    path: proof.map((p, i) => fromHex(p, 32, `proof[${i}]`)),
    commit: commit === null || commit === undefined ? null : fromHex(commit, 32, 'commit'),
    blockHeight: Number.isSafeInteger(answer.block_height) ? answer.block_height : null
  }
}

export async function checkReceipt ({ checkinId, vkey, fetch: fetchFn = globalThis.fetch.bind(globalThis), onStep = () => {} }) {
  const id = normaliseCheckinId(checkinId)
  onStep('key')
  const verifier = await parseKey(vkey)
  onStep('checkpoint')
  const note = await get(fetchFn, '/v1/checkpoint', 'note')
  const opened = await verifyNote(note, verifier)
  const checkpoint = parseCheckpoint(opened.text)
  if (checkpoint.origin !== verifier.name) throw new VerifyError('origin_mismatch', `checkpoint origin ${checkpoint.origin} is not the key's name ${verifier.name}`)
  onStep('proof')
  const answer = await get(fetchFn, `/v1/proof/inclusion/${id}?tree_size=${checkpoint.size}`, 'json')
  const proof = proofFields(answer, checkpoint.size)
  if (proof.commit === null) throw new VerifyError('not_bound', 'the proof carries no commitment for this check-in')
  const rebuilt = await leafHash(leafData(fromHex(id, 16), proof.commit))
  if (!equal(rebuilt, proof.leaf)) throw new VerifyError('not_bound', 'the leaf is not this check-in\'s')
  onStep('inclusion')
  await verifyInclusion(proof.leaf, proof.index, checkpoint.size, proof.path, checkpoint.root)
  return {
    checkinId: id,
    origin: checkpoint.origin,
    treeSize: checkpoint.size.toString(),
    root: toHex(checkpoint.root),
    leafIndex: proof.index,
    leafHash: toHex(proof.leaf),
    blockHeight: proof.blockHeight,
    proofLength: proof.path.length,
    keyId: verifier.keyId.toString(16).padStart(8, '0')
  }
}
