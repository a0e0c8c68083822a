// Verdicts for a batch of signed notes, for tests/unit/test_explorer_vectors.py's
// differential fuzzing: reads JSON {"vkey": ..., "notes": [...]} on stdin and prints a JSON
// list with, for each note, "ok:<origin>:<size>:<root hex>" or the failure's reason, as the
// check page would judge it (verifyNote, then parseCheckpoint).
import { toHex } from '../src/bytes.js'
import { parseCheckpoint } from '../src/checkpoint.js'
import { parseKey, verifyNote } from '../src/note.js'

let input = ''
for await (const chunk of process.stdin) input += chunk
const { vkey, notes } = JSON.parse(input)
const key = await parseKey(vkey)
const out = []
for (const note of notes) {
  try {
    const cp = parseCheckpoint((await verifyNote(note, key)).text)
    out.push(`ok:${cp.origin}:${cp.size}:${toHex(cp.root)}`)
  } catch (err) {
    if (!err.reason) throw err
    out.push(err.reason)
  }
}
console.log(JSON.stringify(out))
