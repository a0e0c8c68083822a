/** Exposure notices: the tag against protocol/vectors/wallet.json, the list's checks, matching in the wallet. */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { FakeIssuer, memoryStore } from './fakeIssuer.js'
import { vectors } from './helpers.js'
import { fromHex, toHex } from '../src/protocol/bytes.js'
import { checkNotice, matchNotices, noticeTag, parseNotices, toBase64Url, MAX_PADDED_TAGS } from '../src/protocol/notice.js'
import { NOTICES_EVERY_S, NOTIFY_KEEP_S, Wallet } from '../src/app/wallet.js'

const NOON_KST = 1796223600 + 12 * 3600 // 2026-12-03 12:00 in Seoul
const published = vectors.notices.published

test('the tags are the vectors\' tags, byte for byte (WebCrypto HMAC)', async () => {
  assert.equal(vectors.notices.domain, 'safecode/v1/notice\n')
  assert.ok(vectors.notices.tags.length >= 4)
  for (const v of vectors.notices.tags) {
    assert.equal(toHex(await noticeTag(fromHex(v.notify), fromHex(v.notice))), v.tag)
  }
  await assert.rejects(noticeTag(new Uint8Array(31), new Uint8Array(16)), TypeError)
  await assert.rejects(noticeTag(new Uint8Array(32), new Uint8Array(15)), TypeError)
})

test('the published vector notice matches its secret and no other', async () => {
  const [notice] = parseNotices({ notices: [published] })
  assert.ok(notice)
  assert.deepEqual(await matchNotices([notice], [fromHex(vectors.notices.matches_notify)]), [notice])
  assert.deepEqual(await matchNotices([notice], [fromHex(vectors.notices.misses_notify)]), [])
  assert.deepEqual(await matchNotices([notice], [fromHex(vectors.notices.misses_notify), fromHex(vectors.notices.matches_notify)]), [notice])
})

test('base64url of a tag is unpadded and url-safe', () => {
  assert.equal(toBase64Url(new Uint8Array(16).fill(0xff)), '_____________________w')
  assert.equal(toBase64Url(new Uint8Array(16).fill(0xfb)), '-_v7-_v7-_v7-_v7-_v7-w')
})

const bad = [
  ['not an object', 'x'],
  ['an extra key', { ...published, extra: 1 }],
  ['a missing key', (({ to_day, ...rest }) => rest)(published)],
  ['upper-case id', { ...published, notice: published.notice.toUpperCase() }],
  ['short id', { ...published, notice: published.notice.slice(2) }],
  ['no tags', { ...published, tags: [] }],
  ['padded base64', { ...published, tags: [published.tags[0] + '=='] }],
  ['non-canonical tag', { ...published, tags: ['AAAAAAAAAAAAAAAAAAAAAB'] }],
  ['tag of the wrong kind', { ...published, tags: [7] }],
  ['too many tags', { ...published, tags: Array(MAX_PADDED_TAGS + 1).fill(published.tags[0]) }],
  ['no such day', { ...published, from_day: '2026-02-30' }],
  ['days reversed', { ...published, from_day: '2026-12-01' }],
  ['guidance with a bidi override', { ...published, guidance: { ko: 'a\u202eb', en: 'b' } }],
  ['guidance with a newline', { ...published, guidance: { ko: 'a\nb', en: 'b' } }],
  ['guidance with a zero-width space', { ...published, guidance: { ko: 'a\u200bb', en: 'b' } }],
  ['guidance too long', { ...published, guidance: { ko: 'a'.repeat(801), en: 'b' } }],
  ['guidance missing a language', { ...published, guidance: { ko: 'a' } }],
  ['guidance an array', { ...published, guidance: ['a', 'b'] }],
  ['published_ms negative', { ...published, published_ms: -1 }],
  ['published_ms a string', { ...published, published_ms: '1' }]
]
for (const [name, value] of bad) {
  test(`a notice with ${name} is skipped`, () => {
    assert.equal(checkNotice(value), null)
    assert.deepEqual(parseNotices({ notices: [value, published] }).map((n) => n.notice), [published.notice])
  })
}

test('a list that is not a list is no notices', () => {
  for (const body of [null, 3, 'x', [], {}, { notices: {} }, { notices: 'x' }]) assert.deepEqual(parseNotices(body), [])
})

test('markup in guidance is kept as text (the page shows it with textContent)', () => {
  const hostile = { ...published, guidance: { ko: '<img src=x onerror=alert(1)>', en: '</p><script>x</script>' } }
  assert.deepEqual(checkNotice(hostile).guidance, hostile.guidance)
})

