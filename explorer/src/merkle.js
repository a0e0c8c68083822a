/**
 * RFC 9162 Merkle tree hashing and inclusion proof verification (section 2.1.3.2), as
 * protocol/merkle.py does it: leaf SHA-256(0x00 || data), node SHA-256(0x01 || l || r).
 * Indices and sizes are BigInts inside (trees may pass 2^32 leaves; JS bit operators
 * stop at 32 bits).
 */
import { equal, sha256 } from './bytes.js'
import { VerifyError } from './errors.js'

export const HASH_SIZE = 32
const LEAF = Uint8Array.of(0)
const NODE = Uint8Array.of(1)

export function leafHash (data) {
  return sha256(LEAF, data)
}

export function nodeHash (left, right) {
  return sha256(NODE, left, right)
}

function bitLength (n) {
  return n === 0n ? 0 : n.toString(2).length
}

function popCount (n) {
  return [...n.toString(2)].filter((c) => c === '1').length
}

function asBig (value, what) {
  if (typeof value === 'bigint') return value
  if (Number.isSafeInteger(value)) return BigInt(value)
  throw new VerifyError('malformed', `${what} is not an integer`)
}

function checkHash (value, what) {
  if (!(value instanceof Uint8Array) || value.length !== HASH_SIZE) throw new VerifyError('malformed', `${what} is not a ${HASH_SIZE}-byte hash`)
  return value
}

/** The number of hashes in the inclusion proof of `index` in a tree of `size` (index < size). */
export function inclusionProofLength (index, size) {
  const inner = bitLength(index ^ (size - 1n))
  return inner + popCount(index >> BigInt(inner))
}

/**
 * Throw VerifyError unless `proof` leads from `leaf` at `index` to `root` in a tree of
 * `size` leaves. Reasons: `malformed`, `index_range`, `proof_length`, `root_mismatch`.
 */
export async function verifyInclusion (leaf, index, size, proof, root) {
  const fnStart = asBig(index, 'leaf index')
  const sizeBig = asBig(size, 'tree size')
  if (fnStart < 0n || sizeBig < 0n) throw new VerifyError('malformed', 'negative index or size')
  if (fnStart >= sizeBig) throw new VerifyError('index_range', `leaf ${fnStart} is not in a tree of ${sizeBig}`)
  checkHash(leaf, 'leaf hash')
  checkHash(root, 'root hash')
  if (!Array.isArray(proof)) throw new VerifyError('malformed', 'the proof is not a list')
  proof.forEach((p, i) => checkHash(p, `proof[${i}]`))
  const want = inclusionProofLength(fnStart, sizeBig)
  if (proof.length !== want) throw new VerifyError('proof_length', `proof has ${proof.length} hashes, want ${want}`)
  let fn = fnStart
  let sn = sizeBig - 1n
  let r = leaf
  for (const p of proof) {
    if (sn === 0n) throw new VerifyError('proof_length', 'the proof is too long')
    if ((fn & 1n) === 1n || fn === sn) {
      r = await nodeHash(p, r)
      while (fn !== 0n && (fn & 1n) === 0n) { fn >>= 1n; sn >>= 1n }
    } else {
      r = await nodeHash(r, p)
    }
    fn >>= 1n
    sn >>= 1n
  }
  if (sn !== 0n) throw new VerifyError('proof_length', 'the proof is too short')
  if (!equal(r, root)) throw new VerifyError('root_mismatch', 'the proof does not lead to the checkpoint root')
}

function consistencyProofLength (oldSize, newSize) {
  const inner = bitLength((oldSize - 1n) ^ (newSize - 1n))
  const border = popCount((oldSize - 1n) >> BigInt(inner))
  const shift = bitLength(oldSize & -oldSize) - 1
  const start = oldSize === 1n << BigInt(shift) ? 0 : 1
  return start + inner - shift + border
}

/**
 * Throw VerifyError unless `proof` shows that the tree of `oldSize` leaves with `oldRoot`
 * is a prefix of the tree of `newSize` with `newRoot` (RFC 9162 section 2.1.4.2). Reasons:
 * `malformed` (sizes out of order, the empty tree), `proof_length`, `root_mismatch`.
 */
export async function verifyConsistency (oldSize, newSize, oldRoot, newRoot, proof) {
  const m = asBig(oldSize, 'old size')
  const n = asBig(newSize, 'new size')
  checkHash(oldRoot, 'old root')
  checkHash(newRoot, 'new root')
  if (!Array.isArray(proof)) throw new VerifyError('malformed', 'the proof is not a list')
  proof.forEach((p, i) => checkHash(p, `proof[${i}]`))
  if (m < 1n || m > n) throw new VerifyError('malformed', `no consistency proof from ${m} to ${n}`)
  if (m === n) {
    if (proof.length) throw new VerifyError('proof_length', 'equal sizes need an empty proof')
    if (!equal(oldRoot, newRoot)) throw new VerifyError('root_mismatch', 'equal sizes but the roots differ')
    return
  }
  const want = consistencyProofLength(m, n)
  if (proof.length !== want) throw new VerifyError('proof_length', `proof has ${proof.length} hashes, want ${want}`)
  const path = (m & (m - 1n)) === 0n ? [oldRoot, ...proof] : [...proof]
  let fn = m - 1n
  let sn = n - 1n
  while ((fn & 1n) === 1n) { fn >>= 1n; sn >>= 1n }
  let fr = path[0]
  let sr = path[0]
  for (const c of path.slice(1)) {
    if (sn === 0n) throw new VerifyError('proof_length', 'the proof is too long')
    if ((fn & 1n) === 1n || fn === sn) {
      fr = await nodeHash(c, fr)
      sr = await nodeHash(c, sr)
      while (fn !== 0n && (fn & 1n) === 0n) { fn >>= 1n; sn >>= 1n }
    } else {
      sr = await nodeHash(sr, c)
    }
    fn >>= 1n
    sn >>= 1n
  }
  if (sn !== 0n) throw new VerifyError('proof_length', 'the proof is too short')
  if (!equal(fr, oldRoot)) throw new VerifyError('root_mismatch', 'the proof does not match the old root')
  if (!equal(sr, newRoot)) throw new VerifyError('root_mismatch', 'the proof does not match the new root')
}
