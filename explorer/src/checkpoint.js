/**
 * C2SP checkpoints (https://c2sp.org/tlog-checkpoint), parsed as strictly as
 * protocol/checkpoint.py: origin, canonical decimal size (uint64), canonical base64 of a
 * 32-byte root, optional extension lines. Throws VerifyError('malformed_checkpoint').
 */
import { fromBase64 } from './bytes.js'
import { VerifyError } from './errors.js'

const SIZE = /^(?:0|[1-9][0-9]{0,19})$/
const MAX_TREE_SIZE = (1n << 64n) - 1n
const CONTROL = /[\x00-\x1f]/ // eslint-disable-line no-control-regex

export function parseCheckpoint (text) {
  const bad = (detail) => new VerifyError('malformed_checkpoint', detail)
  if (typeof text !== 'string' || !text.endsWith('\n')) throw bad('a checkpoint ends with a newline')
  const lines = text.slice(0, -1).split('\n')
  if (lines.length < 3) throw bad('a checkpoint needs origin, size and root lines')
  const [origin, sizeLine, rootLine, ...extensions] = lines
  for (const line of lines) {
    if (line === '' || CONTROL.test(line)) throw bad('an empty line or a control character')
  }
  if (origin !== origin.trim()) throw bad('the origin has leading or trailing spaces')
  if (!SIZE.test(sizeLine) || BigInt(sizeLine) > MAX_TREE_SIZE) throw bad('the size is not a canonical uint64')
  let root
  try {
    root = fromBase64(rootLine, 'root hash')
  } catch (err) {
    throw bad(err.detail)
  }
  if (root.length !== 32) throw bad('the root hash is not 32 bytes')
  return { origin, size: BigInt(sizeLine), root, extensions }
}