/** A wallet whose fetch also serves a notice list (what GET /v1/notices answers). */
async function setup () {
  const clock = { t: NOON_KST }
  const issuer = await new FakeIssuer({ now: () => clock.t, haPublic: vectors.ha_key.public }).init()
  const list = { notices: [] }
  const requests = []
  const fetch = async (url, init = {}) => {
    requests.push({ url: String(url), init })
    if (String(url) === '/v1/notices') {
      if (issuer.offline) throw new TypeError('Failed to fetch')
      if (list.broken) return issuer.refuse(503, 'unavailable')
      return new Response(JSON.stringify(list), { headers: { 'Content-Type': 'application/json' } })
    }
    return issuer.fetch(url, init)
  }
  const store = memoryStore()
  const wallet = await new Wallet({ store, fetch, now: () => clock.t }).load()
  await wallet.enrol({ phone: '+821012345678', lang: 'ko' })
  return { clock, issuer, list, requests, store, wallet }
}

/** A published notice carrying `secrets`' tags among 15 random ones. */
async function noticeFor (secrets, clock, days = ['2026-11-28', '2026-11-30']) {
  const id = crypto.getRandomValues(new Uint8Array(16))
  const tags = [...await Promise.all(secrets.map((s) => noticeTag(s, id)))]
  while (tags.length < 16) tags.push(crypto.getRandomValues(new Uint8Array(16)))
  return {
    notice: toHex(id),
    tags: tags.map(toBase64Url).sort(),
    from_day: days[0],
    to_day: days[1],
    guidance: { ko: '증상을 살펴 주세요.', en: 'Watch for symptoms.' },
    published_ms: clock.t * 1000
  }
}

test('the wallet keeps its notify secret at enrol, matches its notice, and sends nothing back', async () => {
  const { clock, list, requests, store, wallet } = await setup()
  const [kept] = await store.get('notify')
  assert.equal(kept.secret.length, 32)
  assert.equal(kept.until, null)
  const other = crypto.getRandomValues(new Uint8Array(32))
  list.notices = [await noticeFor([other], clock), await noticeFor([kept.secret], clock)]
  assert.equal(wallet.noticesDue(), true)
  const before = requests.length
  const fresh = await wallet.checkNotices()
  assert.deepEqual(fresh.map((n) => n.notice), [list.notices[1].notice])
  assert.equal(fresh[0].tags, undefined) // the list's tags are not kept
  assert.deepEqual(requests.slice(before).map((r) => [r.url, r.init.method, r.init.body]), [['/v1/notices', 'GET', undefined]])
  assert.equal(requests[requests.length - 1].init.credentials, 'omit')
  assert.equal((await store.get('notices')).length, 1)
  assert.equal(wallet.openNotices().length, 1)
  assert.equal(wallet.noticesDue(), false)
  clock.t += NOTICES_EVERY_S
  assert.equal(wallet.noticesDue(), true)
  assert.deepEqual(await wallet.checkNotices(), []) // already known
  await wallet.dismissNotice(fresh[0].notice)
  assert.equal(wallet.openNotices().length, 0)
  assert.equal(wallet.notices.length, 1) // still findable
  const reloaded = await new Wallet({ store, fetch: wallet.fetch, now: () => clock.t }).load()
  assert.equal(reloaded.notices.length, 1)
  assert.equal(reloaded.notices[0].dismissed, true)
})

test('after a change of contact both secrets match for 28 days, then only the new one', async () => {
  const { clock, list, wallet } = await setup()
  const first = wallet.notifySecrets()[0]
  await wallet.changeContact({ phone: '+447911123456', lang: 'en' })
  const secrets = wallet.notifySecrets()
  assert.equal(secrets.length, 2)
  assert.notDeepEqual(secrets[0], first)
  list.notices = [await noticeFor([first], clock)]
  assert.equal((await wallet.checkNotices()).length, 1)
  clock.t += NOTIFY_KEEP_S + 1
  assert.deepEqual(wallet.notifySecrets(), [secrets[0]])
  list.notices = [await noticeFor([first], clock)]
  assert.equal((await wallet.checkNotices()).length, 0)
})

test('matched notices are dropped 28 days after publication; offline checks fail quietly for the caller', async () => {
  const { clock, issuer, list, wallet } = await setup()
  list.notices = [await noticeFor(wallet.notifySecrets(), clock)]
  await wallet.checkNotices()
  clock.t += 28 * 86400 + 1
  list.notices = []
  await wallet.checkNotices()
  assert.equal(wallet.notices.length, 0)
  issuer.offline = true
  const at = wallet.noticesAt
  await assert.rejects(wallet.checkNotices())
  assert.equal(wallet.noticesAt, at) // tried again at the next tick
  issuer.offline = false
  list.broken = true
  await assert.rejects(wallet.checkNotices(), (err) => err.reason === 'unavailable')
  assert.equal(wallet.noticesAt, clock.t) // the server answered: wait the usual hours
  assert.equal(wallet.noticesDue(), false)
})

test('leaving forgets the secrets and the notices', async () => {
  const { clock, list, store, wallet } = await setup()
  list.notices = [await noticeFor(wallet.notifySecrets(), clock)]
  await wallet.checkNotices()
  await wallet.leave()
  assert.equal(wallet.notices.length, 0)
  assert.equal(wallet.noticesDue(true), false)
  assert.equal(await store.get('notify'), undefined)
})
