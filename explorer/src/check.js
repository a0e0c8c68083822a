/**
 * "Check a receipt": everything the explorer page checks in the browser for one check-in,
 * trusting the server for nothing but availability.
 *
 * 1. the ledger's verifier key (given by the page or pasted by the visitor) parses and its
 *    key id matches;
 * 2. GET /v1/checkpoint: the signed note verifies with that key, is a checkpoint, and its
 *    origin is the key's name;
 * 3. GET /v1/proof/inclusion/<id>?tree_size=<that checkpoint's size>: the leaf rebuilt from
 *    the typed id (a check-in's, or an audit entry's), the proof's kind and commitment
 *    hashes to the proof's leaf hash, and
 *    the RFC 9162 path leads from it to the root of the checkpoint verified in step 2 (the
 *    root and checkpoint the proof answer also carries are ignored).
 *
 * 4. with witness keys given (one a line): GET /v1/checkpoint/cosigned, the newest
 *    checkpoint witnesses cosigned: the ledger key signed it, each witness's cosignature
 *    verifies (or is missing), and GET /v1/proof/consistency ties it to the checkpoint of
 *    step 2 (the smaller tree is a prefix of the larger), so the log the visitor was shown
 *    is the one the witnesses saw. An inconsistent witnessed checkpoint fails the check
 *    (`inconsistent`); no cosigned checkpoint yet is reported, not failed.
 *
 * `checkReceipt` resolves to the facts shown on success or throws VerifyError whose reason
 * names the failed step; `onStep(name)` reports progress.
 */
import { equal, fromHex, toHex } from './bytes.js'
import { parseCheckpoint } from './checkpoint.js'
import { VerifyError } from './errors.js'
import { KINDS, leafData } from './leaf.js'
import { leafHash, verifyConsistency, verifyInclusion } from './merkle.js'
import { parseKey, verifyNote } from './note.js'
import { checkCosignatures, parseWitnessKey } from './cosignature.js'

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
    if (['no_checkpoint', 'unknown_checkin', 'not_sealed', 'no_cosigned_checkpoint'].includes(code)) throw new VerifyError(code, `HTTP ${response.status}`)
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
  const kind = answer.kind === undefined ? 'checkin' : answer.kind
  if (!KINDS.includes(kind)) throw new VerifyError('malformed', 'unknown leaf kind')
  return {
    kind,
    index,
    leaf: fromHex(leaf, 32, 'leaf_hash'),
    path: proof.map((p, i) => fromHex(p, 32, `proof[${i}]`)),
    commit: commit === null || commit === undefined ? null : fromHex(commit, 32, 'commit'),
    blockHeight: Number.isSafeInteger(answer.block_height) ? answer.block_height : null
  }
}

/** Witness keys, one a line (blank lines ignored); throws VerifyError('bad_witness_key'). */
export async function parseWitnessKeys (text) {
  const lines = String(text || '').split('\n').map((l) => l.trim()).filter(Boolean)
  const keys = []
  for (const line of lines) {
    try {
      keys.push(await parseWitnessKey(line))
    } catch (err) {
      throw new VerifyError('bad_witness_key', `${line.slice(0, 40)}: ${err.detail || err}`)
    }
  }
  return keys
}

async function consistencyBetween (fetchFn, a, b) {
  const [small, large] = a.size <= b.size ? [a, b] : [b, a]
  let path = []
  if (small.size !== large.size) {
    const answer = await get(fetchFn, `/v1/proof/consistency?old=${small.size}&new=${large.size}`, 'json')
    if (!answer || !Array.isArray(answer.proof) || answer.proof.length > MAX_PROOF) throw new VerifyError('malformed', 'the consistency proof is not a list')
    path = answer.proof.map((p, i) => fromHex(p, 32, `proof[${i}]`))
  }
  try {
    await verifyConsistency(small.size, large.size, small.root, large.root, path)
  } catch (err) {
    throw new VerifyError('inconsistent', err.detail || String(err))
  }
}

/**
 * The newest witnessed checkpoint against `checkpoint`: {cosignedSize, witnesses: [{name,
 * ok, timestamp}]}, or {cosignedSize: null, witnesses: []} when nothing is cosigned yet.
 */
export async function checkWitnesses ({ verifier, checkpoint, witnessKeys, fetch: fetchFn }) {
  let note
  try {
    note = await get(fetchFn, '/v1/checkpoint/cosigned', 'note')
  } catch (err) {
    if (err.reason === 'no_cosigned_checkpoint') return { cosignedSize: null, witnesses: [] }
    throw err
  }
  const opened = await verifyNote(note, verifier)
  const witnessed = parseCheckpoint(opened.text)
  if (witnessed.origin !== verifier.name) throw new VerifyError('origin_mismatch', 'the witnessed checkpoint is for another log')
  const results = await checkCosignatures(opened.text, opened.sigs, witnessKeys)
  await consistencyBetween(fetchFn, witnessed, checkpoint)
  return {
    cosignedSize: witnessed.size.toString(),
    witnesses: results.map((r) => ({ name: r.name, ok: r.ok, timestamp: r.timestamp === null ? null : Number(r.timestamp) }))
  }
}

export async function checkReceipt ({ checkinId, vkey, witnesses = '', fetch: fetchFn = globalThis.fetch.bind(globalThis), onStep = () => {} }) {
  const id = normaliseCheckinId(checkinId)
  onStep('key')
  const verifier = await parseKey(vkey)
  const witnessKeys = await parseWitnessKeys(witnesses)
  onStep('checkpoint')
  const note = await get(fetchFn, '/v1/checkpoint', 'note')
  const opened = await verifyNote(note, verifier)
  const checkpoint = parseCheckpoint(opened.text)
  if (checkpoint.origin !== verifier.name) throw new VerifyError('origin_mismatch', `checkpoint origin ${checkpoint.origin} is not the key's name ${verifier.name}`)
  onStep('proof')
  const answer = await get(fetchFn, `/v1/proof/inclusion/${id}?tree_size=${checkpoint.size}`, 'json')
  const proof = proofFields(answer, checkpoint.size)
  if (proof.commit === null) throw new VerifyError('not_bound', 'the proof carries no commitment for this check-in')
  const rebuilt = await leafHash(leafData(fromHex(id, 16), proof.commit, proof.kind))
  if (!equal(rebuilt, proof.leaf)) throw new VerifyError('not_bound', 'the leaf is not this id\'s')
  onStep('inclusion')
  await verifyInclusion(proof.leaf, proof.index, checkpoint.size, proof.path, checkpoint.root)
  let witnessed = null
  if (witnessKeys.length) {
    onStep('witnesses')
    witnessed = await checkWitnesses({ verifier, checkpoint, witnessKeys, fetch: fetchFn })
  }
  return {
    witnessed,
    checkinId: id,
    kind: proof.kind,
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
