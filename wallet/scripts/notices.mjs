// The wallet's cost of a notice list: `node scripts/notices.mjs [NOTICES] [TAGS]` makes a
// list of NOTICES notices of TAGS random tags each (as GET /v1/notices answers it), then
// times the strict checks (parseNotices) and the matching with one notify secret
// (matchNotices: one WebCrypto HMAC per notice), against a floor of the same run: the
// JSON.parse of that list. Prints one JSON line.
import { matchNotices, parseNotices, toBase64Url } from '../src/protocol/notice.js'
import { toHex } from '../src/protocol/bytes.js'

const notices = Number(process.argv[2] || 500)
const tagsEach = Number(process.argv[3] || 32)
/** @param {number} n */
const random = (n) => crypto.getRandomValues(new Uint8Array(n))
const list = {
  notices: Array.from({ length: notices }, () => ({
    notice: toHex(random(16)),
    tags: Array.from({ length: tagsEach }, () => toBase64Url(random(16))).sort(),
    from_day: '2026-11-28',
    to_day: '2026-11-30',
    guidance: { ko: '증상을 살펴 주세요.', en: 'Watch for symptoms.' },
    published_ms: 1796223600000
  }))
}
const text = JSON.stringify(list)
let began = performance.now()
const body = JSON.parse(text)
const jsonMs = performance.now() - began
began = performance.now()
const parsed = parseNotices(body)
const checkMs = performance.now() - began
began = performance.now()
const matched = await matchNotices(parsed, [random(32)])
const matchMs = performance.now() - began
console.log(JSON.stringify({
  check_ms: Math.round(checkMs),
  check_vs_json_parse: +(checkMs / jsonMs).toFixed(2),
  json_bytes: text.length,
  json_parse_ms: Math.round(jsonMs),
  match_ms: Math.round(matchMs),
  matched: matched.length,
  notices,
  tags_each: tagsEach
}))
